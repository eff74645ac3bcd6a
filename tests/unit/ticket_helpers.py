"""Helpers for the unit tests of the ``Ticket`` aggregate: tickets in a given state,
and the check that a refused command records nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from copy import deepcopy
from datetime import datetime, timezone
from typing import Any
from uuid import uuid4

import pytest

from ledger.domain import (
    ACCEPTED,
    ASSIGNED,
    ASSIGNMENT_STATUSES,
    COMPLETED,
    ESCALATED,
    FAILED,
    IN_PROGRESS,
    REASSIGNED,
    REJECTED,
    REMOVED,
    Assignment,
    Ticket,
)
from ledger.errors import LedgerError


ACTOR = "dispatcher@example.com"
T0 = datetime(2024, 3, 1, 9, 0, tzinfo=timezone.utc)


# --------------------------------------------------------------------- helpers


def open_ticket(**overrides: Any) -> Ticket:
    kwargs: dict[str, Any] = {"ticket_id": uuid4(), "title": "Printer jams", "actor": ACTOR}
    kwargs.update(overrides)
    return Ticket.open(**kwargs)


def assign(ticket: Ticket, engineer_id: str = "eng-1", tier: int = 1, **kw: Any) -> Assignment:
    return ticket.assign(
        assignment_id=uuid4(), engineer_id=engineer_id, tier=tier, actor=kw.pop("actor", ACTOR), **kw
    )


def accepted(ticket: Ticket, engineer_id: str = "eng-1", tier: int = 1) -> Assignment:
    a = assign(ticket, engineer_id, tier)
    ticket.accept(a.id, actor=engineer_id)
    return a


def in_progress(ticket: Ticket, engineer_id: str = "eng-1", tier: int = 1) -> Assignment:
    a = accepted(ticket, engineer_id, tier)
    ticket.start(a.id, actor=engineer_id)
    return a


def complete(ticket: Ticket, a: Assignment, status: str = "success") -> Assignment:
    return ticket.complete(a.id, completion_status=status, time_spent_hours=1.5, actor=a.engineer_id)


def resolved_ticket() -> Ticket:
    ticket = open_ticket()
    complete(ticket, in_progress(ticket))
    assert ticket.status == "resolved"
    return ticket


def closed_ticket() -> Ticket:
    ticket = open_ticket()
    ticket.close(reason="duplicate", actor=ACTOR)
    assert ticket.status == "closed"
    return ticket


def state(ticket: Ticket) -> dict[str, Any]:
    """Everything but the pending events, deep-copied for later comparison."""
    return deepcopy({k: v for k, v in vars(ticket).items() if k != "_pending_events"})


def assert_refused(
    ticket: Ticket, error: type[LedgerError], command: Callable[[], object]
) -> LedgerError:
    """Then the command raises ``error`` and records nothing."""
    pending = list(ticket.pending_events)
    version = ticket.version
    before = state(ticket)
    with pytest.raises(error) as info:
        command()
    assert list(ticket.pending_events) == pending, "a refused command recorded an event"
    assert ticket.version == version
    assert state(ticket) == before, "a refused command changed the state"
    assert info.value.detail, "errors carry a human-readable detail"
    return info.value


def last_event(ticket: Ticket) -> Any:
    return ticket.pending_events[-1]


def replay(events: list[Any]) -> Any:
    aggregate = None
    for event in events:
        aggregate = event.mutate(aggregate)
    return aggregate


def sequences(ticket: Ticket) -> list[int]:
    return sorted(a.sequence for a in ticket.assignments.values())


def active_count(ticket: Ticket) -> int:
    return sum(1 for a in ticket.assignments.values() if a.is_active)


# ------------------------------------------------- ticket in a given state


def ticket_with_assignment_in(status: str) -> tuple[Ticket, Assignment]:
    """A ticket whose (only or first) assignment is in ``status``; the ticket is not closed."""
    assert status in ASSIGNMENT_STATUSES
    ticket = open_ticket()
    a = assign(ticket, "eng-1")
    if status == ASSIGNED:
        pass
    elif status == ACCEPTED:
        ticket.accept(a.id, actor="x")
    elif status == IN_PROGRESS:
        ticket.accept(a.id, actor="x")
        ticket.start(a.id, actor="x")
    elif status == COMPLETED:
        ticket.accept(a.id, actor="x")
        complete(ticket, a, "parts_required")
    elif status == FAILED:
        ticket.accept(a.id, actor="x")
        complete(ticket, a, "failed")
    elif status == REJECTED:
        ticket.reject(a.id, reason=None, actor="x")
    elif status == REMOVED:
        ticket.remove(a.id, reason=None, actor="x")
    elif status == ESCALATED:
        ticket.escalate(new_assignment_id=uuid4(), next_engineer_id="eng-2", reason="r", actor="x")
    elif status == REASSIGNED:
        ticket.reassign(a.id, new_assignment_id=uuid4(), new_engineer_id="eng-2", reason=None, actor="x")
    assert a.status == status
    return ticket, a

