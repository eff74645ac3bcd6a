"""Which database a request's queries read: GET and HEAD requests may read from
the streaming replica (``LEDGER_READ_DATABASE_URL``, ``projections.replica``);
everything else, commands and their answers included, reads from the primary.
Installed only when a replica is configured."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from projections.replica import REPLICA, reading_from

SAFE_METHODS = frozenset({"GET", "HEAD"})


class ReplicaReads:
    """Pure ASGI middleware: a safe request's queries may read from the replica."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in SAFE_METHODS:
            with reading_from(REPLICA):
                await self.app(scope, receive, send)
        else:
            await self.app(scope, receive, send)
