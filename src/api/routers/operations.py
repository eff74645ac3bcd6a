"""Operations: projection status and rebuilds, health, readiness, metrics."""

from __future__ import annotations

import threading
from typing import Any

from fastapi import APIRouter, Request, Response, status
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.auth import MANAGE, PUBLIC, READ, allow
from api.deps import ServicesDep
from api.problems import RETRY_AFTER, problem, storage_failed
from api.schemas import ProjectionStatus
from ledger.errors import StorageUnavailableError

router = APIRouter(tags=["operations"])

#: Lag (events) under which the read side still counts as caught up for /readyz.
READY_LAG = 1000


@router.get("/projections", response_model=list[ProjectionStatus], dependencies=[allow(READ)],
            description="Each projection's build: its position against the log's head, its "
                        "lag, and a rebuild's progress.")
def projections(services: ServicesDep) -> list[ProjectionStatus]:
    return [ProjectionStatus(**s) for s in services.read_side.status()]


@router.post("/projections/{name}/rebuild", status_code=status.HTTP_202_ACCEPTED,
             response_model=list[ProjectionStatus], responses={404: {"description": "unknown"}},
             dependencies=[allow(MANAGE)])
def rebuild(name: str, services: ServicesDep) -> Any:
    """Starts a blue/green rebuild in the background; follow it in ``GET /projections``."""
    names = list(services.read_side.projections) if name == "all" else [name]
    if any(n not in services.read_side.projections for n in names):
        return problem(404, "Unknown projection", f"No projection named {name!r}.",
                       "projection-not-found")
    thread = threading.Thread(
        target=services.read_side.rebuild, args=(names,), name=f"rebuild-{name}", daemon=True
    )
    thread.start()
    return [ProjectionStatus(**s) for s in services.read_side.status()]


@router.get("/healthz", dependencies=[allow(PUBLIC)],
            description="200 while the process is up; no token needed.")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", response_model=None, dependencies=[allow(PUBLIC)],
            description="200 with the head and the read tables' position when the store "
                        "answers and the read tables are close behind; else 503 with "
                        "`Retry-After`. No token needed.")
def readyz(
    request: Request, services: ServicesDep, response: Response
) -> dict[str, object] | JSONResponse:
    try:
        head = services.ledger.head()
        position = services.read_side.live_position()
    except StorageUnavailableError as e:
        storage_failed(request)
        return problem(503, "Not ready", str(e), "not-ready", {"Retry-After": RETRY_AFTER})
    lag = max(head - position, 0)
    if lag > READY_LAG:
        return problem(503, "Not ready", f"Read tables are {lag} events behind.", "not-ready",
                       {"Retry-After": "2"}, head=head, position=position)
    return {"status": "ready", "head": head, "position": position, "lag": lag}


@router.get("/metrics", response_class=PlainTextResponse, dependencies=[allow(READ)])
def metrics(request: Request) -> Response:
    """Prometheus text format: HTTP requests by route template, and the ledger's
    own gauges and counters (``api.metrics``)."""
    registry = request.app.state.metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
