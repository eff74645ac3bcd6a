"""The global feed: every event in position order, nothing ever skipped."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from api.deps import Cursor, FeedServices, Limit
from api.read_route import ReadRoute
from api.routers.feed import FilterDep
from api.row_json import page_response
from api.schemas import Event, Page
from projections.event_queries import event_type
from projections.queries import decode_position_cursor, encode_cursor

router = APIRouter(prefix="/events", tags=["audit"], route_class=ReadRoute)


@router.get("", response_model=Page[Event])
def feed(
    services: FeedServices,
    filters: FilterDep,
    after: Annotated[int | None, Query(ge=0, le=2**62, description="Start after this position.")] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Response:
    """Events in position order; paging never skips an event.

    ``next_cursor`` continues right after the last position examined. It is
    present whenever the page is full (the feed can grow, so a client that polls
    keeps following it) and null when a page ends short of ``limit`` at the
    head: following a cursor handed out at the head therefore gives one empty
    page with a null cursor. To poll from there, ask again with
    ``after=<the last position seen>``. With ``actor``/``since``/``until`` at
    most 10,000 events are examined per page, so a page may hold fewer than
    ``limit`` items (even none) and still carry a cursor."""
    start = decode_position_cursor(cursor) if cursor else (after or 0)
    items, last, more = services.events.feed(
        after=start, limit=limit, types=[event_type(t) for t in filters.topics],
        ticket_id=filters.originator_id, actor=filters.actor,
        since=filters.since, until=filters.until,
    )
    return page_response(Event, items, encode_cursor([last]) if more else None)
