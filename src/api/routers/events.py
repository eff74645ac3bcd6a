"""The global feed: every event in position order, nothing ever skipped."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query
from pydantic import StringConstraints

from api.auth import READ, allow
from api.deps import Cursor, Limit, ServicesDep
from api.schemas import Event, Page
from projections.queries import decode_cursor, encode_cursor
from projections.tables import ts

router = APIRouter(prefix="/events", tags=["audit"])


@router.get("", response_model=Page[Event], dependencies=[allow(READ)])
def feed(
    services: ServicesDep,
    after: Annotated[int | None, Query(ge=0, le=2**62, description="Start after this position.")] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
    type: Annotated[list[Annotated[str, StringConstraints(max_length=100)]] | None, Query(max_length=20, description="Event type, e.g. Ticket.Escalated or Escalated.")] = None,  # noqa: A002
    ticket_id: UUID | None = None,
    actor: Annotated[str | None, Query(max_length=200)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Page[Event]:
    """Events in position order. ``next_cursor`` continues right after the last
    position examined, so paging never skips an event; it is null at the head."""
    start = int(decode_cursor(cursor, 1)[0]) if cursor else (after or 0)
    items, last, more = services.events.feed(
        after=start, limit=limit, types=type or (), ticket_id=ticket_id, actor=actor,
        since=ts(since) if since else None, until=ts(until) if until else None,
    )
    return Page[Event](
        items=[Event(**e) for e in items],
        next_cursor=encode_cursor([last]) if more else None,
    )
