"""Operations: projection status and rebuilds, health, readiness, metrics."""

from __future__ import annotations

import threading
from typing import Any

from fastapi import APIRouter, Request, Response, status
from fastapi.responses import JSONResponse, PlainTextResponse

from api.auth import MANAGE, PUBLIC, READ, allow
from api.deps import Services, ServicesDep
from api.problems import RETRY_AFTER, problem, storage_failed
from api.schemas import ProjectionStatus
from ledger.errors import StorageUnavailableError
from projections.inline import InlineProjection

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
def metrics(services: ServicesDep) -> str:
    """Prometheus text format."""
    lines = [
        "# HELP ledger_head_position Position of the last recorded event.",
        "# TYPE ledger_head_position gauge",
        f"ledger_head_position {services.ledger.head()}",
        "# HELP ledger_projection_position Position each live projection has reached.",
        "# TYPE ledger_projection_position gauge",
    ]
    statuses = services.read_side.status()
    for s in statuses:
        labels = f'name="{s["name"]}",version="{s["version"]}",state="{s["state"]}"'
        lines.append(f"ledger_projection_position{{{labels}}} {s['position']}")
    lines += ["# HELP ledger_projection_lag Events a projection is behind the head.",
              "# TYPE ledger_projection_lag gauge"]
    for s in statuses:
        labels = f'name="{s["name"]}",version="{s["version"]}",state="{s["state"]}"'
        lines.append(f"ledger_projection_lag{{{labels}}} {s['lag']}")
    lines += _write_path_metrics(services)
    return "\n".join(lines) + "\n"


#: (metric, ``GroupCommitter.stats`` key, help)
_COMMIT_COUNTERS = (
    ("ledger_commit_transactions_total", "batches", "Transactions the group committer made."),
    ("ledger_commit_aggregates_total", "saved", "Aggregates saved by the group committer."),
    ("ledger_commit_splits_total", "splits", "Batches that conflicted and were saved one by one."),
)


def _counter(name: str, help_text: str, samples: dict[str, int]) -> list[str]:
    """A counter's HELP/TYPE lines and its samples (``labels`` -> value)."""
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} counter"]
    lines += [f"{name}{labels} {value}" for labels, value in samples.items()]
    return lines


def _write_path_metrics(services: Services) -> list[str]:
    """This process's write path, since it started: group commit, the inline
    projection, the assignment lookups."""
    lines: list[str] = []
    stats = services.ledger.commit_stats()
    if stats is not None:
        for name, key, help_text in _COMMIT_COUNTERS:
            lines += _counter(name, help_text, {"": stats[key]})
    inline = services.ledger.inline
    if isinstance(inline, InlineProjection):
        lines += _counter(
            "ledger_inline_saves_total",
            "Saves whose read rows were written in their own transaction (projected), "
            "left to the runner (deferred) or failed inline and were saved again.",
            {f'{{outcome="{o}"}}': getattr(inline, o) for o in ("projected", "deferred", "failed")},
        )
    lookups = services.assignments
    lines += _counter("ledger_assignment_lookups_total",
                      "Assignment rows looked up in the store (not at hand in memory).",
                      {"": lookups.keys})
    lines += _counter("ledger_assignment_lookup_queries_total",
                      "Queries those lookups took (lookups queued together share one).",
                      {"": lookups.queries})
    return lines
