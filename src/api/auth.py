"""Authentication (bearer API keys) and authorisation (the role policy table).

Every endpoint declares exactly one permission from ``POLICY`` as a dependency
(``dependencies=[allow(DISPATCH)]``); ``check_policy(app)`` refuses to build an
app with a route that declares none, so a new endpoint cannot be forgotten.

A presented token is hashed (SHA-256) and looked up in the ``api_keys`` read
table; ``LEDGER_ADMIN_TOKEN`` is compared with ``hmac.compare_digest``.
Successful lookups are cached for ``auth_cache_seconds`` (default 5 s): a
revoked key stops working within that bound once the read side has folded the
``ApiKey.Revoked`` event (normally milliseconds later).
"""

from __future__ import annotations

import hmac
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, FastAPI, Request
from starlette.concurrency import run_in_threadpool
from starlette.routing import Mount, Route
from fastapi.routing import APIRoute
from fastapi.security import HTTPBearer

from ledger.keys import ADMIN, AUDITOR, DISPATCHER, ENGINEER, ROLES, hash_token
from projections.api_keys import ApiKeysProjection

if TYPE_CHECKING:
    from projections.runner import ReadSide
    from projections.store import ReadStore

API_KEYS = ApiKeysProjection.table

#: Tokens longer than this are refused without a lookup.
MAX_TOKEN_LENGTH = 512
#: How long a lookup that misses waits for a lagging read side (a key just created).
MISS_WAIT_SECONDS = 1.0
#: At most this many cached principals (the cache is cleared when it is full).
CACHE_SIZE = 10_000


# ---------------------------------------------------------------- the policy table

PUBLIC = "public"  # no token needed: /healthz, /readyz
READ = "read"  # every authenticated principal: GET of tickets, assignments, events, ...
DISPATCH = "dispatch"  # tickets, engineers, assign, escalate, reassign, remove, close, reopen
WORK = "work"  # accept, reject, start, complete -- an engineer only on their own assignments
AUDIT = "audit"  # verify, export
NOTE = "note"  # notes on tickets -- an engineer only on tickets they hold or held
MANAGE = "manage"  # API keys, projection rebuilds

#: Permission -> the roles that hold it. ``None``: no authentication at all.
POLICY: dict[str, frozenset[str] | None] = {
    PUBLIC: None,
    READ: frozenset(ROLES),
    DISPATCH: frozenset({ADMIN, DISPATCHER}),
    WORK: frozenset({ADMIN, ENGINEER}),
    AUDIT: frozenset({ADMIN, AUDITOR}),
    NOTE: frozenset({ADMIN, DISPATCHER, ENGINEER}),
    MANAGE: frozenset({ADMIN}),
}


@dataclass(frozen=True)
class Principal:
    """Who is calling: the name recorded as ``actor`` on events, and a role."""

    name: str
    role: str
    key_id: str | None = None  # None for LEDGER_ADMIN_TOKEN


class AuthenticationError(Exception):
    """Raised for a missing, unknown or revoked token (401)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class ForbiddenError(Exception):
    """Raised when the principal's role does not allow the request (403)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def allowed(permission: str, role: str | None) -> bool:
    """Whether ``role`` (None: no valid token) may use an endpoint of ``permission``."""
    roles = POLICY[permission]
    if roles is None:
        return True
    return role is not None and role in roles


# ---------------------------------------------------------------- authentication


class Authenticator:
    """Turns a presented bearer token into a ``Principal``."""

    def __init__(
        self,
        store: ReadStore,
        read_side: ReadSide | None,
        *,
        admin_token: str | None,
        admin_name: str = "admin",
        cache_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.read_side = read_side
        self._admin = admin_token.encode("utf-8") if admin_token else None
        self.admin_name = admin_name
        self.cache_seconds = cache_seconds
        self.clock = clock
        self._cache: dict[str, tuple[Principal, float]] = {}
        self._lock = threading.Lock()

    def lookup(self, digest: str) -> dict[str, Any] | None:
        """The ``api_keys`` row of a token hash (placeholders only)."""
        rows = self.store.rows(
            API_KEYS,
            "SELECT id, name, role, revoked FROM api_keys WHERE token_sha256 = %s",
            (digest,),
        )
        return rows[0] if rows else None

    def known(self, token: str) -> Principal | None:
        """The principal, when that needs no database (the admin token, or a key
        seen within ``cache_seconds``); else None (``authenticate`` decides)."""
        if not token or len(token) > MAX_TOKEN_LENGTH:
            raise AuthenticationError("The bearer token is not valid.")
        raw = token.encode("utf-8")
        # Always compare (even against a dummy) so timing says nothing about the
        # admin token, and never compare raw tokens any other way.
        is_admin = hmac.compare_digest(raw, self._admin or b"\0" * 32) and self._admin is not None
        if is_admin:
            return Principal(self.admin_name, ADMIN)
        with self._lock:
            cached = self._cache.get(hash_token(token))
        if cached is not None and cached[1] > self.clock():
            return cached[0]
        return None

    def authenticate(self, token: str) -> Principal:
        principal = self.known(token)
        if principal is not None:
            return principal
        digest = hash_token(token)
        now = self.clock()
        row = self.lookup(digest)
        if row is None and self.read_side is not None:
            # A key created a moment ago may not be folded yet: wait briefly.
            head = self.read_side.app.head()
            if self.read_side.live_position() < head:
                self.read_side.wait_for(head, MISS_WAIT_SECONDS)
            # Look again either way: the key's page may have committed between
            # the first lookup and reading the position.
            row = self.lookup(digest)
        if row is None:
            raise AuthenticationError("The bearer token is not valid.")
        if row["revoked"]:
            with self._lock:
                self._cache.pop(digest, None)
            raise AuthenticationError("The bearer token has been revoked.")
        principal = Principal(row["name"], row["role"], str(row["id"]))
        with self._lock:
            if len(self._cache) >= CACHE_SIZE:
                self._cache.clear()
            self._cache[digest] = (principal, now + self.cache_seconds)
        return principal


#: The OpenAPI security scheme of every authenticated route.
SCHEME_NAME = "ApiKey"
SCHEME_DESCRIPTION = (
    "An API key: `Authorization: Bearer <token>`. Create one with "
    "`ledger keys create --name NAME --role ROLE`, or use LEDGER_ADMIN_TOKEN."
)


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` value, else None."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


async def principal_of(auth: Authenticator, token: str) -> Principal:
    """``auth.authenticate(token)`` from the event loop: a known token costs no
    thread hop; a lookup runs in the threadpool."""
    return auth.known(token) or await run_in_threadpool(auth.authenticate, token)


async def get_principal(request: Request) -> Principal:
    """The authenticated caller (401 problem+json when there is none), kept on
    ``request.state``: the route's permission authenticates it first."""
    cached = getattr(request.state, "principal", None)
    if isinstance(cached, Principal):
        return cached
    token = bearer_token(request.headers.get("authorization"))
    if token is None:
        raise AuthenticationError("This endpoint needs `Authorization: Bearer <token>`.")
    principal = await principal_of(request.app.state.services.auth, token)
    request.state.principal = principal
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


# ---------------------------------------------------------------- authorisation


class Permission:
    """A route's permission: the roles ``POLICY[name]`` holds may use it."""

    name: str

    def __repr__(self) -> str:
        return f"Permission({self.name!r})"


class RoleAccess(Permission, HTTPBearer):
    """The dependency of an authenticated route: authenticates the bearer token
    (401) and allows the roles ``POLICY[name]`` holds (else 403); resolves to the
    principal. Being an ``HTTPBearer``, it is also the route's security
    requirement in the OpenAPI document. One dependency rather than a chain
    (token, then principal, then permission): FastAPI solves every level of a
    route's dependencies on every request."""

    def __init__(self, name: str) -> None:
        super().__init__(auto_error=False, scheme_name=SCHEME_NAME, description=SCHEME_DESCRIPTION)
        self.name = name

    async def __call__(self, request: Request) -> Principal:  # type: ignore[override]
        principal = await get_principal(request)
        if not allowed(self.name, principal.role):
            raise ForbiddenError(
                f"Role {principal.role!r} may not do this (needs {self.name!r}: "
                f"{', '.join(sorted(POLICY[self.name] or ()))})."
            )
        return principal


class PublicAccess(Permission):
    """No authentication at all (health and readiness probes)."""

    def __init__(self, name: str) -> None:
        self.name = name

    async def __call__(self) -> None:
        return None


def _permission(name: str) -> Permission:
    if name not in POLICY:
        raise ValueError(f"unknown permission {name!r}")
    return PublicAccess(name) if POLICY[name] is None else RoleAccess(name)


_PERMISSIONS: dict[str, Permission] = {name: _permission(name) for name in POLICY}


def allow(permission: str) -> Any:
    """``dependencies=[allow(DISPATCH)]`` on a route."""
    return Depends(_PERMISSIONS[permission])


def route_permissions(route: APIRoute) -> list[str]:
    """The permissions a route declares (exactly one for a well-formed route)."""
    return [
        dep.call.name for dep in route.dependant.dependencies if isinstance(dep.call, Permission)
    ]


def api_routes(app: FastAPI) -> list[APIRoute]:
    """Every API route of ``app``. Routes are added to the app's own router
    (``api.app.add_routes``); a router included whole would hide its routes from
    this check (newer FastAPI versions keep it as one opaque entry), so anything
    that is neither an API route nor a plain Starlette route is refused."""
    routes = []
    for route in app.routes:
        if isinstance(route, APIRoute):
            routes.append(route)
        elif type(route) not in (Route, Mount):
            msg = (f"{route!r} is not an API route: add a router's routes with "
                   "api.app.add_routes, not include_router, so their permissions are checked")
            raise RuntimeError(msg)
    return routes


def check_policy(app: FastAPI) -> None:
    """Refuses an app with an API route that declares no permission, or several."""
    routes = api_routes(app)
    if not routes:
        raise RuntimeError("no API routes found: cannot check the policy")
    for route in routes:
        found = route_permissions(route)
        if len(found) != 1:
            methods = ",".join(sorted(route.methods or ()))
            msg = f"{methods} {route.path} must declare exactly one permission, has {found}"
            raise RuntimeError(msg)


def require_own_assignment(principal: Principal, row: dict[str, Any]) -> None:
    """An engineer acts only on assignments that are theirs."""
    if principal.role == ENGINEER and row.get("engineer_id") != principal.name:
        raise ForbiddenError(
            f"Assignment {row.get('id')} belongs to another engineer; "
            f"{principal.name!r} may only act on their own assignments."
        )


__all__ = [
    "ADMIN", "AUDIT", "AUDITOR", "DISPATCH", "DISPATCHER", "ENGINEER", "MANAGE", "NOTE", "POLICY",
    "PUBLIC", "READ", "WORK", "AuthenticationError", "Authenticator", "ForbiddenError",
    "Permission", "Principal", "PrincipalDep", "PublicAccess", "RoleAccess", "allow", "allowed",
    "api_routes", "bearer_token", "check_policy", "get_principal", "principal_of",
    "require_own_assignment", "route_permissions",
]
