"""``Transfer``: the common base of ``Ticket.Escalated`` and ``Ticket.Reassigned``
(an assignment handed to another engineer). Not stored under its own name: the
two events name their own topics."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar
from uuid import UUID

from eventsourcing.domain import Aggregate

from ledger.assignment import Assignment

if TYPE_CHECKING:
    from ledger.ticket import Ticket


class Transfer(Aggregate.Event):
    """An assignment transferred to another engineer: the current one ends (as
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
