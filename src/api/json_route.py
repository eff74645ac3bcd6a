"""``JsonRoute``: the route class of every endpoint that takes a JSON body.

Two things FastAPI's own handling gets wrong for this API, put right through the
extension point FastAPI documents for it (a custom ``Request`` handed on by
``APIRoute.get_route_handler``):

- A body that is not JSON (another ``Content-Type``, or none) is refused with 415
  and a hint. FastAPI passes it on undecoded and answers with a 422 about the
  body's type, which tells a client nothing about the header it got wrong.
- A body nested deeper than the parser's recursion limit, or not UTF-8 at all,
  is malformed JSON like any other (400 ``malformed-json``). The standard
  library's parser raises ``RecursionError`` or ``UnicodeDecodeError`` for them,
  not ``JSONDecodeError``, and FastAPI answers those with a bare 400.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

Handler = Callable[[Request], Coroutine[Any, Any, Response]]

NOT_JSON = (
    "This endpoint takes a JSON body: send it with `Content-Type: application/json` "
    "(or leave the body empty where it is optional)."
)


def is_json(content_type: str | None) -> bool:
    """Whether a ``Content-Type`` value names JSON (``application/json`` or
    ``application/<anything>+json``, any parameters)."""
    if not content_type:
        return False
    media = content_type.partition(";")[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


async def check_json_body(request: Request) -> bytes:
    """The request's body; 415 when it is not empty and not declared JSON."""
    body = await request.body()
    if body and not is_json(request.headers.get("content-type")):
        raise HTTPException(415, NOT_JSON)
    return body


def parse_json(body: bytes) -> Any:
    """``json.loads``; a body too deep to parse or not UTF-8 raises
    ``JSONDecodeError`` too."""
    try:
        return json.loads(body)
    except RecursionError:
        raise json.JSONDecodeError("nested too deeply", "", 0) from None
    except UnicodeDecodeError:
        raise json.JSONDecodeError("not UTF-8", "", 0) from None


class JsonRequest(Request):
    """A request whose ``json()`` is ``parse_json``."""

    async def json(self) -> Any:
        return parse_json(await self.body())


class JsonRoute(APIRoute):
    """An ``APIRoute`` whose JSON body is checked and parsed as the module says."""

    def get_route_handler(self) -> Handler:
        handle = super().get_route_handler()
        if self.body_field is None:
            return handle

        async def json_handler(request: Request) -> Response:
            request = JsonRequest(request.scope, request.receive)
            await check_json_body(request)
            return await handle(request)

        return json_handler
