"""SLA breaches: of each assignment's own clocks (docs/operations.md) and of
each ticket's own deadline (docs/field-service.md)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from api.auth import READ, allow
from api.deps import Cursor, Limit, MinPositionDep, ServicesDep
from api.problems import BadRequestError
from api.schemas import Page
from api.schemas_sla import AssignmentBreach, SlaBreach, TicketBreach
from projections.ops_queries import OpsQueries
from projections.queries import Page as Rows
from projections.queries import encode_cursor
from projections.ticket_sla import breach_key, ticket_breaches

router = APIRouter(prefix="/sla", tags=["operations"])


def aware(value: datetime | None, name: str) -> datetime | None:
    """A query time must carry its time zone (422 otherwise)."""
    if value is not None and value.tzinfo is None:
        raise BadRequestError(f"{name} needs a time zone, e.g. 2026-11-22T13:00:00Z.", 422)
    return value


def _merged(first: Rows, second: Rows, limit: int) -> Rows:
    """Two pages of one order, each the first ``limit`` items after the same
    cursor, as one page of that order."""
    items = sorted([*first.items, *second.items], key=breach_key)
    more = len(items) > limit or first.next_cursor is not None or second.next_cursor is not None
    items = items[:limit]
    return Rows(items, encode_cursor(breach_key(items[-1])) if more and items else None)


def _item(item: dict[str, Any]) -> AssignmentBreach | TicketBreach:
    return TicketBreach(**item) if item["level"] == "ticket" else AssignmentBreach(**item)


@router.get("/breaches", response_model=Page[SlaBreach],
            responses={422: {"description": "bad parameters"}},
            dependencies=[allow(READ), MinPositionDep])
def breaches(
    services: ServicesDep,
    level: Annotated[Literal["ticket", "assignment"] | None, Query(
        description="`ticket`: tickets past their `resolve_by`; `assignment`: accept and "
                    "resolve clocks of assignments past their targets; default both.")] = None,
    since: Annotated[datetime | None, Query(
        description="Only breaches whose deadline is at or after this time (RFC 3339).")] = None,
    tier: Annotated[int | None, Query(
        ge=1, le=10, description="Assignment-level breaches at this tier only.")] = None,
    engineer_id: Annotated[str | None, Query(
        min_length=1, max_length=64,
        description="Assignment-level breaches of this engineer only.")] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Page[SlaBreach]:
    """Breaches judged now, each item saying its `level`. **assignment**: accept
    and resolve clocks over their targets (`LEDGER_SLA_TARGETS`), stopped late or
    still running past their deadline. **ticket**: tickets resolved or closed
    after their `resolve_by` (their `due_at`, else opened + the target of their
    priority, `LEDGER_TICKET_SLA`), or still open past it. Ordered by when the
    clock started (the assignment, or the ticket's opening). `tier` and
    `engineer_id` select assignment-level items (ticket-level ones have neither),
    so with `level=ticket` they are refused (422)."""
    if level == "ticket" and (tier is not None or engineer_id is not None):
        raise BadRequestError("tier and engineer_id select assignment-level breaches; "
                              "leave them out with level=ticket.", 422)
    now, since = datetime.now(UTC), aware(since, "since")
    with_tickets = level == "ticket" or (level is None and tier is None and engineer_id is None)
    pages = []
    if level != "ticket":
        page = OpsQueries(services.store).sla_breaches(
            targets=services.settings.sla_table(), now=now, since=since, tier=tier,
            engineer_id=engineer_id, limit=limit, cursor=cursor,
        )
        pages.append(Rows([{"level": "assignment", **i} for i in page.items], page.next_cursor))
    if with_tickets:
        pages.append(ticket_breaches(services.store, targets=services.settings.ticket_targets,
                                     now=now, since=since, limit=limit, cursor=cursor))
    page = pages[0] if len(pages) == 1 else _merged(pages[0], pages[1], limit)
    return Page[SlaBreach](items=[_item(i) for i in page.items], next_cursor=page.next_cursor)
