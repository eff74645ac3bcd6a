"""Who held what, when: ``GET /assignments/at?time=T`` over ``assignment_intervals``."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query
from pydantic import AwareDatetime, BaseModel

from api.auth import READ, allow
from api.deps import Cursor, Limit, MinPositionDep, ServicesDep
from api.schemas import Page
from projections.tables import ts

router = APIRouter(prefix="/assignments", tags=["assignments"])


class AssignmentInterval(BaseModel):
    """A row of ``assignment_intervals``: one assignment's engineer and tier, and
    the interval ``[valid_from, valid_to)`` during which it was active."""

    assignment_id: str
    ticket_id: str
    engineer_id: str
    tier: int
    tier_name: str | None
    valid_from: str
    valid_to: str | None
    ended_by: str | None
    from_position: int
    to_position: int | None


@router.get("/at", response_model=Page[AssignmentInterval],
            dependencies=[allow(READ), MinPositionDep])
def held_at(
    services: ServicesDep,
    time: Annotated[AwareDatetime, Query(
        description="The instant (RFC 3339 with a zone, e.g. 2026-11-22T13:00:00Z).")],
    engineer_id: Annotated[str | None, Query(max_length=64)] = None,
    ticket_id: UUID | None = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Page[AssignmentInterval]:
    """The assignments active at ``time`` (``valid_from <= time < valid_to``, or
    still held), by when they began; optionally one engineer's or one ticket's.
    Times are the events' own timestamps."""
    page = services.queries.intervals_at(
        ts(time) or "", limit=limit, cursor=cursor, engineer_id=engineer_id, ticket_id=ticket_id
    )
    return Page[AssignmentInterval](
        items=[AssignmentInterval(**r) for r in page.items], next_cursor=page.next_cursor
    )
