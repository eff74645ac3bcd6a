"""Read routes' rows serialised once, straight to JSON bytes.

A route that returns a pydantic model has it built from the rows, then validated
and serialised again by FastAPI: for a page of rows that is most of the request's
CPU. The read routes instead return a ``Response`` whose body is made here, the
way FastAPI documents returning a response directly, and keep ``response_model``
on the route for the OpenAPI document. The body is the JSON the model gave: each
row's fields in the model's order, the model's defaults for fields the row lacks,
numbers of ``float`` fields as floats, and any other value as pydantic serialises
it (``pydantic_core.to_jsonable_python``).

The rows must already hold what the model would accept (the read tables' rows
do: ids and times as text). A model with a field type this module does not know
how to write is refused when its encoder is made, not answered differently.
"""

from __future__ import annotations

import types
from collections.abc import Iterable
from functools import cache
from typing import Any, Literal, Union, get_args, get_origin

import orjson
import pydantic_core
from pydantic import BaseModel
from starlette.responses import Response

#: Field types written as the row holds them (``float`` is converted; models nest).
_AS_IS = (str, int, bool, type(None))
_CONTAINERS = (list, dict)
_MISSING = object()


class RowEncoder:
    """Rows (dicts) -> dicts that serialise as ``model(**row)`` did."""

    def __init__(self, model: type[BaseModel]) -> None:
        fields = model.model_fields
        self.names = tuple(fields)
        self.defaults = {n: f.default for n, f in fields.items() if not f.is_required()}
        self.floats: tuple[str, ...] = ()
        self.nested: dict[str, RowEncoder] = {}
        for name, field in fields.items():
            for leaf in _leaves(field.annotation, model, name):
                if leaf is float:
                    self.floats += (name,)
                elif isinstance(leaf, type) and issubclass(leaf, BaseModel):
                    self.nested[name] = encoder(leaf)

    def row(self, row: dict[str, Any]) -> dict[str, Any]:
        """The row as the model's fields, in order; the caller's dict is left as it
        was (rows may be shared, e.g. the read side's recent rows)."""
        if tuple(row) != self.names:
            out = {}
            for name in self.names:
                value = row.get(name, _MISSING)
                if value is _MISSING:
                    value = self.defaults.get(name, _MISSING)
                    if value is _MISSING:
                        raise KeyError(f"the row has no {name!r}")
                out[name] = value
            row = out
        for name in self.floats:
            value = row[name]
            if value is not None and type(value) is not float:
                row = {**row, name: float(value)}
        for name, inner in self.nested.items():
            value = row[name]
            if value is not None:
                row = {**row, name: inner.row(value)}
        return row

    def rows(self, rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        return [self.row(r) for r in rows]


@cache
def encoder(model: type[BaseModel]) -> RowEncoder:
    """The model's encoder, made on first use and kept."""
    return RowEncoder(model)


def _leaves(annotation: Any, model: type[BaseModel], name: str) -> list[Any]:
    """The types a field may hold (unions and ``Literal``s of text taken apart);
    TypeError for any this module would not write as pydantic does."""
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        return [leaf for arg in get_args(annotation) for leaf in _leaves(arg, model, name)]
    if origin is Literal and all(isinstance(a, str) for a in get_args(annotation)):
        return [str]
    if origin in _CONTAINERS or annotation in _CONTAINERS:
        return [origin or annotation]  # contents by inference, as pydantic writes them
    if annotation in _AS_IS or annotation is float:
        return [annotation]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    raise TypeError(f"{model.__name__}.{name}: {annotation!r} is not a type rows are written as")


def dumps(content: Any) -> bytes:
    """JSON bytes; values orjson does not write as pydantic would (datetimes,
    anything unknown) go through pydantic's own conversion."""
    try:
        return orjson.dumps(
            content,
            default=pydantic_core.to_jsonable_python,
            option=orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_NON_STR_KEYS,
        )
    except orjson.JSONEncodeError:  # e.g. an integer past 64 bits: pydantic writes it
        return pydantic_core.to_json(content)


def json_response(content: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(dumps(content), media_type="application/json", headers=headers)


def page_response(model: type[BaseModel], items: Iterable[dict[str, Any]],
                  next_cursor: str | None) -> Response:
    """A ``Page[model]``'s body."""
    return json_response({"items": encoder(model).rows(items), "next_cursor": next_cursor})


def list_response(model: type[BaseModel], items: Iterable[dict[str, Any]]) -> Response:
    """A ``list[model]``'s body."""
    return json_response(encoder(model).rows(items))


def one_response(model: type[BaseModel], row: dict[str, Any],
                 headers: dict[str, str] | None = None) -> Response:
    return json_response(encoder(model).row(row), headers)
