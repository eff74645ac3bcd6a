"""The ``Ticket`` aggregate: a service ticket and its ordered assignments.

Each public command method checks its rules (``check_*``) first and only then
triggers its event. An event class declares its fields once, with their
defaults, and applies itself (``apply``), so replaying history never re-runs a
rule: a rule tightened tomorrow cannot make yesterday's stream unloadable.
Events are self-describing (an ``Escalated`` names the engineer it left and the
one it went to), so projections fold them without looking anything up.

A command names only what its rules or derived values need (ids, the engineer,
tier and tier name, actor, timestamp, via); the event's other fields pass
through as ``**fields``, so an unknown one is the event's TypeError and one left
out takes the default declared on the event.

Every event records ``actor``; ``timestamp`` is optional on commands so that an
importer can record original times (it defaults to now). Topics are explicit
(``TOPIC``): the classes moved out of ``ledger.domain`` and the stored events
still name them there, as new ones do.
"""

from __future__ import annotations

from dataclasses import KW_ONLY
from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.domain import Aggregate

from ledger.adapter import create
from ledger.assignment import Assignment, default_tier_name
from ledger.errors import (
    ActiveAssignmentExistsError,
    AssignmentNotFoundError,
    InvalidTransitionError,
    NoActiveAssignmentError,
    SameEngineerError,
    TicketClosedError,
    TicketNotClosableError,
    TicketNotReopenableError,
    TicketResolvedError,
)
from ledger.qualification import QualificationCheck
from ledger.ticket_details import DetailsChanged, TicketDetails, clean_location, default_territory
from ledger.ticket_qualification import TicketQualification
from ledger.statuses import (
    ACCEPTED,
    ASSIGNED,
    COMPLETED,
    ESCALATED,
    FAILED,
    IN_PROGRESS,
    REASSIGNED,
    REJECTED,
    REMOVED,
    ticket_status,
)

#: Where stored events and tickets name these classes.
TOPIC_PREFIX = "ledger.domain:Ticket"


class Handover(Aggregate.Event):
    """An assignment handed to another engineer: the current one ends (as
    ``ended_as``) and a new one starts. Escalated and reassigned alike."""

    assignment_id: UUID
    engineer_id: str
    reason: str | None
    new_assignment_id: UUID
    sequence: int
    new_engineer_id: str
    tier: int
    tier_name: str
    equipment_id: str | None
    actor: str
    via: str | None = None
    #: Issue 21: the engineer's unmet requirements when named (None: not checked).
    qualification_warnings: list[str] | None = None
    override_reason: str | None = None

    ended_as: ClassVar[str]

    def apply(self, ticket: Ticket) -> None:
        ticket._end(self.assignment_id, self.ended_as)
        ticket._add(Assignment(self.new_assignment_id, self.sequence, self.new_engineer_id,
                               self.tier, self.tier_name, self.equipment_id))


class Ticket(TicketDetails, TicketQualification, Aggregate):
    """A service ticket and its ordered assignments (its details' corrections:
    ``ledger.ticket_details``)."""

    TOPIC = TOPIC_PREFIX

    class Created(Aggregate.Created):
        """eventsourcing's default creation event, which every aggregate class
        has; never triggered here (see the event below), named for completeness."""

        TOPIC = f"{TOPIC_PREFIX}.Created"

    class Opened(Aggregate.Created):
        TOPIC = f"{TOPIC_PREFIX}.Opened"
        title: str
        # Keyword-only: defaults where each field is declared, stored order kept.
        _: KW_ONLY
        description: str | None = None
        priority: str = "medium"
        required_skill: str | None = None
        equipment_id: str | None = None
        reference: str | None = None
        actor: str
        via: str | None = None
        # Issue 21. Events stored before lack them and load with these defaults.
        territory: str | None = None
        required_certification: str | None = None
        due_at: datetime | None = None
        location: dict[str, str | None] | None = None

        def apply(self, ticket: Ticket) -> None:
            ticket.title = self.title
            ticket.description = self.description
            ticket.priority = self.priority
            ticket.required_skill = self.required_skill
            ticket.equipment_id = self.equipment_id
            ticket.reference = self.reference
            ticket.territory = self.territory
            ticket.required_certification = self.required_certification
            ticket.due_at = self.due_at
            ticket.location = self.location
            ticket.opened_by = self.actor
            ticket.closed = False
            ticket.resolved = False
            ticket.assignments = {}
            ticket.active_id = None

    class Assigned(Aggregate.Event):
        TOPIC = f"{TOPIC_PREFIX}.Assigned"
        assignment_id: UUID
        sequence: int
        engineer_id: str
        tier: int
        tier_name: str
        _: KW_ONLY
        reason: str | None = None
        assignment_type: str = "manual"
        equipment_id: str | None
        actor: str
        via: str | None = None
        #: Issue 21: the engineer's unmet requirements when named (None: not checked).
        qualification_warnings: list[str] | None = None
        override_reason: str | None = None

        def apply(self, ticket: Ticket) -> None:
            ticket._add(Assignment(self.assignment_id, self.sequence, self.engineer_id,
                                   self.tier, self.tier_name, self.equipment_id))

    class Updated(DetailsChanged):
        TOPIC = f"{TOPIC_PREFIX}.Updated"

    class Accepted(Aggregate.Event):
        TOPIC = f"{TOPIC_PREFIX}.Accepted"
        assignment_id: UUID
        engineer_id: str
        actor: str
        via: str | None = None

        def apply(self, ticket: Ticket) -> None:
            ticket.assignments[self.assignment_id].status = ACCEPTED

    class Rejected(Aggregate.Event):
        TOPIC = f"{TOPIC_PREFIX}.Rejected"
        assignment_id: UUID
        engineer_id: str
        reason: str | None
        actor: str
        via: str | None = None

        def apply(self, ticket: Ticket) -> None:
            ticket._end(self.assignment_id, REJECTED)

    class Started(Aggregate.Event):
        TOPIC = f"{TOPIC_PREFIX}.Started"
        assignment_id: UUID
        engineer_id: str
        actor: str
        via: str | None = None

        def apply(self, ticket: Ticket) -> None:
            ticket.assignments[self.assignment_id].status = IN_PROGRESS

    class Escalated(Handover):
        TOPIC = f"{TOPIC_PREFIX}.Escalated"
        ended_as = ESCALATED

    class Reassigned(Handover):
        TOPIC = f"{TOPIC_PREFIX}.Reassigned"
        ended_as = REASSIGNED

    class Removed(Aggregate.Event):
        TOPIC = f"{TOPIC_PREFIX}.Removed"
        assignment_id: UUID
        engineer_id: str
        reason: str | None
        actor: str
        via: str | None = None

        def apply(self, ticket: Ticket) -> None:
            ticket._end(self.assignment_id, REMOVED)

    class Completed(Aggregate.Event):
        TOPIC = f"{TOPIC_PREFIX}.Completed"
        assignment_id: UUID
        engineer_id: str
        completion_status: str
        time_spent_hours: float
        actor: str
        via: str | None = None
        diagnosis: str | None = None
        actions_taken: str | None = None
        parts_used: list[dict[str, Any]] | None = None
        customer_rating: int | None = None
        customer_feedback: str | None = None

        def apply(self, ticket: Ticket) -> None:
            failed = self.completion_status == "failed"
            ticket._end(self.assignment_id, FAILED if failed else COMPLETED)
            if self.completion_status == "success":
                ticket.resolved = True

    class Closed(Aggregate.Event):
        TOPIC = f"{TOPIC_PREFIX}.Closed"
        reason: str | None
        actor: str
        via: str | None = None

        def apply(self, ticket: Ticket) -> None:
            ticket.closed = True

    class Reopened(Aggregate.Event):
        TOPIC = f"{TOPIC_PREFIX}.Reopened"
        reason: str | None
        actor: str
        via: str | None = None

        def apply(self, ticket: Ticket) -> None:
            ticket.closed = False
            ticket.resolved = False

    # ------------------------------------------------------------------ creation

    @classmethod
    def open(
        cls, *, ticket_id: UUID, actor: str, timestamp: datetime | None = None,
        via: str | None = None, **fields: Any,
    ) -> Ticket:
        """``fields``: ``Opened``'s own (title, priority, ...), declared there once;
        ``territory`` defaults to the location's zone."""
        location = clean_location(fields.pop("location", None))
        fields["territory"] = default_territory(fields.pop("territory", None), location)
        return create(
            cls, cls.Opened, id=ticket_id, actor=actor, timestamp=timestamp, via=via,
            location=location, **fields,
        )

    # ------------------------------------------------------------------ queries

    @property
    def status(self) -> str:
        active = self.active_assignment
        return ticket_status(
            closed=self.closed,
            resolved=self.resolved,
            active_status=active.status if active else None,
        )

    @property
    def active_assignment(self) -> Assignment | None:
        return self.assignments[self.active_id] if self.active_id else None

    @property
    def next_sequence(self) -> int:
        return len(self.assignments) + 1

    def assignment(self, assignment_id: UUID) -> Assignment:
        try:
            return self.assignments[assignment_id]
        except KeyError:
            msg = f"Assignment {assignment_id} is not on ticket {self.id}."
            raise AssignmentNotFoundError(msg) from None

    # ------------------------------------------------------------------ checks

    def check_not_closed(self) -> None:
        if self.closed:
            msg = f"Ticket {self.id} is closed; only reopen is allowed."
            raise TicketClosedError(msg)

    def check_not_resolved(self) -> None:
        if self.resolved:
            msg = f"Ticket {self.id} is resolved; reopen it before assigning."
            raise TicketResolvedError(msg)

    def check_no_active_assignment(self) -> None:
        active = self.active_assignment
        if active is not None:
            msg = (
                f"Ticket {self.id} already has an active assignment "
                f"{active.id} ({active.status}, engineer {active.engineer_id})."
            )
            raise ActiveAssignmentExistsError(msg)

    def check_assignable(self) -> None:
        """What any new assignment needs: open, not resolved, none active."""
        self.check_not_closed()
        self.check_not_resolved()
        self.check_no_active_assignment()

    def check_has_active_assignment(self) -> Assignment:
        active = self.active_assignment
        if active is None:
            msg = f"Ticket {self.id} has no active assignment."
            raise NoActiveAssignmentError(msg)
        return active

    def check_transition(
        self, assignment: Assignment, command: str, allowed: tuple[str, ...]
    ) -> None:
        if assignment.status not in allowed:
            msg = (
                f"Cannot {command} assignment {assignment.id}: it is "
                f"{assignment.status}; {command} needs {' or '.join(allowed)}."
            )
            raise InvalidTransitionError(msg)

    def check_other_engineer(self, assignment: Assignment, engineer_id: str) -> None:
        if assignment.engineer_id == engineer_id:
            msg = f"Assignment {assignment.id} is already held by {engineer_id}."
            raise SameEngineerError(msg)

    def _on(self, assignment_id: UUID, command: str, allowed: tuple[str, ...]) -> Assignment:
        """The assignment a command acts on, once the rules allow it."""
        self.check_not_closed()
        assignment = self.assignment(assignment_id)
        self.check_transition(assignment, command, allowed)
        return assignment

    # ------------------------------------------------------------------ commands
    # ``fields``: the event's own fields beyond what the command names (reason,
    # assignment_type, completion_status, ...), declared there once.

    def assign(
        self, *, assignment_id: UUID, engineer_id: str, tier: int, actor: str,
        tier_name: str | None = None, equipment_id: str | None = None,
        timestamp: datetime | None = None, via: str | None = None,
        qualification: QualificationCheck | None = None, **fields: Any,
    ) -> Assignment:
        self.check_assignable()
        fields.update(self.check_qualified(qualification, tier))
        self.trigger_event(
            self.Assigned, assignment_id=assignment_id, sequence=self.next_sequence,
            engineer_id=engineer_id, tier=tier, tier_name=tier_name or default_tier_name(tier),
            equipment_id=equipment_id or self.equipment_id,
            actor=actor, timestamp=timestamp, via=via, **fields,
        )
        return self.assignments[assignment_id]

    def accept(
        self, assignment_id: UUID, *, actor: str, timestamp: datetime | None = None,
        via: str | None = None, **fields: Any,
    ) -> Assignment:
        assignment = self._on(assignment_id, "accept", (ASSIGNED,))
        self.trigger_event(
            self.Accepted, assignment_id=assignment_id, engineer_id=assignment.engineer_id,
            actor=actor, timestamp=timestamp, via=via, **fields,
        )
        return assignment

    def reject(
        self, assignment_id: UUID, *, actor: str, timestamp: datetime | None = None,
        via: str | None = None, **fields: Any,
    ) -> Assignment:
        assignment = self._on(assignment_id, "reject", (ASSIGNED,))
        self.trigger_event(
            self.Rejected, assignment_id=assignment_id, engineer_id=assignment.engineer_id,
            actor=actor, timestamp=timestamp, via=via, **fields,
        )
        return assignment

    def start(
        self, assignment_id: UUID, *, actor: str, timestamp: datetime | None = None,
        via: str | None = None, **fields: Any,
    ) -> Assignment:
        assignment = self._on(assignment_id, "start", (ACCEPTED,))
        self.trigger_event(
            self.Started, assignment_id=assignment_id, engineer_id=assignment.engineer_id,
            actor=actor, timestamp=timestamp, via=via, **fields,
        )
        return assignment

    def complete(
        self, assignment_id: UUID, *, actor: str, timestamp: datetime | None = None,
        via: str | None = None, **fields: Any,
    ) -> Assignment:
        assignment = self._on(assignment_id, "complete", (ACCEPTED, IN_PROGRESS))
        self.trigger_event(
            self.Completed, assignment_id=assignment_id, engineer_id=assignment.engineer_id,
            actor=actor, timestamp=timestamp, via=via, **fields,
        )
        return assignment

    def escalate(
        self, *, new_assignment_id: UUID, next_engineer_id: str, actor: str,
        next_tier_name: str | None = None, timestamp: datetime | None = None,
        via: str | None = None, qualification: QualificationCheck | None = None, **fields: Any,
    ) -> Assignment:
        self.check_not_closed()
        current = self.check_has_active_assignment()
        tier = current.tier + 1
        fields.update(self.check_qualified(qualification, tier))
        self.trigger_event(
            self.Escalated, assignment_id=current.id, engineer_id=current.engineer_id,
            new_assignment_id=new_assignment_id, sequence=self.next_sequence,
            new_engineer_id=next_engineer_id, tier=tier,
            tier_name=next_tier_name or default_tier_name(tier),
            equipment_id=current.equipment_id or self.equipment_id,
            actor=actor, timestamp=timestamp, via=via, **fields,
        )
        return self.assignments[new_assignment_id]

    def reassign(
        self, assignment_id: UUID, *, new_assignment_id: UUID, new_engineer_id: str,
        actor: str, timestamp: datetime | None = None, via: str | None = None,
        qualification: QualificationCheck | None = None, **fields: Any,
    ) -> Assignment:
        current = self._on(assignment_id, "reassign", (ASSIGNED, ACCEPTED, IN_PROGRESS))
        self.check_other_engineer(current, new_engineer_id)
        fields.update(self.check_qualified(qualification, current.tier))
        self.trigger_event(
            self.Reassigned, assignment_id=current.id, engineer_id=current.engineer_id,
            new_assignment_id=new_assignment_id, sequence=self.next_sequence,
            new_engineer_id=new_engineer_id, tier=current.tier, tier_name=current.tier_name,
            equipment_id=current.equipment_id or self.equipment_id,
            actor=actor, timestamp=timestamp, via=via, **fields,
        )
        return self.assignments[new_assignment_id]

    def remove(
        self, assignment_id: UUID, *, actor: str, timestamp: datetime | None = None,
        via: str | None = None, **fields: Any,
    ) -> Assignment:
        assignment = self._on(assignment_id, "remove", (ASSIGNED, ACCEPTED, IN_PROGRESS))
        self.trigger_event(
            self.Removed, assignment_id=assignment_id, engineer_id=assignment.engineer_id,
            actor=actor, timestamp=timestamp, via=via, **fields,
        )
        return assignment

    def close(
        self, *, actor: str, timestamp: datetime | None = None, via: str | None = None,
        **fields: Any,
    ) -> None:
        self.check_not_closed()
        active = self.active_assignment
        if active is not None:
            msg = (
                f"Ticket {self.id} has an active assignment {active.id} "
                f"({active.status}); complete or remove it before closing."
            )
            raise TicketNotClosableError(msg)
        self.trigger_event(self.Closed, actor=actor, timestamp=timestamp, via=via, **fields)

    def reopen(
        self, *, actor: str, timestamp: datetime | None = None, via: str | None = None,
        **fields: Any,
    ) -> None:
        if not (self.closed or self.resolved):
            msg = f"Ticket {self.id} is {self.status}; only resolved or closed tickets reopen."
            raise TicketNotReopenableError(msg)
        self.trigger_event(self.Reopened, actor=actor, timestamp=timestamp, via=via, **fields)

    # ------------------------------------------------------------------ applied by events

    def _add(self, assignment: Assignment) -> None:
        self.assignments[assignment.id] = assignment
        self.active_id = assignment.id

    def _end(self, assignment_id: UUID, status: str) -> None:
        self.assignments[assignment_id].status = status
        if self.active_id == assignment_id:
            self.active_id = None

