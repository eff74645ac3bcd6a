"""``ReadRoute``: the route class of the read endpoints, whose hottest routes are
served by a handler of their own shape instead of FastAPI's generic one.

A read route of the shape served here takes path and query parameters, and
dependencies that are each a coroutine taking only query parameters and the
``Request``/``Response`` (``ReadServices``, ``FeedServices``, the feed's filter);
it returns a ``Response`` it has written itself (``api.row_json``). FastAPI's
handler serves any shape: per request it solves the dependency tree generically
and builds telemetry context, which cost a read more interpreter time than its
query (benchmarks/RESULTS.md). The handler here takes FastAPI's steps in
FastAPI's order with public APIs only: the signature through ``inspect`` and
``typing``, each parameter validated by a pydantic ``TypeAdapter`` of its
declared ``Annotated`` type (as FastAPI's own parameter fields do), errors raised
as FastAPI's ``RequestValidationError`` with FastAPI's locations. It is installed
through ``APIRoute.get_route_handler``, the extension point FastAPI documents:
routing, exception handling and the OpenAPI document stay FastAPI's.

One difference, on purpose: headers a dependency sets on its ``Response`` (a
``min_position`` wait that timed out: ``X-Ledger-Consistency: stale``) are added
to the ``Response`` the route returns; FastAPI's handler drops them there.

A route of any other shape is served by FastAPI's handler, and so is every
request while the app has dependency overrides in force.
``tests/e2e/test_read_route.py`` compares the two handlers' answers.
"""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import params
from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from api.json_route import Handler, JsonRoute

#: A parameter's default when it has none (``inspect``'s marker).
REQUIRED = inspect.Parameter.empty


@dataclass(frozen=True)
class Param:
    """A path or query parameter: its validation and its default."""

    name: str
    adapter: TypeAdapter[Any]
    default: Any  # REQUIRED when it must be sent
    many: bool  # a list: every value the query string gives the name


@dataclass(frozen=True)
class Call:
    """A dependency: the parameter it fills, its function, its query parameters
    and the names under which it takes the request and the response."""

    name: str
    call: Callable[..., Any]
    query: tuple[Param, ...]
    request: str | None
    response: str | None


@dataclass(frozen=True)
class Shape:
    """What the read handler needs to know of a route's signature."""

    calls: tuple[Call, ...]
    path: tuple[Param, ...]
    query: tuple[Param, ...]
    is_coroutine: bool


def _split(hint: Any) -> tuple[Any, list[Any]]:
    """A hint's type and its ``Annotated`` markers."""
    if typing.get_origin(hint) is Annotated:
        base, *markers = typing.get_args(hint)
        return base, markers
    return hint, []


def _is_list(base: Any) -> bool:
    members = [a for a in typing.get_args(base) if a is not type(None)] or [base]
    return len(members) == 1 and typing.get_origin(members[0]) is list


def _query(name: str, hint: Any, default: Any) -> Param | None:
    """The query parameter a hint declares (``Annotated[T, Query(...)]`` or a
    plain type), else None."""
    base, markers = _split(hint)
    if any(not isinstance(m, params.Query) or m.alias is not None for m in markers):
        return None
    if isinstance(default, params.Param) or base in (Request, Response):
        return None
    return Param(name, TypeAdapter(hint), default, _is_list(base))


def _signature(function: Callable[..., Any]) -> list[tuple[str, Any, Any]]:
    """Each parameter's name, resolved hint and default."""
    target = function if inspect.isroutine(function) else function.__call__  # type: ignore[operator]
    hints = typing.get_type_hints(target, include_extras=True)
    return [(name, hints.get(name, Any), p.default)
            for name, p in inspect.signature(function).parameters.items()]


def _call(name: str, dependency: Callable[..., Any]) -> Call | None:
    """A dependency of the shape served here (a coroutine taking only query
    parameters, the request and the response), else None."""
    function = dependency if inspect.isroutine(dependency) else getattr(
        dependency, "__call__", None)
    if not inspect.iscoroutinefunction(function):
        return None
    query: list[Param] = []
    request = response = None
    for arg, hint, default in _signature(dependency):
        if hint is Request and request is None:
            request = arg
        elif hint is Response and response is None:
            response = arg
        elif (found := _query(arg, hint, default)) is not None:
            query.append(found)
        else:
            return None
    return Call(name, dependency, tuple(query), request, response)


def _dependency(hint: Any) -> Callable[..., Any] | None:
    """The function an ``Annotated[..., Depends(f)]`` hint names."""
    _base, markers = _split(hint)
    found = [m for m in markers if isinstance(m, params.Depends)]
    if len(found) == 1 and found[0].dependency is not None and not isinstance(
            found[0], params.Security):
        return found[0].dependency
    return None


def read_shape(route: JsonRoute) -> Shape | None:
    """The route's ``Shape`` if it is a read of the shape served here, else None."""
    endpoint = route.endpoint
    if route.dependencies or route.methods != {"GET"}:
        return None
    if typing.get_type_hints(endpoint).get("return") is not Response:
        return None
    path_names = set(re.findall(r"{(\w+)(?::\w+)?}", route.path))
    calls: list[Call] = []
    path: list[Param] = []
    query: list[Param] = []
    for name, hint, default in _signature(endpoint):
        dependency = _dependency(hint)
        if dependency is not None:
            call = _call(name, dependency)
            if call is None:
                return None
            calls.append(call)
        elif name in path_names and default is REQUIRED and not _split(hint)[1]:
            path.append(Param(name, TypeAdapter(hint), REQUIRED, many=False))
        elif name not in path_names and (found := _query(name, hint, default)) is not None:
            query.append(found)
        else:
            return None
    if {p.name for p in path} != path_names:
        return None
    return Shape(tuple(calls), tuple(path), tuple(query),
                 inspect.iscoroutinefunction(endpoint))


def located(error: ValidationError, *prefix: str | int) -> list[dict[str, Any]]:
    """A validation error's entries, each ``loc`` under ``prefix`` (as FastAPI's)."""
    return [{**e, "loc": (*prefix, *e["loc"])} for e in error.errors(include_url=False)]


def validate(
    found: tuple[Param, ...], source: Any, where: str, values: dict[str, Any],
    errors: list[dict[str, Any]],
) -> None:
    """Each parameter's value from ``source`` into ``values``, or its errors into
    ``errors`` (as FastAPI's: a value absent or, for a list, empty takes the
    default unvalidated)."""
    for param in found:
        value = source.getlist(param.name) if param.many else source.get(param.name)
        if value is None or (param.many and not value):
            if param.default is REQUIRED:
                errors.append({"type": "missing", "loc": (where, param.name),
                               "msg": "Field required", "input": None})
            else:
                values[param.name] = param.default
            continue
        try:
            values[param.name] = param.adapter.validate_python(value, from_attributes=True)
        except ValidationError as e:
            errors += located(e, where, param.name)


class ReadRoute(JsonRoute):
    """A ``JsonRoute`` whose requests, when it has a read's shape, are served by
    the read handler (see the module)."""

    def get_route_handler(self) -> Handler:
        generic = super().get_route_handler()
        shape = read_shape(self)
        self.reads = shape is not None
        if shape is None:
            return generic
        return read_handler(shape, generic, self.endpoint)


def read_handler(shape: Shape, generic: Handler, endpoint: Any) -> Handler:
    """The handler of one read route: the dependencies first, in order (one whose
    parameters are invalid is not called), then the route's own path and query
    parameters; every invalid parameter in one 422."""

    async def handle(request: Request) -> Response:
        if request.app.dependency_overrides:
            return await generic(request)
        query = request.query_params
        values: dict[str, Any] = {}
        errors: list[dict[str, Any]] = []
        sub = Response()
        for call in shape.calls:
            arguments: dict[str, Any] = {}
            failed = len(errors)
            validate(call.query, query, "query", arguments, errors)
            if len(errors) > failed:
                continue
            if call.request:
                arguments[call.request] = request
            if call.response:
                arguments[call.response] = sub
            values[call.name] = await call.call(**arguments)
        validate(shape.path, request.path_params, "path", values, errors)
        validate(shape.query, query, "query", values, errors)
        if errors:
            raise RequestValidationError(errors)
        if shape.is_coroutine:
            response: Response = await endpoint(**values)
        else:
            response = await run_in_threadpool(endpoint, **values)
        response.headers.raw.extend(
            (k, v) for k, v in sub.headers.raw if k != b"content-length")
        return response

    return handle
