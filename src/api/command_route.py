"""``CommandRoute``: the route class of the ticket commands, served by a handler of
their own shape instead of FastAPI's generic one.

A command route has one shape: path parameters, at most one JSON body (a
pydantic model, optional or not), one dependency (``command(...)``: a
``CommandAccess``, which authenticates, checks the role and reads ``If-Match``)
and the ``Response`` whose headers it sets. FastAPI's handler serves any shape:
for every request it solves the dependency tree generically, parses the content
type with ``email.message`` and builds telemetry context, which cost the event
loop a fair share of a command's time. The handler here takes the same steps in
the same order with public APIs only (the route's signature through ``inspect``
and ``typing``, pydantic's ``TypeAdapter`` for validation and serialization,
FastAPI's ``RequestValidationError`` for the 422s), and it is installed through
the extension point FastAPI documents, ``APIRoute.get_route_handler``: routing,
exception handling and the OpenAPI document stay FastAPI's.

A route of any other shape is served by ``ReadRoute``'s handler (a read's) or
FastAPI's (``JsonRoute``'s), and so is every request while the app has
dependency overrides in force.
``tests/e2e/test_command_route.py`` sends refused and accepted requests through
both handlers and compares the answers.
"""

from __future__ import annotations

import inspect
import json
import re
import typing
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import params
from fastapi.exceptions import RequestValidationError, ResponseValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from api.deps import CommandAccess
from api.json_route import Handler, JsonRoute, check_json_body, parse_json
from api.read_route import ReadRoute, located

#: A parameter's default when it has none (``inspect``'s marker).
REQUIRED = inspect.Parameter.empty
#: Statuses whose responses have no body.
NO_BODY = frozenset({204, 304})


@dataclass(frozen=True)
class Body:
    """The route's JSON body parameter."""

    name: str
    adapter: TypeAdapter[Any]
    default: Any  # REQUIRED when the body must be sent


@dataclass(frozen=True)
class Shape:
    """What the command handler needs to know of a route's signature."""

    access_name: str
    access: CommandAccess
    path: dict[str, TypeAdapter[Any]]
    body: Body | None
    response_name: str | None


def _command_access(hint: Any) -> CommandAccess | None:
    """The ``CommandAccess`` an ``Annotated[..., Depends(access)]`` hint names."""
    if typing.get_origin(hint) is not Annotated:
        return None
    for marker in typing.get_args(hint)[1:]:
        if isinstance(marker, params.Depends) and isinstance(marker.dependency, CommandAccess):
            return marker.dependency
    return None


def _body_model(hint: Any) -> Any:
    """The type of a body parameter's hint (a pydantic model, optional or not,
    maybe in a plain ``Body()``), else None."""
    if typing.get_origin(hint) is Annotated:
        hint, *markers = typing.get_args(hint)
        if not all(isinstance(m, params.Body) and not m.embed and m.alias is None
                   for m in markers):
            return None
    members = [a for a in typing.get_args(hint) if a is not type(None)] or [hint]
    if len(members) == 1 and inspect.isclass(members[0]) and issubclass(members[0], BaseModel):
        return hint
    return None


def command_shape(route: JsonRoute) -> Shape | None:
    """The route's ``Shape`` if it is a command's, else None."""
    endpoint = route.endpoint
    if not inspect.iscoroutinefunction(endpoint) or route.dependencies:
        return None
    path_names = set(re.findall(r"{(\w+)(?::\w+)?}", route.path))
    hints = typing.get_type_hints(endpoint, include_extras=True)
    access: tuple[str, CommandAccess] | None = None
    path: dict[str, TypeAdapter[Any]] = {}
    body: Body | None = None
    response_name = None
    for name, parameter in inspect.signature(endpoint).parameters.items():
        hint = hints.get(name)
        found = _command_access(hint)
        model = _body_model(hint)
        if found is not None and access is None:
            access = (name, found)
        elif hint is Response and response_name is None:
            response_name = name
        elif name in path_names and parameter.default is REQUIRED:
            path[name] = TypeAdapter(hint)
        elif body is None and model is not None:
            body = Body(name, TypeAdapter(model), parameter.default)
        else:
            return None
    if access is None or set(path) != path_names:
        return None
    return Shape(access[0], access[1], path, body, response_name)


def malformed(error: json.JSONDecodeError) -> RequestValidationError:
    """The 400 ``malformed-json`` of a body that does not parse (as FastAPI's)."""
    return RequestValidationError(
        [{"type": "json_invalid", "loc": ("body", error.pos), "msg": "JSON decode error",
          "input": {}, "ctx": {"error": error.msg}}],
        body=error.doc,
    )


class CommandRoute(ReadRoute):
    """A ``ReadRoute`` whose requests, when it has a command's shape, are served
    by the command handler (see the module)."""

    def get_route_handler(self) -> Handler:
        generic = super().get_route_handler()
        shape = command_shape(self)
        response_class = getattr(self.response_class, "value", self.response_class)
        if (
            shape is None
            or self.response_model is None
            or response_class is not JSONResponse
            or self.response_model_include is not None
            or self.response_model_exclude is not None
            or not self.response_model_by_alias
            or self.response_model_exclude_unset
            or self.response_model_exclude_defaults
            or self.response_model_exclude_none
        ):
            self.lean = False
            return generic
        self.lean = True
        return command_handler(shape, generic, TypeAdapter(self.response_model),
                               self.status_code, self.endpoint)


def command_handler(
    shape: Shape, generic: Handler, response_adapter: TypeAdapter[Any],
    status_code: int | None, endpoint: Any,
) -> Handler:
    """The handler of one command route: FastAPI's steps in FastAPI's order (read
    and parse the body, then the dependency, so its 401/403/400 come before any
    422, then validate path and body together)."""
    access, body = shape.access, shape.body

    async def handle(request: Request) -> Response:
        if request.app.dependency_overrides:
            return await generic(request)
        raw = await check_json_body(request) if body is not None else b""
        data: Any = None
        if raw:
            try:
                data = parse_json(raw)
            except json.JSONDecodeError as e:
                raise malformed(e) from None
        values: dict[str, Any] = {
            shape.access_name: await access(request, request.headers.get("if-match"))
        }
        errors: list[dict[str, Any]] = []
        for name, adapter in shape.path.items():
            try:
                values[name] = adapter.validate_python(
                    request.path_params[name], from_attributes=True)
            except ValidationError as e:
                errors += located(e, "path", name)
        if body is not None:
            if raw:
                try:
                    values[body.name] = body.adapter.validate_python(
                        data, from_attributes=True)
                except ValidationError as e:
                    errors += located(e, "body")
            elif body.default is REQUIRED:
                errors.append({"type": "missing", "loc": ("body",), "msg": "Field required",
                               "input": None})
            else:
                values[body.name] = body.default
        if errors:
            raise RequestValidationError(errors)
        sub = Response()
        sub.status_code = None  # type: ignore[assignment] - unset unless the route sets it
        if shape.response_name:
            values[shape.response_name] = sub
        result = await endpoint(**values)
        if isinstance(result, Response):
            return result
        try:
            value = response_adapter.validate_python(result, from_attributes=True)
        except ValidationError as e:
            raise ResponseValidationError(located(e, "response")) from None
        status = sub.status_code or status_code or 200
        content = b"" if status in NO_BODY else response_adapter.dump_json(value, by_alias=True)
        response = Response(content, status_code=status, media_type="application/json")
        response.headers.raw.extend(
            (k, v) for k, v in sub.headers.raw if k != b"content-length"
        )
        return response

    return handle
