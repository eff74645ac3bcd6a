"""Queries of the ``handovers`` table, and the snapshot a new handover freezes."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from projections.event_queries import EventQueries
from projections.handovers import HandoversProjection
from projections.store import ReadStore

HANDOVERS = HandoversProjection.table


def _select(where: str) -> str:
    return f"SELECT {', '.join(HANDOVERS.column_names)} FROM {HANDOVERS.name} WHERE {where}"


def handover(store: ReadStore, handover_id: UUID | str) -> dict[str, Any] | None:
    rows = store.rows(HANDOVERS, _select("id = %s"), [str(handover_id)])
    return rows[0] if rows else None


def handovers_of_ticket(store: ReadStore, ticket_id: UUID | str) -> list[dict[str, Any]]:
    """The ticket's handovers, oldest first."""
    return store.rows(
        HANDOVERS, _select("ticket_id = %s ORDER BY ticket_version"), [str(ticket_id)]
    )


def ticket_snapshot(events: EventQueries, ticket_id: UUID) -> tuple[int, dict[str, Any]] | None:
    """The ticket and its assignments as they stand, folded from the ticket's
    own events (not the read tables, which may lag), with the version they
    stand at; None for an unknown ticket. The rows are those of ``tickets`` and
    ``engineer_assignments`` (``GET /tickets/{id}``, ``/tickets/{id}/assignments``),
    in their canonical JSON-ready form: UUIDs as lowercase text, times as RFC 3339
    UTC with microseconds and ``Z``."""
    folded = events.ticket_as_of(ticket_id)
    if folded is None:
        return None
    ticket, assignments = folded
    return ticket["version"], {"ticket": ticket, "assignments": assignments}
