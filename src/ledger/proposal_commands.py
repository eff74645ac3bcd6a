"""The ``Ledger`` commands on proposals (``ledger.proposal``): propose, approve,
reject. A mixin that ``Ledger`` inherits, so application.py names it once.

Each is a job on the proposal's ticket, like every ticket command. Approving
as proposed reserves a slot of the engineer's capacity in the same save
(``ledger.reservations``); approving with another engineer is the approver's
own choice, a manual assignment, and reserves nothing (it counts toward load
as any manual assignment does)."""

from __future__ import annotations

from collections.abc import Collection
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any
from uuid import UUID

from ledger.errors import ConflictError, ProposalStaleError
from ledger.executor import Job
from ledger.ids import new_id
from ledger.reservations import RESERVING_RETRIES, Reservations
from ledger.results import CommandResult, ticket_result

if TYPE_CHECKING:
    from eventsourcing.persistence import Recording

    from ledger.assignment import Assignment
    from ledger.qualification import EngineerFacts, QualificationCheck
    from ledger.ticket import Ticket


def _no_assignment(ticket: Any, _proposal: Any, saved: list[Recording[UUID]]) -> CommandResult:
    return ticket_result(ticket, None, saved)


class ProposalCommands(Reservations):
    """``propose``, ``approve_proposal``, ``reject_proposal`` (and ``auto_assign``,
    inherited: both assign an engineer the ledger chose)."""

    if TYPE_CHECKING:  # Ledger's own (ledger.dispatch_commands)
        def qualification_check(
            self, facts: EngineerFacts, override_reason: str | None = None,
        ) -> QualificationCheck: ...

    def propose(
        self, ticket_id: UUID, *, engineer_id: str, tier: int, score: float,
        reasons: list[str], actor: str, proposal_id: UUID | None = None, **fields: Any,
    ) -> Future[CommandResult]:
        """Records a proposal (superseding the ticket's pending one); refused
        (409) when the ticket is closed, resolved or actively assigned."""
        new_proposal = proposal_id or new_id()
        return self._pipeline.submit(Job(
            ticket_id,
            lambda t: t.propose(
                proposal_id=new_proposal, engineer_id=engineer_id, tier=tier, score=score,
                reasons=reasons, actor=actor, **fields,
            ),
            answer=_no_assignment,
        ))

    def reject_proposal(
        self, ticket_id: UUID, proposal_id: UUID, *, reason: str, actor: str,
        expected_version: int | None = None, **fields: Any,
    ) -> Future[CommandResult]:
        return self._pipeline.submit(Job(
            ticket_id,
            lambda t: t.reject_proposal(proposal_id, reason=reason, actor=actor, **fields),
            expected_version, answer=_no_assignment,
        ))

    def approve_proposal(
        self, ticket_id: UUID, proposal_id: UUID, *, actor: str,
        engineer_id: str | None = None, expected_version: int | None = None,
        open_assignment_ids: Collection[UUID] = (), proposed_engineer_id: str | None = None,
        **fields: Any,
    ) -> Future[CommandResult]:
        """Approves and assigns (``Ticket.approve_proposal``). When the ticket
        can no longer be assigned (an active assignment, closed, resolved), the
        proposal is recorded ``stale`` and the future fails with
        ``ProposalStaleError`` (409). ``proposed_engineer_id`` (the proposal's,
        when the caller knows it) puts an approval as proposed in line behind
        this process's other reservations for that engineer. ``fields``:
        ``reason``, ``override_reason`` and ``Assigned``'s others."""
        assignment_id = new_id()
        stale: list[ConflictError] = []

        def command(t: Ticket) -> Assignment | None:
            stale.clear()
            proposal = t.check_pending(proposal_id)
            try:
                t.check_assignable()
            except ConflictError as e:
                t.mark_proposal_stale(proposal_id, reason=e.detail, actor=actor)
                stale.append(e)
                return None
            chosen = engineer_id or proposal.engineer_id
            facts = self.require_active_engineer(chosen)
            if chosen == proposal.engineer_id:
                self.reserve(
                    job, t, engineer_id=chosen, assignment_id=assignment_id,
                    actor=actor, open_assignment_ids=open_assignment_ids,
                )
            return t.approve_proposal(
                proposal_id, assignment_id=assignment_id, engineer_id=engineer_id,
                actor=actor,
                qualification=self.qualification_check(facts, fields.get("override_reason")),
                **fields,
            )

        def answer(
            ticket: Ticket, assignment: Assignment | None, saved: list[Recording[UUID]]
        ) -> CommandResult:
            if stale:
                msg = f"Proposal {proposal_id} is stale (recorded as such): {stale[0].detail}"
                raise ProposalStaleError(msg, saved[-1].notification.id if saved else 0)
            return ticket_result(ticket, assignment, saved)

        other = engineer_id
        job = Job(
            ticket_id, command, expected_version,
            check=(lambda: self.require_active_engineer(other)) if other else None,
            answer=answer, retries=RESERVING_RETRIES,
        )
        if proposed_engineer_id and engineer_id in (None, proposed_engineer_id):
            return self.reserving(proposed_engineer_id, job)
        return self._pipeline.submit(job)
