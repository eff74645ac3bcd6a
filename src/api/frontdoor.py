"""The front door: what a request meets before any byte of its body is read.

FastAPI reads a route's body before it solves the route's dependencies, so a
request without a valid token could make the server read (and hold) a body of
any size before its 401, and a body sent chunked (without ``Content-Length``)
was not limited at all. ``FrontDoor``, a pure ASGI middleware, comes first:

1. It finds the route that will serve the request (``route.matches(scope)``, in
   the router's order) and keeps it on ``request.state.route`` for the access log
   and the metrics (``api.observe``).
2. A declared ``Content-Length`` over the limit is answered 413 at once.
3. A route that needs a token gets its permission checked here, with the route's
   own ``RoleAccess`` (401, 403); the principal it leaves on ``request.state``
   is the one the route's dependency then finds.
4. The body's bytes are counted as the app reads them: past the limit, reading
   raises ``BodyTooLarge`` (an ``HTTPException``, so FastAPI's handler passes it
   on) and the answer is 413. The server has then held at most the limit plus one
   chunk of it.

What a refused request still sends of its body, uvicorn reads and drops (it keeps
no body of a request already answered). Closing the connection instead would make
the kernel reset it while the client is still sending, and the client could lose
the answer. Unknown paths (404) and methods (405) pass on untouched: nothing reads
their body.
"""

from __future__ import annotations

from collections.abc import Sequence

from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import problems
from api.auth import AuthenticationError, ForbiddenError, RoleAccess, allow, route_permissions


class BodyTooLarge(HTTPException):
    """Raised while reading a body that has passed the limit (413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"Bodies are limited to {limit} bytes.")


def route_of(routes: Sequence[BaseRoute], scope: Scope) -> BaseRoute | None:
    """The route that serves the request, or that answers 405 for its method;
    None when no route's path matches (404)."""
    partial = None
    for route in routes:
        match, _child = route.matches(scope)
        if match is Match.FULL:
            return route
        if match is Match.PARTIAL and partial is None:
            partial = route
    return partial


def role_access(route: APIRoute) -> RoleAccess | None:
    """The route's permission check if it needs a token; None if it is public."""
    (permission,) = route_permissions(route)  # check_policy made sure of one
    access = allow(permission).dependency
    return access if isinstance(access, RoleAccess) else None


def announced_length(scope: Scope) -> tuple[bool, int | None]:
    """Whether the request announces a body, and its ``Content-Length`` if given."""
    chunked = False
    for name, value in scope["headers"]:
        if name == b"content-length":
            length = int(value) if value.isdigit() else None
            return length != 0, length
        if name == b"transfer-encoding":
            chunked = True
    return chunked, None


class FrontDoor:
    """The middleware (see the module)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        # Each route's check, found once (routes are fixed once the app is built).
        self._access: dict[int, RoleAccess | None] = {}

    def access(self, route: BaseRoute | None, scope: Scope) -> RoleAccess | None:
        """The check the request must pass before its body is read; None for
        public routes, pages outside the API, 404s and 405s."""
        if not isinstance(route, APIRoute) or scope["method"] not in route.methods:
            return None
        key = id(route)
        if key not in self._access:
            self._access[key] = role_access(route)
        return self._access[key]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        route = route_of(request.app.router.routes, scope)
        request.state.route = route
        has_body, length = announced_length(scope)
        refusal: Response | None = None
        if length is not None and length > self.max_bytes:
            refusal = problems.http_problem(BodyTooLarge(self.max_bytes))
        elif (access := self.access(route, scope)) is not None:
            try:
                await RoleAccess.__call__(access, request)
            except AuthenticationError as e:
                refusal = problems.unauthenticated(e)
            except ForbiddenError as e:
                refusal = problems.forbidden(e)
        if refusal is not None:
            await refusal(scope, receive, send)
        elif has_body:
            await self.counting(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def counting(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Passes the request on, its body counted (see the module)."""
        limit = self.max_bytes
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, sending)
        except BodyTooLarge as e:  # read by a middleware, outside FastAPI's handlers
            if started:
                raise
            await problems.http_problem(e)(scope, receive, send)
