"""Unit tests of the ``Ticket`` aggregate, pure, no database: opening, assigning, and an
assignment's own transitions (accept, reject, start, complete, remove).

Given / when / then; a refused command records nothing (``ticket_helpers.assert_refused``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from uuid import uuid4

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
    Assignment,
    Ticket,
)
from ledger.errors import (
    ActiveAssignmentExistsError,
    AssignmentNotFoundError,
    ConflictError,
    InvalidTransitionError,
    NotFoundError,
    TicketClosedError,
    TicketResolvedError,
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


