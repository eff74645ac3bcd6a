"""Unit tests of the ``Ticket`` aggregate: pure, no database.

Each test reads given / when / then. A refused command must raise its named
error and record nothing: no new pending event, same version, same state.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from copy import deepcopy
from datetime import datetime, timedelta, timezone
from typing import Any
from uuid import UUID, uuid4

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.domain import (
    ACCEPTED,
    ACTIVE_STATUSES,
    ASSIGNED,
    ASSIGNMENT_STATUSES,
    COMPLETED,
    ESCALATED,
    FAILED,
    IN_PROGRESS,
    REASSIGNED,
    REJECTED,
    REMOVED,
    TICKET_STATUSES,
    Assignment,
    Ticket,
    ticket_status,
)
from ledger.errors import (
    ActiveAssignmentExistsError,
    AssignmentNotFoundError,
    ConflictError,
    InvalidTransitionError,
    LedgerError,
    NoActiveAssignmentError,
    NotFoundError,
    SameEngineerError,
    TicketClosedError,
    TicketNotClosableError,
    TicketNotReopenableError,
    TicketResolvedError,
)

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


# --------------------------------------------------------------------- opening


class TestOpen:
    def test_open_records_opened_with_all_fields(self) -> None:
        # given / when
        tid = uuid4()
        ticket = Ticket.open(
            ticket_id=tid,
            title="Boiler leaks",
            actor="alice",
            description="Basement, unit 3",
            priority="high",
            required_skill="plumbing",
            equipment_id="EQ-42",
            reference="EXT-7",
        )
        # then
        assert ticket.id == tid
        assert ticket.version == 1
        assert ticket.status == "open"
        assert ticket.assignments == {}
        assert ticket.active_assignment is None
        assert ticket.next_sequence == 1
        (opened,) = ticket.pending_events
        assert isinstance(opened, Ticket.Opened)
        assert opened.originator_id == tid
        assert opened.actor == "alice"
        assert (opened.title, opened.description, opened.priority) == (
            "Boiler leaks",
            "Basement, unit 3",
            "high",
        )
        assert (opened.required_skill, opened.equipment_id, opened.reference) == (
            "plumbing",
            "EQ-42",
            "EXT-7",
        )
        assert ticket.opened_by == "alice"
        assert (ticket.closed, ticket.resolved) == (False, False)

    def test_open_defaults(self) -> None:
        ticket = open_ticket()
        assert ticket.priority == "medium"
        assert ticket.description is None
        assert ticket.required_skill is None
        assert ticket.equipment_id is None
        assert ticket.reference is None

    def test_explicit_timestamp_is_honoured(self) -> None:
        ticket = open_ticket(timestamp=T0)
        assert ticket.pending_events[0].timestamp == T0
        assert ticket.created_on == T0
        assert ticket.modified_on == T0

    def test_default_timestamp_is_now_and_timezone_aware(self) -> None:
        before = datetime.now(timezone.utc)
        ticket = open_ticket()
        after = datetime.now(timezone.utc)
        assert ticket.created_on.tzinfo is not None
        assert before <= ticket.created_on <= after


# --------------------------------------------------------------------- assign


class TestAssign:
    def test_first_assignment(self) -> None:
        # given
        ticket = open_ticket(equipment_id="EQ-1")
        aid = uuid4()
        # when
        a = ticket.assign(
            assignment_id=aid, engineer_id="eng-1", tier=1, actor="bob", reason="on call"
        )
        # then
        assert a.id == aid
        assert (a.sequence, a.engineer_id, a.tier, a.tier_name, a.status) == (
            1,
            "eng-1",
            1,
            "L1",
            ASSIGNED,
        )
        assert ticket.active_assignment is a
        assert ticket.assignment(aid) is a
        assert ticket.status == "assigned"
        assert ticket.version == 2
        e = last_event(ticket)
        assert isinstance(e, Ticket.Assigned)
        assert (e.assignment_id, e.sequence, e.engineer_id, e.tier, e.tier_name) == (
            aid,
            1,
            "eng-1",
            1,
            "L1",
        )
        assert (e.reason, e.assignment_type, e.actor) == ("on call", "manual", "bob")
        assert e.equipment_id == "EQ-1", "equipment defaults to the ticket's"

    def test_custom_tier_name_type_and_equipment(self) -> None:
        ticket = open_ticket(equipment_id="EQ-1")
        a = assign(ticket, tier=2, tier_name="Field", assignment_type="auto", equipment_id="EQ-9")
        assert (a.tier, a.tier_name, a.equipment_id) == (2, "Field", "EQ-9")
        e = last_event(ticket)
        assert (e.assignment_type, e.equipment_id) == ("auto", "EQ-9")

    def test_equipment_defaults_to_the_tickets(self) -> None:
        assert assign(open_ticket(equipment_id="EQ-1")).equipment_id == "EQ-1"
        assert assign(open_ticket()).equipment_id is None

    @pytest.mark.parametrize("make_active", [assign, accepted, in_progress], ids=["assigned", "accepted", "in_progress"])
    def test_refused_while_an_assignment_is_active(self, make_active: Callable[..., Assignment]) -> None:
        # given a ticket with an active assignment
        ticket = open_ticket()
        make_active(ticket)
        # when / then
        err = assert_refused(ticket, ActiveAssignmentExistsError, lambda: assign(ticket, "eng-2"))
        assert isinstance(err, ConflictError)
        assert active_count(ticket) == 1

    def test_refused_on_resolved_ticket(self) -> None:
        ticket = resolved_ticket()
        assert_refused(ticket, TicketResolvedError, lambda: assign(ticket, "eng-2"))

    def test_refused_on_closed_ticket(self) -> None:
        ticket = closed_ticket()
        assert_refused(ticket, TicketClosedError, lambda: assign(ticket))

    @pytest.mark.parametrize("ended", [REJECTED, REMOVED, FAILED, COMPLETED])
    def test_assign_again_after_assignment_ended(self, ended: str) -> None:
        # given an assignment that ended without resolving the ticket
        ticket, first = ticket_with_assignment_in(ended)
        assert ticket.active_assignment is None
        assert ticket.status == "open"
        # when
        second = assign(ticket, "eng-2")
        # then
        assert second.sequence == 2
        assert ticket.active_assignment is second
        assert first.status == ended


# ----------------------------------------------------------------- transitions


class TestAccept:
    def test_accept_from_assigned(self) -> None:
        ticket = open_ticket()
        a = assign(ticket)
        ticket.accept(a.id, actor="eng-1", timestamp=T0)
        assert a.status == ACCEPTED
        assert ticket.status == "assigned"
        assert ticket.active_assignment is a
        e = last_event(ticket)
        assert isinstance(e, Ticket.Accepted)
        assert (e.assignment_id, e.engineer_id, e.actor, e.timestamp) == (a.id, "eng-1", "eng-1", T0)

    @pytest.mark.parametrize("status", [ACCEPTED, IN_PROGRESS, COMPLETED, REJECTED, REMOVED])
    def test_accept_refused_unless_assigned(self, status: str) -> None:
        ticket, a = ticket_with_assignment_in(status)
        assert_refused(ticket, InvalidTransitionError, lambda: ticket.accept(a.id, actor="x"))

    def test_unknown_assignment(self) -> None:
        ticket = open_ticket()
        assign(ticket)
        err = assert_refused(ticket, AssignmentNotFoundError, lambda: ticket.accept(uuid4(), actor="x"))
        assert isinstance(err, NotFoundError)


class TestReject:
    def test_reject_from_assigned_ends_the_assignment(self) -> None:
        ticket = open_ticket()
        a = assign(ticket)
        ticket.reject(a.id, reason="on leave", actor="eng-1")
        assert a.status == REJECTED
        assert ticket.active_assignment is None
        assert ticket.status == "open"
        e = last_event(ticket)
        assert isinstance(e, Ticket.Rejected)
        assert (e.assignment_id, e.engineer_id, e.reason, e.actor) == (a.id, "eng-1", "on leave", "eng-1")

    @pytest.mark.parametrize("status", [ACCEPTED, IN_PROGRESS, COMPLETED, REJECTED, REMOVED])
    def test_reject_refused_unless_assigned(self, status: str) -> None:
        ticket, a = ticket_with_assignment_in(status)
        assert_refused(ticket, InvalidTransitionError, lambda: ticket.reject(a.id, reason=None, actor="x"))

    def test_unknown_assignment(self) -> None:
        ticket = open_ticket()
        assert_refused(ticket, AssignmentNotFoundError, lambda: ticket.reject(uuid4(), reason=None, actor="x"))


class TestStart:
    def test_start_from_accepted(self) -> None:
        ticket = open_ticket()
        a = accepted(ticket)
        ticket.start(a.id, actor="eng-1")
        assert a.status == IN_PROGRESS
        assert ticket.status == "in_progress"
        e = last_event(ticket)
        assert isinstance(e, Ticket.Started)
        assert (e.assignment_id, e.engineer_id, e.actor) == (a.id, "eng-1", "eng-1")

    @pytest.mark.parametrize("status", [ASSIGNED, IN_PROGRESS, COMPLETED, REJECTED, REMOVED])
    def test_start_refused_unless_accepted(self, status: str) -> None:
        ticket, a = ticket_with_assignment_in(status)
        assert_refused(ticket, InvalidTransitionError, lambda: ticket.start(a.id, actor="x"))

    def test_unknown_assignment(self) -> None:
        ticket = open_ticket()
        assert_refused(ticket, AssignmentNotFoundError, lambda: ticket.start(uuid4(), actor="x"))


class TestComplete:
    @pytest.mark.parametrize("make", [accepted, in_progress], ids=["accepted", "in_progress"])
    @pytest.mark.parametrize(
        ("completion_status", "assignment_status", "ticket_status_after"),
        [
            ("success", COMPLETED, "resolved"),
            ("failed", FAILED, "open"),
            ("escalated", COMPLETED, "open"),
            ("parts_required", COMPLETED, "open"),
            ("customer_unavailable", COMPLETED, "open"),
        ],
    )
    def test_complete(
        self,
        make: Callable[[Ticket], Assignment],
        completion_status: str,
        assignment_status: str,
        ticket_status_after: str,
    ) -> None:
        # given
        ticket = open_ticket()
        a = make(ticket)
        # when
        ticket.complete(
            a.id,
            completion_status=completion_status,
            time_spent_hours=2.25,
            actor="eng-1",
            diagnosis="worn belt",
            actions_taken="replaced belt",
            parts_used=[{"part": "belt", "qty": 1}],
            customer_rating=5,
            customer_feedback="quick",
        )
        # then
        assert a.status == assignment_status
        assert ticket.status == ticket_status_after
        assert ticket.resolved is (completion_status == "success")
        assert ticket.active_assignment is None
        e = last_event(ticket)
        assert isinstance(e, Ticket.Completed)
        assert (e.assignment_id, e.engineer_id, e.completion_status, e.time_spent_hours) == (
            a.id,
            "eng-1",
            completion_status,
            2.25,
        )
        assert (e.diagnosis, e.actions_taken, e.parts_used) == (
            "worn belt",
            "replaced belt",
            [{"part": "belt", "qty": 1}],
        )
        assert (e.customer_rating, e.customer_feedback, e.actor) == (5, "quick", "eng-1")

    @pytest.mark.parametrize("status", [ASSIGNED, COMPLETED, FAILED, REJECTED, REMOVED, ESCALATED, REASSIGNED])
    def test_complete_refused_unless_accepted_or_in_progress(self, status: str) -> None:
        ticket, a = ticket_with_assignment_in(status)
        assert_refused(ticket, InvalidTransitionError, lambda: complete(ticket, a, "failed"))

    def test_unknown_assignment(self) -> None:
        ticket = open_ticket()
        in_progress(ticket)
        assert_refused(
            ticket,
            AssignmentNotFoundError,
            lambda: ticket.complete(uuid4(), completion_status="success", time_spent_hours=1, actor="x"),
        )


class TestRemove:
    @pytest.mark.parametrize("make", [assign, accepted, in_progress], ids=["assigned", "accepted", "in_progress"])
    def test_remove_an_active_assignment(self, make: Callable[[Ticket], Assignment]) -> None:
        ticket = open_ticket()
        a = make(ticket)
        ticket.remove(a.id, reason="wrong skill", actor="lead")
        assert a.status == REMOVED
        assert ticket.active_assignment is None
        assert ticket.status == "open"
        e = last_event(ticket)
        assert isinstance(e, Ticket.Removed)
        assert (e.assignment_id, e.engineer_id, e.reason, e.actor) == (a.id, "eng-1", "wrong skill", "lead")

    @pytest.mark.parametrize("status", [COMPLETED, FAILED, REJECTED, REMOVED, ESCALATED, REASSIGNED])
    def test_remove_refused_unless_active(self, status: str) -> None:
        ticket, a = ticket_with_assignment_in(status)
        assert_refused(ticket, InvalidTransitionError, lambda: ticket.remove(a.id, reason=None, actor="x"))

    def test_unknown_assignment(self) -> None:
        ticket = open_ticket()
        assert_refused(ticket, AssignmentNotFoundError, lambda: ticket.remove(uuid4(), reason=None, actor="x"))


# ------------------------------------------------------------------ escalation


class TestEscalate:
    @pytest.mark.parametrize("make", [assign, accepted, in_progress], ids=["assigned", "accepted", "in_progress"])
    def test_escalate_goes_to_next_tier(self, make: Callable[..., Assignment]) -> None:
        # given an active tier-1 assignment
        ticket = open_ticket(equipment_id="EQ-5")
        first = make(ticket, "eng-1", 1)
        new_id = uuid4()
        # when
        second = ticket.escalate(
            new_assignment_id=new_id, next_engineer_id="eng-2", reason="needs L2", actor="lead"
        )
        # then
        assert first.status == ESCALATED
        assert second.id == new_id
        assert (second.sequence, second.engineer_id, second.tier, second.tier_name, second.status) == (
            2,
            "eng-2",
            2,
            "L2",
            ASSIGNED,
        )
        assert ticket.active_assignment is second
        assert ticket.status == "assigned"
        assert active_count(ticket) == 1
        e = last_event(ticket)
        assert isinstance(e, Ticket.Escalated)
        assert (e.assignment_id, e.engineer_id, e.new_assignment_id, e.new_engineer_id) == (
            first.id,
            "eng-1",
            new_id,
            "eng-2",
        )
        assert (e.reason, e.sequence, e.tier, e.tier_name, e.equipment_id, e.actor) == (
            "needs L2",
            2,
            2,
            "L2",
            "EQ-5",
            "lead",
        )

    def test_escalate_twice_climbs_tiers_with_custom_name(self) -> None:
        ticket = open_ticket()
        assign(ticket, "eng-1", 1)
        ticket.escalate(new_assignment_id=uuid4(), next_engineer_id="eng-2", reason="r1", actor="x")
        third = ticket.escalate(
            new_assignment_id=uuid4(), next_engineer_id="eng-3", reason="r2", actor="x", next_tier_name="Vendor"
        )
        assert (third.tier, third.tier_name, third.sequence) == (3, "Vendor", 3)
        assert [a.status for a in sorted(ticket.assignments.values(), key=lambda a: a.sequence)] == [
            ESCALATED,
            ESCALATED,
            ASSIGNED,
        ]
        assert last_event(ticket).reason == "r2"

    @pytest.mark.parametrize(("ticket_eq", "assignment_eq", "expected"), [
        ("EQ-T", "EQ-A", "EQ-A"), ("EQ-T", None, "EQ-T"), (None, "EQ-A", "EQ-A"), (None, None, None),
    ])  # fmt: skip
    def test_escalation_carries_the_assignments_equipment(
        self, ticket_eq: str | None, assignment_eq: str | None, expected: str | None
    ) -> None:
        ticket = open_ticket(equipment_id=ticket_eq)
        assign(ticket, equipment_id=assignment_eq)
        nxt = ticket.escalate(new_assignment_id=uuid4(), next_engineer_id="eng-2", reason="r", actor="x")
        assert nxt.equipment_id == expected
        assert last_event(ticket).equipment_id == expected

    def test_escalate_keeps_custom_base_tier(self) -> None:
        ticket = open_ticket()
        assign(ticket, "eng-1", tier=3, tier_name="Specialist")
        nxt = ticket.escalate(new_assignment_id=uuid4(), next_engineer_id="eng-2", reason="r", actor="x")
        assert (nxt.tier, nxt.tier_name) == (4, "L4")

    def test_refused_without_active_assignment(self) -> None:
        ticket = open_ticket()
        assert_refused(
            ticket,
            NoActiveAssignmentError,
            lambda: ticket.escalate(new_assignment_id=uuid4(), next_engineer_id="e", reason="r", actor="x"),
        )

    def test_refused_after_assignment_ended(self) -> None:
        ticket = open_ticket()
        a = assign(ticket)
        ticket.reject(a.id, reason=None, actor="x")
        assert_refused(
            ticket,
            NoActiveAssignmentError,
            lambda: ticket.escalate(new_assignment_id=uuid4(), next_engineer_id="e", reason="r", actor="x"),
        )


class TestReassign:
    @pytest.mark.parametrize("make", [assign, accepted, in_progress], ids=["assigned", "accepted", "in_progress"])
    def test_reassign_keeps_tier(self, make: Callable[..., Assignment]) -> None:
        # given an active tier-2 assignment
        ticket = open_ticket()
        first = make(ticket, "eng-1", 2)
        new_id = uuid4()
        # when
        second = ticket.reassign(
            first.id, new_assignment_id=new_id, new_engineer_id="eng-2", reason="shift ended", actor="lead"
        )
        # then
        assert first.status == REASSIGNED
        assert (second.id, second.sequence, second.engineer_id, second.tier, second.tier_name, second.status) == (
            new_id,
            2,
            "eng-2",
            2,
            "L2",
            ASSIGNED,
        )
        assert ticket.active_assignment is second
        assert active_count(ticket) == 1
        e = last_event(ticket)
        assert isinstance(e, Ticket.Reassigned)
        assert (e.assignment_id, e.engineer_id, e.new_assignment_id, e.new_engineer_id) == (
            first.id,
            "eng-1",
            new_id,
            "eng-2",
        )
        assert (e.reason, e.sequence, e.tier, e.tier_name, e.actor) == ("shift ended", 2, 2, "L2", "lead")

    @pytest.mark.parametrize(("ticket_eq", "assignment_eq", "expected"), [
        ("EQ-T", "EQ-A", "EQ-A"), ("EQ-T", None, "EQ-T"), (None, "EQ-A", "EQ-A"), (None, None, None),
    ])  # fmt: skip
    def test_reassignment_carries_the_assignments_equipment(
        self, ticket_eq: str | None, assignment_eq: str | None, expected: str | None
    ) -> None:
        ticket = open_ticket(equipment_id=ticket_eq)
        a = assign(ticket, equipment_id=assignment_eq)
        b = ticket.reassign(a.id, new_assignment_id=uuid4(), new_engineer_id="eng-2", reason=None, actor="x")
        assert b.equipment_id == expected
        assert last_event(ticket).equipment_id == expected

    def test_reassign_keeps_custom_tier_name(self) -> None:
        ticket = open_ticket()
        a = assign(ticket, tier=2, tier_name="Field")
        b = ticket.reassign(a.id, new_assignment_id=uuid4(), new_engineer_id="eng-2", reason=None, actor="x")
        assert (b.tier, b.tier_name) == (2, "Field")

    def test_refused_to_the_same_engineer(self) -> None:
        ticket = open_ticket()
        a = assign(ticket, "eng-1")
        assert_refused(
            ticket,
            SameEngineerError,
            lambda: ticket.reassign(a.id, new_assignment_id=uuid4(), new_engineer_id="eng-1", reason=None, actor="x"),
        )

    @pytest.mark.parametrize("status", [COMPLETED, FAILED, REJECTED, REMOVED, ESCALATED, REASSIGNED])
    def test_refused_unless_active(self, status: str) -> None:
        ticket, a = ticket_with_assignment_in(status)
        assert_refused(
            ticket,
            InvalidTransitionError,
            lambda: ticket.reassign(a.id, new_assignment_id=uuid4(), new_engineer_id="other", reason=None, actor="x"),
        )

    def test_unknown_assignment(self) -> None:
        ticket = open_ticket()
        assign(ticket)
        assert_refused(
            ticket,
            AssignmentNotFoundError,
            lambda: ticket.reassign(uuid4(), new_assignment_id=uuid4(), new_engineer_id="e2", reason=None, actor="x"),
        )


# ----------------------------------------------------------- close and reopen


class TestClose:
    def test_close_open_ticket(self) -> None:
        ticket = open_ticket()
        ticket.close(reason="duplicate", actor="lead", timestamp=T0)
        assert ticket.status == "closed"
        assert ticket.closed is True
        e = last_event(ticket)
        assert isinstance(e, Ticket.Closed)
        assert (e.reason, e.actor, e.timestamp) == ("duplicate", "lead", T0)

    def test_close_resolved_ticket(self) -> None:
        ticket = resolved_ticket()
        ticket.close(reason=None, actor="lead")
        assert ticket.status == "closed"

    @pytest.mark.parametrize("make", [assign, accepted, in_progress], ids=["assigned", "accepted", "in_progress"])
    def test_refused_while_an_assignment_is_active(self, make: Callable[[Ticket], Assignment]) -> None:
        ticket = open_ticket()
        make(ticket)
        assert_refused(ticket, TicketNotClosableError, lambda: ticket.close(reason=None, actor="x"))

    def test_refused_when_already_closed(self) -> None:
        ticket = closed_ticket()
        assert_refused(ticket, TicketClosedError, lambda: ticket.close(reason=None, actor="x"))

    @pytest.mark.parametrize(
        "command",
        [
            lambda t, a: t.assign(assignment_id=uuid4(), engineer_id="e", tier=1, actor="x"),
            lambda t, a: t.accept(a, actor="x"),
            lambda t, a: t.reject(a, reason=None, actor="x"),
            lambda t, a: t.start(a, actor="x"),
            lambda t, a: t.complete(a, completion_status="success", time_spent_hours=1, actor="x"),
            lambda t, a: t.remove(a, reason=None, actor="x"),
            lambda t, a: t.escalate(new_assignment_id=uuid4(), next_engineer_id="e", reason="r", actor="x"),
            lambda t, a: t.reassign(a, new_assignment_id=uuid4(), new_engineer_id="e9", reason=None, actor="x"),
            lambda t, a: t.close(reason=None, actor="x"),
        ],
        ids=["assign", "accept", "reject", "start", "complete", "remove", "escalate", "reassign", "close"],
    )
    def test_nothing_but_reopen_on_a_closed_ticket(self, command: Callable[[Ticket, UUID], object]) -> None:
        # given a closed ticket that had work on it
        ticket = open_ticket()
        a = assign(ticket)
        ticket.reject(a.id, reason=None, actor="x")
        ticket.close(reason=None, actor="x")
        # when / then: even for a known assignment, the closed check comes first
        assert_refused(ticket, TicketClosedError, lambda: command(ticket, a.id))
        # ... and reopen still works
        ticket.reopen(reason="customer called back", actor="x")
        assert ticket.status == "open"


class TestReopen:
    def test_reopen_resolved_ticket(self) -> None:
        # given
        ticket = resolved_ticket()
        # when
        ticket.reopen(reason="came back", actor="lead", timestamp=T0)
        # then
        assert ticket.status == "open"
        assert (ticket.resolved, ticket.closed) == (False, False)
        e = last_event(ticket)
        assert isinstance(e, Ticket.Reopened)
        assert (e.reason, e.actor, e.timestamp) == ("came back", "lead", T0)
        # and work can be assigned again, with the next sequence
        again = assign(ticket, "eng-2")
        assert again.sequence == 2

    def test_reopen_closed_ticket(self) -> None:
        ticket = closed_ticket()
        ticket.reopen(reason=None, actor="lead")
        assert ticket.status == "open"
        assert assign(ticket).sequence == 1

    def test_reopen_closed_resolved_ticket_clears_both(self) -> None:
        ticket = resolved_ticket()
        ticket.close(reason=None, actor="x")
        ticket.reopen(reason=None, actor="x")
        assert (ticket.resolved, ticket.closed, ticket.status) == (False, False, "open")

    @pytest.mark.parametrize(
        "make",
        [lambda t: None, assign, accepted, in_progress],
        ids=["open", "assigned", "accepted", "in_progress"],
    )
    def test_refused_unless_resolved_or_closed(self, make: Callable[[Ticket], object]) -> None:
        ticket = open_ticket()
        make(ticket)
        assert_refused(ticket, TicketNotReopenableError, lambda: ticket.reopen(reason=None, actor="x"))

    def test_refused_twice(self) -> None:
        ticket = closed_ticket()
        ticket.reopen(reason=None, actor="x")
        assert_refused(ticket, TicketNotReopenableError, lambda: ticket.reopen(reason=None, actor="x"))


# ------------------------------------------------------------ ticket status


class TestTicketStatus:
    @pytest.mark.parametrize(
        ("closed", "resolved", "active", "expected"),
        [
            (False, False, None, "open"),
            (False, False, ASSIGNED, "assigned"),
            (False, False, ACCEPTED, "assigned"),
            (False, False, IN_PROGRESS, "in_progress"),
            (False, True, None, "resolved"),
            (True, False, None, "closed"),
            (True, True, None, "closed"),
            (True, False, IN_PROGRESS, "closed"),
        ],
    )
    def test_derivation(self, closed: bool, resolved: bool, active: str | None, expected: str) -> None:
        assert ticket_status(closed=closed, resolved=resolved, active_status=active) == expected
        assert expected in TICKET_STATUSES

    def test_status_follows_a_ticket_through_its_life(self) -> None:
        ticket = open_ticket()
        seen = [ticket.status]
        a = assign(ticket)
        seen.append(ticket.status)
        ticket.accept(a.id, actor="x")
        seen.append(ticket.status)
        ticket.start(a.id, actor="x")
        seen.append(ticket.status)
        complete(ticket, a)
        seen.append(ticket.status)
        ticket.close(reason=None, actor="x")
        seen.append(ticket.status)
        ticket.reopen(reason=None, actor="x")
        seen.append(ticket.status)
        assert seen == ["open", "assigned", "assigned", "in_progress", "resolved", "closed", "open"]


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
