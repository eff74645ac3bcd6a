"""Dependencies: the services of one app, the actor, versions and positions."""

from __future__ import annotations

import asyncio
import functools
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, ParamSpec, TypeVar
from uuid import UUID

from fastapi import Depends, Header, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from api.auth import DISPATCH, READ, WORK, Authenticator, Principal, PrincipalDep, RoleAccess
from api.idempotency import IdempotencyStore
from api.problems import BadRequestError
from api.settings import Settings
from ledger.application import CommandResult, Ledger
from ledger.errors import AssignmentNotFoundError
from projections.audit import Audit
from projections.coverage import CoverageQueries
from projections.event_queries import EventQueries
from projections.lookup import BatchedLookup
from projections.queries import ASSIGNMENTS, ReadQueries
from projections.repeat_policy_runner import RepeatFaultRunner
from projections.replica import REPLICA, ReadReplica, read_from, read_from_primary
from projections.runner import ReadSide
from projections.store import ReadStore
from projections.webhook_delivery import WebhookDelivery

P = ParamSpec("P")
R = TypeVar("R")


@dataclass
class Services:
    """Everything one running app holds; built in the lifespan, never at import."""

    settings: Settings
    ledger: Ledger
    store: ReadStore
    read_side: ReadSide
    queries: ReadQueries
    events: EventQueries
    auth: Authenticator
    idempotency: IdempotencyStore
    audit: Audit
    #: Assignment rows by id, looked up in batches (``find_assignment``).
    assignments: BatchedLookup
    #: Webhook delivery (a background job) and its tables (secrets, state, log).
    webhooks: WebhookDelivery
    #: The coverage queries (one per process: it keeps the gaps it has judged).
    coverage: CoverageQueries
    #: The streaming replica queries read from (``LEDGER_READ_DATABASE_URL``).
    replica: ReadReplica | None = None
    #: The repeat-fault policy's job (None when ``LEDGER_RUN_REPEAT_FAULTS`` is off).
    repeat_faults: RepeatFaultRunner | None = None

    def close(self) -> None:
        if self.replica is not None:
            self.replica.close()
        self.assignments.close()
        self.webhooks.stop()
        self.audit.close()
        self.read_side.stop()
        self.store.close()
        self.ledger.close()


async def get_services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_actor(principal: PrincipalDep) -> str:
    """The principal recorded on events: always the authenticated caller, never a
    field of the request."""
    return principal.name


ActorDep = Annotated[str, Depends(get_actor)]

_ETAG = re.compile(r'^\s*(?:W/)?"?(\d{1,18})"?\s*$')

IfMatchHeader = Annotated[
    str | None, Header(description='Only act if the ticket is at this version, e.g. "3".')
]


def expected_version(if_match: str | None) -> int | None:
    """The version an ``If-Match`` header asks for (None: no condition)."""
    if if_match is None or if_match.strip() == "*":
        return None
    match = _ETAG.match(if_match)
    if not match:
        raise BadRequestError(f"If-Match must be a version like \"3\", not {if_match!r}.")
    return int(match.group(1))


@dataclass(frozen=True, slots=True)
class RequestContext:
    """What a ticket command's route takes from its request: the app's services,
    the caller (recorded as the events' actor) and the ``If-Match`` version."""

    services: Services
    principal: Principal
    expected_version: int | None

    @property
    def actor(self) -> str:
        return self.principal.name


class CommandAccess(RoleAccess):
    """A ticket command route's one dependency: its permission (authentication
    and role, as ``allow``), the services and ``If-Match``, solved at once
    (FastAPI solves each dependency of a route on every request)."""

    async def __call__(  # type: ignore[override]
        self, request: Request, if_match: IfMatchHeader = None
    ) -> RequestContext:
        principal = await super().__call__(request)
        return RequestContext(request.app.state.services, principal, expected_version(if_match))


_COMMAND_ACCESS = {name: CommandAccess(name) for name in (DISPATCH, WORK)}


def command_context(permission: str) -> Any:
    """``ctx: Annotated[RequestContext, command_context(DISPATCH)]``: the route's permission,
    declared in place of ``dependencies=[allow(DISPATCH)]``."""
    return Depends(_COMMAND_ACCESS[permission])


#: A command route's request context, for dispatchers (and admins).
DispatchContext = Annotated[RequestContext, command_context(DISPATCH)]
#: A command route's request context, for engineers working their assignments.
WorkContext = Annotated[RequestContext, command_context(WORK)]


MinPosition = Annotated[
    int | None,
    Query(ge=0, le=2**62, description="Wait (bounded) until the read tables reach this position."),
]


async def wait_min_position(
    services: ServicesDep, response: Response, min_position: MinPosition = None
) -> None:
    if min_position is None:
        return
    replica = services.replica
    if replica is not None and read_from() == REPLICA:
        entries = [slot.entry for slot in services.read_side.live_slots()]
        if await run_in_threadpool(replica.reached, entries, min_position,
                                   services.settings.read_replica_wait):
            return
        read_from_primary()  # the replica lags (or is down): this request reads the primary
    ok = await run_in_threadpool(
        services.read_side.wait_for, min_position, services.settings.min_position_timeout
    )
    if not ok:
        response.headers["X-Ledger-Consistency"] = "stale"


MinPositionDep = Depends(wait_min_position)


class ReadAccess(RoleAccess):
    """A read route's one dependency: its permission (authentication and role, as
    ``allow(READ)``), ``min_position`` (as ``MinPositionDep``) and the services,
    solved at once (FastAPI solves each dependency of a route on every request,
    at a cost that shows in a read's CPU)."""

    async def __call__(  # type: ignore[override]
        self,
        request: Request,
        response: Response,
        min_position: MinPosition = None,
    ) -> Services:
        await super().__call__(request)
        services: Services = request.app.state.services
        await wait_min_position(services, response, min_position)
        return services


#: A read route's services, its ``READ`` permission checked and ``min_position``
#: waited for: declared in place of ``dependencies=[allow(READ), MinPositionDep]``.
ReadServices = Annotated[Services, Depends(ReadAccess(READ))]


class ServicesAccess(RoleAccess):
    """A route's one dependency: its permission (as ``allow``) and the services,
    solved at once; for reads without ``min_position`` (the feed)."""

    async def __call__(self, request: Request) -> Services:  # type: ignore[override]
        await super().__call__(request)
        return request.app.state.services


#: A read route's services, its ``READ`` permission checked: declared in place of
#: ``dependencies=[allow(READ)]`` and ``ServicesDep``.
FeedServices = Annotated[Services, Depends(ServicesAccess(READ))]

Limit = Annotated[int, Query(ge=1, le=1000, description="Page size.")]
Cursor = Annotated[str | None, Query(max_length=512, description="Opaque cursor from a previous page.")]


def in_threadpool(route: Callable[P, R]) -> Callable[P, Awaitable[R]]:
    """Makes a blocking route async, its body run in the threadpool: FastAPI then
    solves the (async) dependencies and validates the response on the event
    loop, where a sync route costs a thread hop for each of them. Put it under
    the ``@router`` decorator."""

    @functools.wraps(route)
    async def run(*args: P.args, **kwargs: P.kwargs) -> R:
        return await run_in_threadpool(route, *args, **kwargs)

    return run


async def read_your_writes(services: Services, result: CommandResult, response: Response) -> bool:
    """Read-your-writes: returns once the read tables include the command's
    events, True; or False when the wait timed out (the response is then marked
    stale). Sets the response's ETag and position headers either way."""
    response.headers["ETag"] = f'"{result.version}"'
    response.headers["X-Ledger-Position"] = str(result.position)
    # The positions this process knows (no wait, no query): at or below the
    # stored ones, so "not known" just means waiting in the threadpool.
    if services.read_side.includes(result.position):
        return True
    ok = await run_in_threadpool(
        services.read_side.wait_for, result.position, services.settings.read_your_writes_timeout
    )
    if not ok:
        response.headers["X-Ledger-Consistency"] = "stale"
    return ok


async def find_assignment(services: Services, assignment_id: UUID) -> dict[str, Any]:
    """The assignment's row (to find its ticket): the row this process
    committed if at hand (an assignment's ticket and engineer never change),
    else the stored one (looked up with the other requests' on the lookup
    thread); only when there is none yet, in the threadpool, the stored one
    once a lagging read side has caught up (else 404), without reading again
    what was just read."""
    key = str(assignment_id)
    row = services.read_side.committed_row(ASSIGNMENTS, (key,))
    if row is not None:
        return row
    row = await asyncio.wrap_future(services.assignments.submit(key))
    if row is not None:
        return row
    return await run_in_threadpool(_assignment_after_catching_up, services, assignment_id)


def _assignment_after_catching_up(services: Services, assignment_id: UUID) -> dict[str, Any]:
    """The stored row once the read side has reached the current head (or the
    wait timed out), for an assignment not found at first; else 404."""
    services.read_side.wait_for(services.ledger.head(), services.settings.min_position_timeout)
    row = services.queries.assignment(assignment_id)
    if row is None:
        raise AssignmentNotFoundError(f"Assignment {assignment_id} does not exist.")
    return row
