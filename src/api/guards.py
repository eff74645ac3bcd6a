"""Input PostgreSQL cannot store: NUL characters.

A NUL (U+0000) in a text value makes PostgreSQL refuse the statement ("text
fields cannot contain NUL bytes"). In a query parameter that was a 500; in a
command body it was worse: the event (stored as bytes) was recorded, and then
its projection could never be written, which stopped the read side for good.
So NUL is refused at the edge, on both backends alike: in bodies by the
request schemas (``api.schemas.Request``), in URLs by ``RejectNulInUrl``.
"""

from __future__ import annotations

from typing import Any

from api import problems

NUL = "\x00"


def contains_nul(value: Any) -> bool:
    """Whether a str, or any str inside lists/dicts, contains NUL."""
    if isinstance(value, str):
        return NUL in value
    if isinstance(value, (list, tuple, set)):
        return any(contains_nul(v) for v in value)
    if isinstance(value, dict):
        return any(contains_nul(k) or contains_nul(v) for k, v in value.items())
    return False


class RejectNulInUrl:
    """400 problem+json for a path or query string with a NUL (``%00``) in it."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and (
            NUL in scope.get("path", "") or b"%00" in scope.get("query_string", b"")
        ):
            response = problems.problem(
                400, "Bad request", "The URL contains a NUL character (%00).", "bad-request"
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
