"""The write-side model: ``Ticket`` and ``Engineer`` aggregates.

Each public command method checks its rules (``check_*``) first and only then
triggers its event through a private ``@event``-decorated method. The decorated
bodies only apply state, so replaying history never re-runs a rule: a rule
tightened tomorrow cannot make yesterday's stream unloadable. Events are
self-describing (an ``Escalated`` names the engineer it left and the one it went
to), so projections fold them without looking anything up.

Every event records ``actor``; ``timestamp`` is optional on commands so that an
importer can record original times (it defaults to now).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

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

ASSIGNED = "assigned"
ACCEPTED = "accepted"
IN_PROGRESS = "in_progress"
COMPLETED = "completed"
REJECTED = "rejected"
ESCALATED = "escalated"
REASSIGNED = "reassigned"
REMOVED = "removed"
FAILED = "failed"
ACTIVE_STATUSES = frozenset({ASSIGNED, ACCEPTED, IN_PROGRESS})
ASSIGNMENT_STATUSES = (
    ASSIGNED,
    ACCEPTED,
    IN_PROGRESS,
    COMPLETED,
    REJECTED,
    ESCALATED,
    REASSIGNED,
    REMOVED,
    FAILED,
)
TICKET_STATUSES = ("open", "assigned", "in_progress", "resolved", "closed")
PRIORITIES = ("low", "medium", "high", "critical")
COMPLETION_STATUSES = (
    "success",
    "failed",
    "escalated",
    "parts_required",
    "customer_unavailable",
)
ASSIGNMENT_TYPES = ("manual", "auto")

_ENGINEER_NAMESPACE = uuid5(NAMESPACE_URL, "urn:assignment-ledger:engineer")


def engineer_aggregate_id(engineer_id: str) -> UUID:
    """The aggregate id of an engineer: a name-based UUID of its string id."""
    return uuid5(_ENGINEER_NAMESPACE, engineer_id)


def default_tier_name(tier: int) -> str:
    return f"L{tier}"


def ticket_status(
    *, closed: bool, resolved: bool, active_status: str | None
) -> str:
    """The ticket status follows from its assignments (seed 001, T3.2)."""
    if closed:
        return "closed"
    if active_status == IN_PROGRESS:
        return "in_progress"
    if active_status in (ASSIGNED, ACCEPTED):
        return "assigned"
    if resolved:
        return "resolved"
    return "open"


@dataclass
class Assignment:
    """One engineer's turn on a ticket, as the aggregate needs it for its rules."""

    id: UUID
    sequence: int
    engineer_id: str
    tier: int
    tier_name: str
    equipment_id: str | None = None
    status: str = ASSIGNED

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES


class Ticket(Aggregate):
    """A service ticket and its ordered assignments."""

    class Opened(Aggregate.Created):
        title: str
        description: str | None
        priority: str
        required_skill: str | None
        equipment_id: str | None
        reference: str | None
        actor: str
        via: str | None = None

    class Assigned(Aggregate.Event):
        assignment_id: UUID
        sequence: int
        engineer_id: str
        tier: int
        tier_name: str
        reason: str | None
        assignment_type: str
        equipment_id: str | None
        actor: str
        via: str | None = None

    class Accepted(Aggregate.Event):
        assignment_id: UUID
        engineer_id: str
        actor: str
        via: str | None = None

    class Rejected(Aggregate.Event):
        assignment_id: UUID
        engineer_id: str
        reason: str | None
        actor: str
        via: str | None = None

    class Started(Aggregate.Event):
        assignment_id: UUID
        engineer_id: str
        actor: str
        via: str | None = None

    class Escalated(Aggregate.Event):
        assignment_id: UUID
        engineer_id: str
        reason: str
        new_assignment_id: UUID
        sequence: int
        new_engineer_id: str
        tier: int
        tier_name: str
        equipment_id: str | None
        actor: str
        via: str | None = None

    class Reassigned(Aggregate.Event):
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

    class Removed(Aggregate.Event):
        assignment_id: UUID
        engineer_id: str
        reason: str | None
        actor: str
        via: str | None = None

    class Completed(Aggregate.Event):
        assignment_id: UUID
        engineer_id: str
        completion_status: str
        time_spent_hours: float
        diagnosis: str | None
        actions_taken: str | None
        parts_used: list[dict[str, Any]] | None
        customer_rating: int | None
        customer_feedback: str | None
        actor: str
        via: str | None = None

    class Closed(Aggregate.Event):
        reason: str | None
        actor: str
        via: str | None = None

    class Reopened(Aggregate.Event):
        reason: str | None
        actor: str
        via: str | None = None

    # ------------------------------------------------------------------ creation

    @event(Opened)
    def __init__(
        self,
        id: UUID,  # noqa: A002 - the aggregate id, named as eventsourcing expects
        title: str,
        description: str | None,
        priority: str,
        required_skill: str | None,
        equipment_id: str | None,
        reference: str | None,
        actor: str,
        timestamp: datetime | None = None,
        via: str | None = None,
    ) -> None:
        self.title = title
        self.description = description
        self.priority = priority
        self.required_skill = required_skill
        self.equipment_id = equipment_id
        self.reference = reference
        self.opened_by = actor
        self.closed = False
        self.resolved = False
        self.assignments: dict[UUID, Assignment] = {}
        self.active_id: UUID | None = None

    @classmethod
    def open(
        cls,
        *,
        ticket_id: UUID,
        title: str,
        actor: str,
        description: str | None = None,
        priority: str = "medium",
        required_skill: str | None = None,
        equipment_id: str | None = None,
        reference: str | None = None,
        timestamp: datetime | None = None,
        via: str | None = None,
    ) -> Ticket:
        return cls(
            id=ticket_id,
            title=title,
            description=description,
            priority=priority,
            required_skill=required_skill,
            equipment_id=equipment_id,
            reference=reference,
            actor=actor,
            timestamp=timestamp,
            via=via,
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

    # ------------------------------------------------------------------ commands

    def assign(
        self,
        *,
        assignment_id: UUID,
        engineer_id: str,
        tier: int,
        actor: str,
        tier_name: str | None = None,
        reason: str | None = None,
        assignment_type: str = "manual",
        equipment_id: str | None = None,
        timestamp: datetime | None = None,
        via: str | None = None,
    ) -> Assignment:
        self.check_assignable()
        self._assigned(
            assignment_id=assignment_id,
            sequence=self.next_sequence,
            engineer_id=engineer_id,
            tier=tier,
            tier_name=tier_name or default_tier_name(tier),
            reason=reason,
            assignment_type=assignment_type,
            equipment_id=equipment_id or self.equipment_id,
            actor=actor,
            timestamp=timestamp,
            via=via,
        )
        return self.assignments[assignment_id]

    def accept(
        self, assignment_id: UUID, *, actor: str, timestamp: datetime | None = None,
        via: str | None = None,
    ) -> Assignment:
        self.check_not_closed()
        assignment = self.assignment(assignment_id)
        self.check_transition(assignment, "accept", (ASSIGNED,))
        self._accepted(
            assignment_id=assignment_id,
            engineer_id=assignment.engineer_id,
            actor=actor,
            timestamp=timestamp,
            via=via,
        )
        return assignment

    def reject(
        self,
        assignment_id: UUID,
        *,
        reason: str | None,
        actor: str,
        timestamp: datetime | None = None,
        via: str | None = None,
    ) -> Assignment:
        self.check_not_closed()
        assignment = self.assignment(assignment_id)
        self.check_transition(assignment, "reject", (ASSIGNED,))
        self._rejected(
            assignment_id=assignment_id,
            engineer_id=assignment.engineer_id,
            reason=reason,
            actor=actor,
            timestamp=timestamp,
            via=via,
        )
        return assignment

    def start(
        self, assignment_id: UUID, *, actor: str, timestamp: datetime | None = None,
        via: str | None = None,
    ) -> Assignment:
        self.check_not_closed()
        assignment = self.assignment(assignment_id)
        self.check_transition(assignment, "start", (ACCEPTED,))
        self._started(
            assignment_id=assignment_id,
            engineer_id=assignment.engineer_id,
            actor=actor,
            timestamp=timestamp,
            via=via,
        )
        return assignment

    def complete(
        self,
        assignment_id: UUID,
        *,
        completion_status: str,
        time_spent_hours: float,
        actor: str,
        diagnosis: str | None = None,
        actions_taken: str | None = None,
        parts_used: list[dict[str, Any]] | None = None,
        customer_rating: int | None = None,
        customer_feedback: str | None = None,
        timestamp: datetime | None = None,
        via: str | None = None,
    ) -> Assignment:
        self.check_not_closed()
        assignment = self.assignment(assignment_id)
        self.check_transition(assignment, "complete", (ACCEPTED, IN_PROGRESS))
        self._completed(
            assignment_id=assignment_id,
            engineer_id=assignment.engineer_id,
            completion_status=completion_status,
            time_spent_hours=time_spent_hours,
            diagnosis=diagnosis,
            actions_taken=actions_taken,
            parts_used=parts_used,
            customer_rating=customer_rating,
            customer_feedback=customer_feedback,
            actor=actor,
            timestamp=timestamp,
            via=via,
        )
        return assignment

    def escalate(
        self,
        *,
        new_assignment_id: UUID,
        next_engineer_id: str,
        reason: str,
        actor: str,
        next_tier_name: str | None = None,
        timestamp: datetime | None = None,
        via: str | None = None,
    ) -> Assignment:
        self.check_not_closed()
        current = self.check_has_active_assignment()
        tier = current.tier + 1
        self._escalated(
            assignment_id=current.id,
            engineer_id=current.engineer_id,
            reason=reason,
            new_assignment_id=new_assignment_id,
            sequence=self.next_sequence,
            new_engineer_id=next_engineer_id,
            tier=tier,
            tier_name=next_tier_name or default_tier_name(tier),
            equipment_id=current.equipment_id or self.equipment_id,
            actor=actor,
            timestamp=timestamp,
            via=via,
        )
        return self.assignments[new_assignment_id]

    def reassign(
        self,
        assignment_id: UUID,
        *,
        new_assignment_id: UUID,
        new_engineer_id: str,
        reason: str | None,
        actor: str,
        timestamp: datetime | None = None,
        via: str | None = None,
    ) -> Assignment:
        self.check_not_closed()
        current = self.assignment(assignment_id)
        self.check_transition(current, "reassign", (ASSIGNED, ACCEPTED, IN_PROGRESS))
        self.check_other_engineer(current, new_engineer_id)
        self._reassigned(
            assignment_id=current.id,
            engineer_id=current.engineer_id,
            reason=reason,
            new_assignment_id=new_assignment_id,
            sequence=self.next_sequence,
            new_engineer_id=new_engineer_id,
            tier=current.tier,
            tier_name=current.tier_name,
            equipment_id=current.equipment_id or self.equipment_id,
            actor=actor,
            timestamp=timestamp,
            via=via,
        )
        return self.assignments[new_assignment_id]

    def remove(
        self,
        assignment_id: UUID,
        *,
        reason: str | None,
        actor: str,
        timestamp: datetime | None = None,
        via: str | None = None,
    ) -> Assignment:
        self.check_not_closed()
        assignment = self.assignment(assignment_id)
        self.check_transition(assignment, "remove", (ASSIGNED, ACCEPTED, IN_PROGRESS))
        self._removed(
            assignment_id=assignment_id,
            engineer_id=assignment.engineer_id,
            reason=reason,
            actor=actor,
            timestamp=timestamp,
            via=via,
        )
        return assignment

    def close(
        self, *, reason: str | None, actor: str, timestamp: datetime | None = None,
        via: str | None = None,
    ) -> None:
        self.check_not_closed()
        active = self.active_assignment
        if active is not None:
            msg = (
                f"Ticket {self.id} has an active assignment {active.id} "
                f"({active.status}); complete or remove it before closing."
            )
            raise TicketNotClosableError(msg)
        self._closed(reason=reason, actor=actor, timestamp=timestamp, via=via)

    def reopen(
        self, *, reason: str | None, actor: str, timestamp: datetime | None = None,
        via: str | None = None,
    ) -> None:
        if not (self.closed or self.resolved):
            msg = f"Ticket {self.id} is {self.status}; only resolved or closed tickets reopen."
            raise TicketNotReopenableError(msg)
        self._reopened(reason=reason, actor=actor, timestamp=timestamp, via=via)

    # ------------------------------------------------------------------ appliers

    def _add(self, assignment: Assignment) -> None:
        self.assignments[assignment.id] = assignment
        self.active_id = assignment.id

    def _end(self, assignment_id: UUID, status: str) -> None:
        self.assignments[assignment_id].status = status
        if self.active_id == assignment_id:
            self.active_id = None

    @event(Assigned)
    def _assigned(
        self,
        assignment_id: UUID,
        sequence: int,
        engineer_id: str,
        tier: int,
        tier_name: str,
        reason: str | None,
        assignment_type: str,
        equipment_id: str | None,
        actor: str,
        timestamp: datetime | None = None,
        via: str | None = None,
    ) -> None:
        self._add(
            Assignment(assignment_id, sequence, engineer_id, tier, tier_name, equipment_id)
        )

    @event(Accepted)
    def _accepted(
        self,
        assignment_id: UUID,
        engineer_id: str,
        actor: str,
        timestamp: datetime | None = None,
        via: str | None = None,
    ) -> None:
        self.assignments[assignment_id].status = ACCEPTED

    @event(Rejected)
    def _rejected(
        self,
        assignment_id: UUID,
        engineer_id: str,
        reason: str | None,
        actor: str,
        timestamp: datetime | None = None,
        via: str | None = None,
    ) -> None:
        self._end(assignment_id, REJECTED)

    @event(Started)
    def _started(
        self,
        assignment_id: UUID,
        engineer_id: str,
        actor: str,
        timestamp: datetime | None = None,
        via: str | None = None,
    ) -> None:
        self.assignments[assignment_id].status = IN_PROGRESS

    @event(Completed)
    def _completed(
        self,
        assignment_id: UUID,
        engineer_id: str,
        completion_status: str,
        time_spent_hours: float,
        diagnosis: str | None,
        actions_taken: str | None,
        parts_used: list[dict[str, Any]] | None,
        customer_rating: int | None,
        customer_feedback: str | None,
        actor: str,
        timestamp: datetime | None = None,
        via: str | None = None,
    ) -> None:
        self._end(assignment_id, FAILED if completion_status == "failed" else COMPLETED)
        if completion_status == "success":
            self.resolved = True

    @event(Escalated)
    def _escalated(
        self,
        assignment_id: UUID,
        engineer_id: str,
        reason: str,
        new_assignment_id: UUID,
        sequence: int,
        new_engineer_id: str,
        tier: int,
        tier_name: str,
        equipment_id: str | None,
        actor: str,
        timestamp: datetime | None = None,
        via: str | None = None,
    ) -> None:
        self._end(assignment_id, ESCALATED)
        self._add(
            Assignment(new_assignment_id, sequence, new_engineer_id, tier, tier_name, equipment_id)
        )

    @event(Reassigned)
    def _reassigned(
        self,
        assignment_id: UUID,
        engineer_id: str,
        reason: str | None,
        new_assignment_id: UUID,
        sequence: int,
        new_engineer_id: str,
        tier: int,
        tier_name: str,
        equipment_id: str | None,
        actor: str,
        timestamp: datetime | None = None,
        via: str | None = None,
    ) -> None:
        self._end(assignment_id, REASSIGNED)
        self._add(
            Assignment(new_assignment_id, sequence, new_engineer_id, tier, tier_name, equipment_id)
        )

    @event(Removed)
    def _removed(
        self,
        assignment_id: UUID,
        engineer_id: str,
        reason: str | None,
        actor: str,
        timestamp: datetime | None = None,
        via: str | None = None,
    ) -> None:
        self._end(assignment_id, REMOVED)

    @event(Closed)
    def _closed(
        self, reason: str | None, actor: str, timestamp: datetime | None = None,
        via: str | None = None,
    ) -> None:
        self.closed = True

    @event(Reopened)
    def _reopened(
        self, reason: str | None, actor: str, timestamp: datetime | None = None,
        via: str | None = None,
    ) -> None:
        self.closed = False
        self.resolved = False


class Engineer(Aggregate):
    """A field or help-desk engineer who can hold assignments (seed 004 ``developers``)."""

    class Registered(Aggregate.Created):
        """v2: ``skills`` is a list. v1 stored them as one comma-separated text, as
        seed 004's ``developers.skills TEXT`` column does."""

        class_version = 2

        engineer_id: str
        name: str
        skills: list[str]
        tier: int
        capacity: int
        availability: float
        actor: str
        via: str | None = None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            skills = state.get("skills")
            if isinstance(skills, str):
                state["skills"] = [s.strip() for s in skills.split(",") if s.strip()]
            elif skills is None:
                state["skills"] = []

    class Updated(Aggregate.Event):
        engineer_id: str
        changes: dict[str, Any]
        actor: str
        via: str | None = None

    @event(Registered)
    def __init__(
        self,
        id: UUID,  # noqa: A002
        engineer_id: str,
        name: str,
        skills: list[str],
        tier: int,
        capacity: int,
        availability: float,
        actor: str,
        timestamp: datetime | None = None,
        via: str | None = None,
    ) -> None:
        self.engineer_id = engineer_id
        self.name = name
        self.skills = list(skills)
        self.tier = tier
        self.capacity = capacity
        self.availability = availability
        self.active = True

    @classmethod
    def register(
        cls,
        *,
        engineer_id: str,
        name: str,
        actor: str,
        skills: list[str] | None = None,
        tier: int = 1,
        capacity: int = 1,
        availability: float = 1.0,
        timestamp: datetime | None = None,
        via: str | None = None,
    ) -> Engineer:
        return cls(
            id=engineer_aggregate_id(engineer_id),
            engineer_id=engineer_id,
            name=name,
            skills=list(skills or []),
            tier=tier,
            capacity=capacity,
            availability=availability,
            actor=actor,
            timestamp=timestamp,
            via=via,
        )

    UPDATABLE = ("name", "skills", "tier", "capacity", "availability", "active")

    def update(
        self, *, changes: dict[str, Any], actor: str, timestamp: datetime | None = None,
        via: str | None = None,
    ) -> bool:
        """Records only the fields that really change; returns whether any did."""
        effective = {
            key: value
            for key, value in changes.items()
            if key in self.UPDATABLE and getattr(self, key) != value
        }
        if not effective:
            return False
        self._updated(
            engineer_id=self.engineer_id, changes=effective, actor=actor, timestamp=timestamp,
            via=via,
        )
        return True

    @event(Updated)
    def _updated(
        self,
        engineer_id: str,
        changes: dict[str, Any],
        actor: str,
        timestamp: datetime | None = None,
        via: str | None = None,
    ) -> None:
        for key, value in changes.items():
            setattr(self, key, value)
