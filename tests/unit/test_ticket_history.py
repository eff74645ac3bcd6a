"""Unit tests of the ``Ticket`` aggregate, pure, no database: its recorded history
(sequences, actors, replay), its errors, every command from every assignment state,
and a property test of its invariants over any command sequence.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.domain import (
    ACCEPTED,
    ACTIVE_STATUSES,
    ASSIGNMENT_STATUSES,
    COMPLETED,
    ESCALATED,
    FAILED,
    REASSIGNED,
    REJECTED,
    REMOVED,
    TICKET_STATUSES,
    Ticket,
)
from ledger.errors import (
    LedgerError,
)

from ticket_helpers import (
    T0,
    assign,
    closed_ticket,
    complete,
    in_progress,
    open_ticket,
    replay,
    sequences,
    state,
)

# ------------------------------------------------- sequences, actors, replay


def full_history() -> Ticket:
    """A ticket through every kind of event, each by a distinct actor."""

    def stamp(i: int) -> datetime:
        return T0 + timedelta(minutes=i)

    ticket = Ticket.open(ticket_id=uuid4(), title="t", actor="a-open", equipment_id="EQ", timestamp=stamp(0))
    a1 = ticket.assign(assignment_id=uuid4(), engineer_id="e1", tier=1, actor="a-assign1", timestamp=stamp(1))
    ticket.reject(a1.id, reason="busy", actor="a-reject", timestamp=stamp(2))
    a2 = ticket.assign(assignment_id=uuid4(), engineer_id="e2", tier=1, actor="a-assign2", timestamp=stamp(3))
    ticket.remove(a2.id, reason="wrong", actor="a-remove", timestamp=stamp(4))
    a3 = ticket.assign(assignment_id=uuid4(), engineer_id="e3", tier=1, actor="a-assign3", timestamp=stamp(5))
    ticket.accept(a3.id, actor="a-accept", timestamp=stamp(6))
    a4 = ticket.escalate(new_assignment_id=uuid4(), next_engineer_id="e4", reason="hard", actor="a-escalate", timestamp=stamp(7))
    a5 = ticket.reassign(a4.id, new_assignment_id=uuid4(), new_engineer_id="e5", reason="swap", actor="a-reassign", timestamp=stamp(8))
    ticket.accept(a5.id, actor="a-accept2", timestamp=stamp(9))
    ticket.start(a5.id, actor="a-start", timestamp=stamp(10))
    ticket.complete(a5.id, completion_status="success", time_spent_hours=3, actor="a-complete", timestamp=stamp(11))
    ticket.close(reason="done", actor="a-close", timestamp=stamp(12))
    ticket.reopen(reason="again", actor="a-reopen", timestamp=stamp(13))
    a6 = ticket.assign(assignment_id=uuid4(), engineer_id="e1", tier=1, actor="a-assign6", timestamp=stamp(14))
    ticket.accept(a6.id, actor="a-accept3", timestamp=stamp(15))
    ticket.complete(a6.id, completion_status="failed", time_spent_hours=0.5, actor="a-complete2", timestamp=stamp(16))
    return ticket


class TestHistory:
    def test_sequences_are_never_reused(self) -> None:
        ticket = full_history()
        by_sequence = sorted(ticket.assignments.values(), key=lambda a: a.sequence)
        assert [a.sequence for a in by_sequence] == [1, 2, 3, 4, 5, 6]
        assert [a.status for a in by_sequence] == [
            REJECTED,
            REMOVED,
            ESCALATED,
            REASSIGNED,
            COMPLETED,
            FAILED,
        ]
        assert [a.engineer_id for a in by_sequence] == ["e1", "e2", "e3", "e4", "e5", "e1"]
        assert [a.tier for a in by_sequence] == [1, 1, 1, 2, 2, 1]
        assert ticket.next_sequence == 7
        assert ticket.status == "open"

    def test_every_event_carries_its_actor(self) -> None:
        ticket = full_history()
        events = ticket.pending_events
        assert all(isinstance(e.actor, str) and e.actor for e in events)
        assert [e.actor for e in events] == [
            "a-open", "a-assign1", "a-reject", "a-assign2", "a-remove", "a-assign3",
            "a-accept", "a-escalate", "a-reassign", "a-accept2", "a-start", "a-complete",
            "a-close", "a-reopen", "a-assign6", "a-accept3", "a-complete2",
        ]  # fmt: skip

    def test_every_event_class_declares_actor(self) -> None:
        event_classes = [
            Ticket.Opened, Ticket.Assigned, Ticket.Accepted, Ticket.Rejected, Ticket.Started,
            Ticket.Escalated, Ticket.Reassigned, Ticket.Removed, Ticket.Completed,
            Ticket.Closed, Ticket.Reopened,
        ]  # fmt: skip
        for cls in event_classes:
            assert "actor" in {f.name for f in dataclasses.fields(cls)}, cls

    def test_explicit_timestamps_are_honoured(self) -> None:
        ticket = full_history()
        events = ticket.pending_events
        assert [e.timestamp for e in events] == [T0 + timedelta(minutes=i) for i in range(len(events))]
        assert ticket.created_on == T0
        assert ticket.modified_on == T0 + timedelta(minutes=len(events) - 1)

    def test_versions_count_events(self) -> None:
        ticket = full_history()
        events = ticket.pending_events
        assert [e.originator_version for e in events] == list(range(1, len(events) + 1))
        assert ticket.version == len(events)

    def test_replay_yields_equal_state(self) -> None:
        # given a ticket and its collected events
        ticket = full_history()
        events = ticket.collect_events()
        # when
        copy = replay(events)
        # then
        assert isinstance(copy, Ticket)
        assert copy is not ticket
        assert vars(copy) == vars(ticket)
        assert copy.status == ticket.status
        assert copy.version == ticket.version == len(events)
        assert copy.pending_events == []

    def test_replay_of_a_prefix_is_the_state_at_that_version(self) -> None:
        ticket = open_ticket()
        a = in_progress(ticket)
        events = list(ticket.pending_events)  # open, assign, accept, start
        complete(ticket, a)
        at_3 = replay(events[:3])
        assert at_3.version == 3
        assert at_3.status == "assigned"
        assert at_3.assignments[a.id].status == ACCEPTED

    def test_replay_does_not_rerun_rules(self) -> None:
        # An event stream the rules of today would refuse still replays: appliers
        # only apply state (e.g. a second Assigned while one is active).
        ticket = open_ticket()
        assign(ticket, "e1")
        events = list(ticket.pending_events)
        extra = Ticket.Assigned(
            originator_id=ticket.id,
            originator_version=3,
            timestamp=T0,
            assignment_id=uuid4(),
            sequence=2,
            engineer_id="e2",
            tier=1,
            tier_name="L1",
            reason=None,
            assignment_type="manual",
            equipment_id=None,
            actor="importer",
        )
        copy = replay([*events, extra])
        assert copy.version == 3
        assert len(copy.assignments) == 2


class TestErrors:
    def test_refusals_are_ledger_errors_with_detail(self) -> None:
        ticket = closed_ticket()
        with pytest.raises(LedgerError) as info:
            assign(ticket)
        assert str(ticket.id) in info.value.detail
        assert str(info.value) == info.value.detail



# ------------------------------------------------------------ property test

ENGINEERS = ["e1", "e2", "e3"]
# Which assignment a command targets: 0 is the latest (usually the active one),
# 1.. older ones, -1 (or past the oldest) an unknown id.
target_strategy = st.one_of(st.just(0), st.integers(-1, 3))

_COMPLETIONS = ["success", "failed", "escalated", "parts_required", "customer_unavailable"]
_ARGUMENTS: dict[str, st.SearchStrategy[tuple[Any, ...]]] = {
    "assign": st.tuples(st.sampled_from(ENGINEERS), st.integers(1, 3)),
    "accept": st.tuples(target_strategy),
    "reject": st.tuples(target_strategy),
    "start": st.tuples(target_strategy),
    "complete": st.tuples(target_strategy, st.sampled_from(_COMPLETIONS)),
    "remove": st.tuples(target_strategy),
    "escalate": st.tuples(st.sampled_from(ENGINEERS)),
    "reassign": st.tuples(target_strategy, st.sampled_from(ENGINEERS)),
    "close": st.tuples(),
    "reopen": st.tuples(),
}
# Work on assignments far more often than closing and reopening the ticket, so
# that generated histories get long.
_WEIGHTED_NAMES = (
    ["assign"] * 4 + ["accept"] * 4 + ["start"] * 4 + ["complete"] * 3
    + ["reject", "remove", "escalate", "escalate", "reassign", "reassign", "close", "reopen"]
)  # fmt: skip
command_strategy = st.sampled_from(_WEIGHTED_NAMES).flatmap(
    lambda name: _ARGUMENTS[name].map(lambda args: (name, *args))
)


def run_command(ticket: Ticket, command: tuple[Any, ...]) -> None:
    """Runs one generated command against ``ticket``."""
    latest_first = sorted(ticket.assignments.values(), key=lambda a: -a.sequence)

    def pick(i: int) -> UUID:
        return latest_first[i].id if 0 <= i < len(latest_first) else uuid4()

    name, *args = command
    if name == "assign":
        ticket.assign(assignment_id=uuid4(), engineer_id=args[0], tier=args[1], actor="p")
    elif name == "accept":
        ticket.accept(pick(args[0]), actor="p")
    elif name == "reject":
        ticket.reject(pick(args[0]), reason=None, actor="p")
    elif name == "start":
        ticket.start(pick(args[0]), actor="p")
    elif name == "complete":
        ticket.complete(pick(args[0]), completion_status=args[1], time_spent_hours=1.0, actor="p")
    elif name == "remove":
        ticket.remove(pick(args[0]), reason=None, actor="p")
    elif name == "escalate":
        ticket.escalate(new_assignment_id=uuid4(), next_engineer_id=args[0], reason="r", actor="p")
    elif name == "reassign":
        ticket.reassign(pick(args[0]), new_assignment_id=uuid4(), new_engineer_id=args[1], reason=None, actor="p")
    elif name == "close":
        ticket.close(reason=None, actor="p")
    elif name == "reopen":
        ticket.reopen(reason=None, actor="p")
    else:  # pragma: no cover
        raise AssertionError(name)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(command_strategy, min_size=10, max_size=60))
def test_invariants_hold_for_any_command_sequence(commands: list[tuple[Any, ...]]) -> None:
    ticket = open_ticket()
    for command in commands:
        pending = len(ticket.pending_events)
        version = ticket.version
        before = state(ticket)
        try:
            run_command(ticket, command)
        except LedgerError:
            # a refused command records nothing
            assert len(ticket.pending_events) == pending
            assert ticket.version == version
            assert state(ticket) == before
        else:
            # an accepted command records exactly one event
            assert len(ticket.pending_events) == pending + 1
            assert ticket.version == version + 1
            assert ticket.pending_events[-1].actor == "p"

        # at most one active assignment, and active_id points at it
        active = [a for a in ticket.assignments.values() if a.status in ACTIVE_STATUSES]
        assert len(active) <= 1
        assert ticket.active_assignment == (active[0] if active else None)
        # sequences are 1..n, contiguous, never reused
        assert sequences(ticket) == list(range(1, len(ticket.assignments) + 1))
        # statuses are known and the ticket status is consistent
        assert all(a.status in ASSIGNMENT_STATUSES for a in ticket.assignments.values())
        assert ticket.status in TICKET_STATUSES
        if ticket.closed:
            assert not active
        if ticket.resolved:
            assert not active

    # the history replays to the same state
    events = ticket.collect_events()
    assert vars(replay(events)) == vars(ticket)
