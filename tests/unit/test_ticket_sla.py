"""Unit tests of the ticket SLA's pure parts (``projections.ticket_sla``) and
of the ticket clock's fold (``sla_tickets``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest

from ledger.domain import Ticket
from projections.base import Rows
from projections.sla import SlaProjection
from projections.ticket_sla import (
    DEFAULT_TICKET_SLA,
    DEFAULT_TICKET_TARGETS,
    parse_ticket_sla,
    resolve_by,
    sla_state,
)

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def test_the_default_and_partial_settings() -> None:
    assert parse_ticket_sla(DEFAULT_TICKET_SLA) == DEFAULT_TICKET_TARGETS == {
        "critical": 4 * 3600, "high": 8 * 3600, "medium": 24 * 3600, "low": 72 * 3600}
    assert parse_ticket_sla(" critical = 90m , low=2d,high=30s ") == {
        "critical": 5400, "high": 30, "medium": 24 * 3600, "low": 2 * 86400}
    assert parse_ticket_sla("medium=1.5h")["medium"] == 5400
    assert parse_ticket_sla("") == DEFAULT_TICKET_TARGETS


@pytest.mark.parametrize(("text", "says"), [
    ("urgent=4h", "unknown priority 'urgent'"),
    ("critical=4", "not priority=duration"),
    ("critical=4w", "not priority=duration"),
    ("critical=-1h", "not priority=duration"),
    ("critical=0m", "longer than 0"),
    ("critical=1h,critical=2h", "given twice"),
    ("critical:4h", "not priority=duration"),
])
def test_bad_settings_say_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_ticket_sla(text)


def test_resolve_by_and_state() -> None:
    opened = "2026-12-01T08:00:00.000000Z"
    targets = {"critical": 4 * 3600.0}
    assert resolve_by(due_at=None, opened_at=opened, priority="critical",
                      targets=targets) == "2026-12-01T12:00:00.000000Z"
    due = "2026-12-01T09:30:00.000000Z"
    assert resolve_by(due_at=due, opened_at=opened, priority="critical", targets=targets) == due
    deadline = "2026-12-01T12:00:00.000000Z"
    assert sla_state(deadline, None, T0 + timedelta(hours=4)) == "on_track"  # at, not after
    assert sla_state(deadline, None, T0 + timedelta(hours=4, seconds=1)) == "breached"
    assert sla_state(deadline, deadline, T0 + timedelta(days=9)) == "met"
    assert sla_state(deadline, "2026-12-01T12:00:00.000001Z", T0) == "missed"


def _fold(events: list[Any]) -> dict[str, Any]:
    sla, rows = SlaProjection(), Rows()
    for position, event in enumerate(events, start=1):
        sla.fold(event, position, rows)
    ((_, row),) = [(k, r) for k, r in rows.changed(SlaProjection.tickets)]
    assert row is not None
    return row


def test_the_ticket_clock_fold() -> None:
    ticket = Ticket.open(ticket_id=uuid4(), actor="desk", title="x", priority="high",
                         timestamp=T0)
    ticket.update(changes={"priority": "critical",
                           "due_at": T0 + timedelta(hours=2)}, actor="desk",
                  timestamp=T0 + timedelta(minutes=1))
    ticket.close(actor="desk", reason=None, timestamp=T0 + timedelta(hours=3))
    ticket.reopen(actor="desk", reason="back", timestamp=T0 + timedelta(hours=5))
    ticket.close(actor="desk", reason=None, timestamp=T0 + timedelta(hours=6))
    events = ticket.collect_events()
    assert _fold(events[:2]) == {
        "ticket_id": str(ticket.id), "priority": "critical",
        "opened_at": "2026-12-01T08:00:00.000000Z", "due_at": "2026-12-01T10:00:00.000000Z",
        "finished_at": None, "finished_as": None, "finished_seconds": None}
    closed = _fold(events[:3])
    assert (closed["finished_at"], closed["finished_as"], closed["finished_seconds"]) == (
        "2026-12-01T11:00:00.000000Z", "closed", 3 * 3600)
    reopened = _fold(events[:4])
    assert (reopened["finished_at"], reopened["finished_seconds"]) == (None, None)
    assert _fold(events)["finished_seconds"] == 6 * 3600
