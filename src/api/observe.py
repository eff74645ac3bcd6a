"""``Observe``: every request, answered or refused, in the access log and the
metrics.

The outermost of the app's middlewares, so that it also sees the requests the
storage gate and the front door turn away. One line per request on the logger
``ledger.access`` (INFO): method, path, status, duration and principal (``-``
when there is none), e.g. ``POST /assignments 201 12.4ms dispatcher-1``. Whether
it is written is the logger's level: ``ledger serve`` sets it up (INFO, or
WARNING with ``--no-access-log``); elsewhere it follows the logging
configuration, and a disabled logger costs a request one level check.

The route template comes from the front door (``request.state.route``); a
request refused before it gets there is matched here.
"""

from __future__ import annotations

import logging
import time

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.frontdoor import route_of
from api.metrics import UNMATCHED, Metrics

access_log = logging.getLogger("ledger.access")


class Observe:
    """The middleware (see the module)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # unless a response starts: the error middleware answers 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            seconds = time.perf_counter() - started
            state = Request(scope).state
            route = getattr(state, "route", None)
            if route is None and not hasattr(state, "route"):
                route = route_of(Request(scope).app.router.routes, scope)
            template = getattr(route, "path", None) or UNMATCHED
            self.metrics.observe(scope["method"], template, status, seconds)
            if access_log.isEnabledFor(logging.INFO):
                principal = getattr(state, "principal", None)
                access_log.info("%s %s %d %.1fms %s", scope["method"], scope["path"], status,
                                seconds * 1000, getattr(principal, "name", "-"))
