"""A ticket's proposals: the ledger's suggestion of an engineer, with its
reasons, and the dispatcher's decision on it (seed 004: suggest, then approve).

``Ticket`` inherits ``TicketProposals``: the commands here and the events they
record, which eventsourcing redefines on ``Ticket`` under their explicit topics
(``ledger.domain:Ticket.Proposed``), so they live in the ticket's stream
beside its assignments and an auditor reads who approved which suggestion, on
what reasons, and who overrode it.

Approving records two events in one save: ``ProposalApproved`` (the decision:
who, which proposal, any override) then the ordinary ``Assigned`` (the work).
One event would have made every fold of assignments (the assignment rows, the
engineers' load, SLA clocks, intervals, metrics, the legacy export) learn a
second way an assignment starts; two events in one save are stored in one
transaction, so neither exists without the other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID

from eventsourcing.domain import Aggregate

from ledger.errors import ProposalNotFoundError, ProposalNotPendingError

if TYPE_CHECKING:
    from ledger.assignment import Assignment
    from ledger.qualification import QualificationCheck

#: Where stored events name these classes (as ``Ticket``'s own).
TOPIC_PREFIX = "ledger.domain:Ticket"

PENDING = "pending"
APPROVED = "approved"
REJECTED = "rejected"
SUPERSEDED = "superseded"
STALE = "stale"
PROPOSAL_STATUSES = (PENDING, APPROVED, REJECTED, SUPERSEDED, STALE)


@dataclass
class ProposalState:
    """What a ticket's rules need of one of its proposals."""

    id: UUID
    engineer_id: str
    tier: int
    score: float
    reasons: list[str] = field(default_factory=list)
    status: str = PENDING


class ProposalEnded(Aggregate.Event):
    """A pending proposal ended without an assignment (as ``ended_as``):
    rejected, or found stale. ``engineer_id``: who was proposed."""

    proposal_id: UUID
    engineer_id: str
    reason: str
    actor: str
    via: str | None = None

    ended_as: ClassVar[str]

    def apply(self, ticket: TicketProposals) -> None:
        ticket.proposals[self.proposal_id].status = self.ended_as


class TicketProposals:
    """The proposal commands of ``Ticket`` (a mixin: ticket.py holds the rest)."""

    if TYPE_CHECKING:  # Ticket's own
        id: UUID

        def trigger_event(self, event_class: type[Any], **kwargs: Any) -> None: ...
        def check_assignable(self) -> None: ...
        def check_qualified(
            self, check: QualificationCheck | None, tier: int) -> dict[str, Any]: ...
        def assign(self, **kwargs: Any) -> Assignment: ...

    class Proposed(Aggregate.Event):
        TOPIC = f"{TOPIC_PREFIX}.Proposed"
        proposal_id: UUID
        engineer_id: str
        tier: int
        score: float
        reasons: list[str]
        actor: str
        via: str | None = None

        def apply(self, ticket: TicketProposals) -> None:
            ticket.proposals[self.proposal_id] = ProposalState(
                self.proposal_id, self.engineer_id, self.tier, self.score, list(self.reasons)
            )

    class ProposalSuperseded(Aggregate.Event):
        TOPIC = f"{TOPIC_PREFIX}.ProposalSuperseded"
        proposal_id: UUID
        by_proposal_id: UUID
        actor: str
        via: str | None = None

        def apply(self, ticket: TicketProposals) -> None:
            ticket.proposals[self.proposal_id].status = SUPERSEDED

    class ProposalApproved(Aggregate.Event):
        """``engineer_id``: who got the assignment; ``proposed_engineer_id``:
        who was suggested (they differ when the approver chose someone else)."""

        TOPIC = f"{TOPIC_PREFIX}.ProposalApproved"
        proposal_id: UUID
        assignment_id: UUID
        engineer_id: str
        proposed_engineer_id: str
        actor: str
        via: str | None = None
        reason: str | None = None
        override_reason: str | None = None

        def apply(self, ticket: TicketProposals) -> None:
            ticket.proposals[self.proposal_id].status = APPROVED

    class ProposalRejected(ProposalEnded):
        TOPIC = f"{TOPIC_PREFIX}.ProposalRejected"
        ended_as = REJECTED

    class ProposalStale(ProposalEnded):
        """An approval came after the ticket stopped being assignable;
        ``reason`` says why (the rule that refused it)."""

        TOPIC = f"{TOPIC_PREFIX}.ProposalStale"
        ended_as = STALE

    # ------------------------------------------------------------------ state

    @property
    def proposals(self) -> dict[UUID, ProposalState]:
        """Every proposal made for the ticket, by id (tickets opened before
        proposals existed have none until their first)."""
        return self.__dict__.setdefault("_proposals", {})  # type: ignore[no-any-return]

    @property
    def pending_proposal(self) -> ProposalState | None:
        for proposal in self.proposals.values():
            if proposal.status == PENDING:
                return proposal
        return None

    def check_pending(self, proposal_id: UUID) -> ProposalState:
        proposal = self.proposals.get(proposal_id)
        if proposal is None:
            msg = f"Proposal {proposal_id} is not on ticket {self.id}."
            raise ProposalNotFoundError(msg)
        if proposal.status != PENDING:
            msg = f"Proposal {proposal_id} is {proposal.status}; only a pending one is decided."
            raise ProposalNotPendingError(msg)
        return proposal

    # ------------------------------------------------------------------ commands

    def propose(
        self, *, proposal_id: UUID, engineer_id: str, tier: int, score: float,
        reasons: list[str], actor: str, timestamp: datetime | None = None,
        via: str | None = None, **fields: Any,
    ) -> ProposalState:
        """Suggests ``engineer_id`` for an assignable ticket; a pending
        proposal is superseded by it first (a ticket has at most one pending)."""
        self.check_assignable()
        previous = self.pending_proposal
        if previous is not None:
            self.trigger_event(
                self.ProposalSuperseded, proposal_id=previous.id, by_proposal_id=proposal_id,
                actor=actor, timestamp=timestamp, via=via,
            )
        self.trigger_event(
            self.Proposed, proposal_id=proposal_id, engineer_id=engineer_id, tier=tier,
            score=score, reasons=list(reasons), actor=actor, timestamp=timestamp, via=via,
            **fields,
        )
        return self.proposals[proposal_id]

    def approve_proposal(
        self, proposal_id: UUID, *, assignment_id: UUID, actor: str,
        engineer_id: str | None = None, reason: str | None = None,
        override_reason: str | None = None, timestamp: datetime | None = None,
        via: str | None = None, qualification: QualificationCheck | None = None,
        **fields: Any,
    ) -> Assignment:
        """Approves a pending proposal and assigns: type ``auto`` to the
        proposed engineer, ``manual`` when ``engineer_id`` names another (the
        assignment's reason says so). ``qualification``: the check of the
        engineer assigned (the one rule, under the ledger's policy), judged
        before anything is recorded. ``fields``: ``Assigned``'s others."""
        proposal = self.check_pending(proposal_id)
        self.check_assignable()
        checked = self.check_qualified(qualification, proposal.tier)
        chosen = engineer_id or proposal.engineer_id
        overridden = chosen != proposal.engineer_id
        self.trigger_event(
            self.ProposalApproved, proposal_id=proposal_id, assignment_id=assignment_id,
            engineer_id=chosen, proposed_engineer_id=proposal.engineer_id, reason=reason,
            override_reason=override_reason, actor=actor, timestamp=timestamp, via=via,
        )
        if overridden:
            text = (
                f"proposal {proposal_id} approved with {chosen} instead of the proposed "
                f"{proposal.engineer_id}"
            )
        else:
            text = f"proposal {proposal_id} approved: {'; '.join(proposal.reasons)}"
        notes = [n for n in (reason, override_reason and f"override: {override_reason}") if n]
        if notes:
            text += f"; note: {'; '.join(notes)}"
        return self.assign(
            assignment_id=assignment_id, engineer_id=chosen, tier=proposal.tier,
            reason=text, assignment_type="manual" if overridden else "auto", actor=actor,
            timestamp=timestamp, via=via, override_reason=override_reason, **checked, **fields,
        )

    def reject_proposal(
        self, proposal_id: UUID, *, reason: str, actor: str,
        timestamp: datetime | None = None, via: str | None = None,
    ) -> ProposalState:
        return self._end_proposal(self.ProposalRejected, proposal_id, reason, actor, timestamp, via)

    def mark_proposal_stale(
        self, proposal_id: UUID, *, reason: str, actor: str,
        timestamp: datetime | None = None, via: str | None = None,
    ) -> ProposalState:
        return self._end_proposal(self.ProposalStale, proposal_id, reason, actor, timestamp, via)

    def _end_proposal(
        self, event: type[Any], proposal_id: UUID, reason: str, actor: str,
        timestamp: datetime | None, via: str | None,
    ) -> ProposalState:
        proposal = self.check_pending(proposal_id)
        self.trigger_event(
            event, proposal_id=proposal_id, engineer_id=proposal.engineer_id,
            reason=reason, actor=actor, timestamp=timestamp, via=via,
        )
        return proposal
