"""``create_app(settings)``: the REST face of the ledger."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, Protocol

from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi_offline import FastAPIOffline
from starlette.routing import Match

from api import problems
from api.auth import PUBLIC, Authenticator, allow, check_policy
from api.console import install as install_console
from api.deps import Services
from api.frontdoor import FrontDoor
from api.guards import RejectNulInUrl
from api.idempotency import IdempotencyMiddleware, IdempotencyStore
from api.metrics import Metrics
from api.observe import Observe
from api.outage import StorageGate, StorageGateMiddleware
from api.replica_reads import ReplicaReads
from api.routers import (
    assignments,
    audit,
    autoassign,
    certifications,
    coverage,
    engineers,
    events,
    feed,
    handovers,
    imports,
    intervals,
    notes,
    operations,
    proposals,
    repeat_faults,
    reports,
    sla,
    tickets,
    webhooks,
)
from api.runtime import limit_malloc_arenas, serving_gc
from api.settings import Settings
from api.tags import TAGS
from api.webhook_service import build_webhooks
from ledger.application import Ledger
from ledger.signing import load_or_create
from ledger.store import parse_database_url
from projections.audit import Audit
from projections.coverage import CoverageQueries
from projections.event_queries import EventQueries
from projections.locks import ProcessLock
from projections.lookup import BatchedLookup
from projections.queries import ASSIGNMENTS, ReadQueries
from projections.repeat_policy_runner import repeat_fault_job
from projections.registry import with_plugins
from projections.replica import ReadReplica
from projections.runner import ReadSide
from projections.backend import build_store

log = logging.getLogger("ledger.api")

DESCRIPTION = """
An event-sourced ledger of service-ticket assignments. Every command is recorded
as an append-only event on its ticket; the read tables (`tickets`,
`engineer_assignments`, `current_ticket_assignments`, `assignment_history`) are
projections of those events.

Conventions: errors are `application/problem+json`; command responses carry
`ETag` (the ticket version) and `X-Ledger-Position` and are sent once the read
tables include that position; `If-Match` makes a command conditional; list
endpoints page with `limit` and an opaque `cursor`; commands accept
`Idempotency-Key`.

Authentication: every endpoint but `/healthz` and `/readyz` needs
`Authorization: Bearer <token>` (an API key from `ledger keys create`, or
`LEDGER_ADMIN_TOKEN`). Roles: `dispatcher` (tickets, engineers, assign,
escalate, reassign, remove, close, reopen), `engineer` (accept, reject, start,
complete -- own assignments only), `auditor` (read, verify, export), `admin`
(everything, plus projection rebuilds). Everyone authenticated may read.
"""


def build_services(settings: Settings) -> Services:
    """The ledger, its read side and what serves them, on ``settings``' store.

    Processes started together on a new PostgreSQL database (API processes and
    workers of one deployment) would race to create the same tables, and
    PostgreSQL refuses the loser's ``CREATE TABLE IF NOT EXISTS`` (a duplicate
    row in its catalog): one process at a time creates or checks the schema."""
    with ProcessLock(parse_database_url(settings.database_url), "schema-setup"):
        return _build_services(settings)


def _build_services(settings: Settings) -> Services:
    ledger = Ledger(settings.database_url, pool_size=settings.pool_size)
    ledger.qualification_policy = settings.qualification_policy
    store = build_store(ledger.store, pool_size=settings.pool_size)
    read_side = ReadSide(
        ledger, store, with_plugins(settings.projection_plugins),
        page_size=settings.page_size, passive=not settings.run_projections,
        answered=(ASSIGNMENTS,), inline=settings.inline_projections,
    )
    read_side.setup()
    idempotency = IdempotencyStore(store)
    idempotency.setup()
    audit = Audit.build(
        store, ledger.recorder.events_table_name, load_or_create(settings.signing_key_path()),
        config=ledger.store, every=settings.checkpoint_every,
        interval=settings.checkpoint_interval,
        seal=settings.run_projections and settings.run_sealer and not settings.api_only,
        previous_keys=tuple(k.strip() for k in settings.previous_public_keys.split(",")
                            if k.strip()),
    )
    replica = None
    if settings.read_database_url:
        replica = ReadReplica(parse_database_url(settings.read_database_url), store,
                              pool_size=settings.pool_size)
    # With a replica, queries read their rows through it (it picks the database).
    queries = ReadQueries(replica or store)  # type: ignore[arg-type]
    events = EventQueries(ledger, store)
    return Services(
        settings=settings,
        ledger=ledger,
        store=store,
        read_side=read_side,
        queries=queries,
        events=events,
        auth=Authenticator(
            store, read_side, admin_token=settings.admin_token or None,
            admin_name=settings.actor, cache_seconds=settings.auth_cache_seconds,
        ),
        idempotency=idempotency,
        audit=audit,
        assignments=BatchedLookup(queries.assignments_by_id, name="ledger-lookups"),
        webhooks=build_webhooks(settings, ledger, store, events),
        coverage=CoverageQueries(store),
        replica=replica,
        repeat_faults=repeat_fault_job(settings, ledger, store),
    )


class BackgroundJob(Protocol):
    """Work a process does besides serving HTTP. ``start()`` returns at once
    (the job runs in its own thread); ``stop()`` ends it. A job that must run in
    one process at a time leads by its own lock
    (``projections.locks.Leadership``, or a ``ProcessLock``), so any number of
    processes may start it: one leads, the others stand by and take over."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


def background_jobs(services: Services) -> list[BackgroundJob]:
    """The background jobs ``ledger serve`` and ``ledger worker`` start and
    ``ledger serve --api-only`` does not, in the order they start (they stop in
    reverse). The projection runner is not listed: every process's read side
    follows the log, and ``start_background`` lets it lead or not. Add a job
    here with one line."""
    jobs: list[BackgroundJob] = []
    if services.audit.sealer is not None:
        jobs.append(services.audit.sealer)
    if services.settings.run_projections and services.settings.run_webhooks:
        jobs.append(services.webhooks)
    if services.repeat_faults is not None:
        jobs.append(services.repeat_faults)
    return jobs


def start_background(services: Services) -> list[BackgroundJob]:
    """This process's share of the background work, by ``settings.api_only``:
    the read side follows the log and, unless API-only, may lead the projection
    runner (a leader catches up before this returns); then the background jobs
    (none when API-only). Returns the jobs started, for ``stop_background``."""
    settings = services.settings
    api_only = settings.api_only
    if settings.run_projections:
        services.read_side.start(rebuild_pending=not api_only, lead=not api_only)
        if not api_only:
            # One process of all serving this store runs the projections (it
            # catches up before serving); the others follow and can take over.
            services.read_side.wait_until_led(timeout=0.5)
    jobs = [] if api_only else background_jobs(services)
    for job in jobs:
        job.start()
    return jobs


def stop_background(jobs: Sequence[BackgroundJob]) -> None:
    for job in reversed(jobs):
        job.stop()


def first_start(services: Services, announce_admin_token: Callable[[str], None]) -> None:
    """What a start does once its services are up: the demo on an empty ledger
    (``demo_on_empty``) and, with ``bootstrap_admin_key``, the first admin key,
    whose token goes to ``announce_admin_token``."""
    settings = services.settings
    if settings.demo_on_empty and services.ledger.head() == 0:
        from api.demo import seed_demo

        seed_demo(services.ledger, tickets=settings.demo_tickets)
    if settings.bootstrap_admin_key:
        token = bootstrap_admin_key(services)
        if token is not None:
            announce_admin_token(token)


def _log_admin_token(token: str) -> None:
    log.warning("created the first admin API key; its token (shown once): %s", token)


def bootstrap_admin_key(services: Services) -> str | None:
    """The token of a new admin key, when no key was ever created and there is no
    admin token (first start); else None."""
    if services.settings.admin_token or services.ledger.has_api_keys():
        return None
    created = services.ledger.create_api_key(name="admin", role="admin", actor="bootstrap")
    result, token = created.result()
    services.read_side.wait_for(result.position, services.settings.read_your_writes_timeout)
    return token


def add_routes(app: FastAPI, *modules: Any) -> None:
    """Adds the routes of each module's ``router`` to the app's own router, in
    order. Their paths, tags and dependencies are complete already (each router
    has its prefix and no settings of its own). Not ``include_router``: newer
    FastAPI versions keep an included router whole and, per request, match the
    path against every route of every router before it and the chosen router's
    twice over (with context bookkeeping per route), a cost paid by every
    command on the event loop (benchmarks/RESULTS.md)."""
    for module in modules:
        app.router.routes.extend(module.router.routes)


#: What dispatchers and apps send most, matched first (see ``match_first``).
FIRST = (
    ("POST", "/assignments"),
    ("POST", "/assignments/{assignment_id}/accept"),
    ("POST", "/assignments/{assignment_id}/start"),
    ("POST", "/assignments/{assignment_id}/complete"),
    ("POST", "/assignments/escalate"),
    ("GET", "/tickets/{ticket_id}"),
    ("POST", "/tickets"),
    ("POST", "/assignments/{assignment_id}/reject"),
    ("PUT", "/assignments/{assignment_id}/reassign"),
    ("POST", "/tickets/{ticket_id}/close"),
    ("POST", "/tickets/{ticket_id}/reopen"),
    ("GET", "/tickets/{ticket_id}/current-assignment"),
    ("GET", "/tickets/{ticket_id}/assignments"),
    ("GET", "/assignments"),
    ("GET", "/events"),
)


def match_first(app: FastAPI, first: Sequence[tuple[str, str]] = FIRST) -> None:
    """Moves the routes ``first`` names to the front of the app's router. A
    request is matched against the routes one by one, in order, each at a cost,
    and the ticket commands came after some 20 others (benchmarks/RESULTS.md).

    Only the order of trying changes: a route is moved ahead of others only if
    none of them matches its path (whatever the method), so every request is
    answered by the same route as before, 405s included; otherwise this raises.
    The OpenAPI document keeps the declared order (``documented_in``)."""
    routes = app.router.routes
    declared = list(routes)
    by_key = {
        (method, route.path): route
        for route in routes
        if isinstance(route, APIRoute)
        for method in route.methods
    }
    moved: list[APIRoute] = []
    for key in first:
        route = by_key.get(key)
        if route is None:
            msg = f"match_first: no route {key[0]} {key[1]}"
            raise ValueError(msg)
        if all(route is not m for m in moved):
            moved.append(route)
    # (Routes compare by value and do not hash: by identity here.)
    position = {id(r): i for i, r in enumerate(declared)}
    for i, route in enumerate(moved):
        ahead = {id(m) for m in moved[:i]}
        for other in declared[: position[id(route)]]:
            if id(other) not in ahead and _overlap(route, other):
                msg = f"match_first: {other} could take requests for {route.path}"
                raise ValueError(msg)
    first_ids = {id(m) for m in moved}
    routes[:] = [*moved, *(r for r in declared if id(r) not in first_ids)]
    documented_in(app, declared)


def _overlap(route: Any, other: Any) -> bool:
    """Whether some path is matched by both routes (whatever the method): each
    tried on a path the other matches, its parameters filled in."""
    for a, b in ((route, other), (other, route)):
        path = getattr(b, "path", None)
        if path is None:
            return True  # not a plain route (a mount...): assume the worst
        scope = {"type": "http", "path": _sample_path(path), "root_path": "", "method": "GET"}
        if a.matches(scope)[0] != Match.NONE:
            return True
    return False


def _sample_path(template: str) -> str:
    """A path that ``template`` matches: each parameter filled in."""
    return re.sub(r"{[^}]+}", "00000000-0000-4000-8000-000000000000", template)


def documented_in(app: FastAPI, declared: Sequence[Any]) -> None:
    """The OpenAPI document lists paths in ``declared`` order, whatever order
    the router tries them in."""
    order = {path: i for i, path in enumerate(dict.fromkeys(
        r.path for r in declared if isinstance(r, APIRoute)))}
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            schema["paths"] = dict(
                sorted(schema["paths"].items(), key=lambda kv: order.get(kv[0], len(order)))
            )
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(
    settings: Settings | None = None,
    announce_admin_token: Callable[[str], None] | None = None,
) -> FastAPI:
    """The app. With ``settings.bootstrap_admin_key``, the first start of a ledger
    without keys creates an admin key and hands its token to
    ``announce_admin_token`` (by default: logged at WARNING)."""
    settings = settings or Settings()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        limit_malloc_arenas()
        services = build_services(settings)
        app.state.services = services
        metrics.follow(services)
        jobs = start_background(services)
        first_start(services, announce_admin_token or _log_admin_token)
        try:
            with serving_gc():
                yield
        finally:
            feed.stop_streams(app)
            stop_background(jobs)
            metrics.forget()
            services.close()

    # /docs and /redoc with their scripts and styles served from here, not a CDN.
    # Their routes are the only ones made through the app, so they alone get the
    # app's dependencies: the pages are public, and check_policy sees that.
    app = FastAPIOffline(
        title="Assignment ledger",
        version="0.1.0",
        description=DESCRIPTION,
        openapi_tags=TAGS,
        lifespan=lifespan,
        dependencies=[allow(PUBLIC)],
    )
    app.state.metrics = metrics
    problems.install(app)
    # intervals before assignments: /assignments/at is not /assignments/{id}.
    add_routes(app, engineers, tickets, intervals, assignments, events, feed, audit, operations,
               sla, reports, autoassign, imports, webhooks, proposals, handovers,
               coverage, certifications, notes, repeat_faults)
    install_console(app)
    match_first(app)
    check_policy(app)
    # The first added is the innermost: a request meets Observe, the storage gate,
    # the NUL guard, the front door (route, size, token) and then Idempotency-Key,
    # which reads the body.
    app.add_middleware(IdempotencyMiddleware, wait_seconds=settings.idempotency_wait_seconds)
    if settings.read_database_url:
        app.add_middleware(ReplicaReads)
    app.add_middleware(FrontDoor, max_bytes=settings.max_body_bytes)
    app.add_middleware(RejectNulInUrl)
    app.state.storage_gate = StorageGate()
    app.add_middleware(StorageGateMiddleware, gate=app.state.storage_gate)
    app.add_middleware(Observe, metrics=metrics)
    return app
