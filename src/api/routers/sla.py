"""SLA per tier: breaches of each assignment's own clocks (docs/operations.md)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel

from api.auth import READ, allow
from api.deps import Cursor, Limit, MinPositionDep, ServicesDep
from api.problems import BadRequestError
from api.schemas import Page
from projections.ops_queries import OpsQueries

router = APIRouter(prefix="/sla", tags=["operations"])


class SlaBreach(BaseModel):
    """One clock of one assignment that ran past its target. ``engineer_id`` held
    the ticket (the assignment) while that clock ran."""

    clock: Literal["accept", "resolve"]
    ticket_id: str
    assignment_id: str
    assignment_sequence: int
    engineer_id: str
    tier: int
    priority: str
    started_at: str
    deadline: str
    stopped_at: str | None
    running: bool
    target_seconds: float
    elapsed_seconds: float
    overdue_seconds: float
    end_reason: str | None


def aware(value: datetime | None, name: str) -> datetime | None:
    """A query time must carry its time zone (422 otherwise)."""
    if value is not None and value.tzinfo is None:
        raise BadRequestError(f"{name} needs a time zone, e.g. 2026-11-22T13:00:00Z.", 422)
    return value


@router.get("/breaches", response_model=Page[SlaBreach],
            responses={422: {"description": "bad parameters"}},
            dependencies=[allow(READ), MinPositionDep])
def breaches(
    services: ServicesDep,
    since: Annotated[datetime | None, Query(
        description="Only breaches whose deadline is at or after this time (RFC 3339).")] = None,
    tier: Annotated[int | None, Query(ge=1, le=10)] = None,
    engineer_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Page[SlaBreach]:
    """Accept and resolve clocks over their targets (``LEDGER_SLA_TARGETS``), judged
    now: clocks that stopped late, and clocks still running past their deadline.
    Ordered by the assignment's start."""
    page = OpsQueries(services.store).sla_breaches(
        targets=services.settings.sla_table(), now=datetime.now(UTC),
        since=aware(since, "since"), tier=tier, engineer_id=engineer_id,
        limit=limit, cursor=cursor,
    )
    return Page[SlaBreach](items=[SlaBreach(**i) for i in page.items],
                           next_cursor=page.next_cursor)
