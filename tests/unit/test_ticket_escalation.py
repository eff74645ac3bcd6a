"""Unit tests of the ``Ticket`` aggregate, pure, no database: escalation and
reassignment, closing and reopening, and the ticket's status.

Given / when / then; a refused command records nothing (``ticket_helpers.assert_refused``).
"""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID, uuid4

import pytest

from ledger.domain import (
    ACCEPTED,
    ASSIGNED,
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
    AssignmentNotFoundError,
    InvalidTransitionError,
    NoActiveAssignmentError,
    SameEngineerError,
    TicketClosedError,
    TicketNotClosableError,
    TicketNotReopenableError,
)

from ticket_helpers import (
    T0,
    accepted,
    active_count,
    assert_refused,
    assign,
    closed_ticket,
    complete,
    in_progress,
    last_event,
    open_ticket,
    resolved_ticket,
    ticket_with_assignment_in,
)

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


