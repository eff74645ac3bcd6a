"""The ledger's choice of engineer, for auto-assign and proposals alike: the
one scorer (``ledger.autoassign.choose``) fed from the read side.

A ``Planner`` reads each tier's roster once. For a batch (``POST /proposals``)
it also books each pick into its copy of the roster, so one batch never plans
an engineer beyond capacity and ties keep going round: a booked engineer
counts one more open assignment and becomes the most recently assigned.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

from ledger import autoassign
from ledger.autoassign import Candidate, Pick
from ledger.domain import COMPLETED, REJECTED, Ticket
from ledger.qualification import TicketNeeds
from projections.proposal_queries import ProposalQueries
from projections.store import ReadStore

#: Sorts after every RFC 3339 timestamp: an engineer booked in this batch is
#: more recently assigned than any recorded assignment.
_BOOKED = "~"


class Planner:
    """Picks engineers for tickets on one snapshot of the read side's roster."""

    def __init__(self, store: ReadStore, on: date | None = None) -> None:
        self.queries = ProposalQueries(store)
        #: The day certifications are judged on (today in UTC).
        self.on = on or datetime.now(UTC).date()
        self._rosters: dict[int, list[Candidate]] = {}
        self._booked = 0

    def next_tier(self, ticket: Ticket) -> int:
        """The tier of the ticket's next assignment (``autoassign.next_tier``):
        the latest one's outcome read from its row when it was completed."""
        ordered = sorted(ticket.assignments.values(), key=lambda a: a.sequence)
        outcomes: dict[str, Any] = {}
        if ordered and ordered[-1].status == COMPLETED:
            outcomes = self.queries.completion_statuses([ordered[-1].id])
        return autoassign.next_tier(
            autoassign.Previous(a.sequence, a.tier, a.status, outcomes.get(str(a.id)))
            for a in ordered
        )

    def choose(self, ticket: Ticket, tier: int, note: str | None = None) -> Pick:
        """The best qualified engineer for ``ticket`` at ``tier``, with the
        scoring's reason (``NoEligibleEngineerError``: none qualifies)."""
        pick = autoassign.choose(
            self._roster(tier), needs=TicketNeeds.of(ticket, tier), on=self.on,
            rejected_by={a.engineer_id for a in ticket.assignments.values()
                         if a.status == REJECTED},
            ticket=f"ticket {ticket.id}",
        )
        return replace(pick, reason=f"{pick.reason}; note: {note}") if note else pick

    def book(self, pick: Pick) -> None:
        """Counts ``pick`` in this planner's rosters (a batch's earlier picks;
        an engineer is on the roster of every tier up to theirs)."""
        self._booked += 1
        for tier, roster in self._rosters.items():
            self._rosters[tier] = [
                replace(c, open_assignments=c.open_assignments + 1,
                        last_assigned_at=f"{_BOOKED}{self._booked:09d}")
                if c.engineer_id == pick.engineer_id else c
                for c in roster
            ]

    def _roster(self, tier: int) -> list[Candidate]:
        if tier not in self._rosters:
            self._rosters[tier] = self.queries.roster(tier)
        return self._rosters[tier]
