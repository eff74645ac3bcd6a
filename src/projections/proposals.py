"""``proposals``: one row per proposal, as it was made and as it was decided;
also how a proposal id finds its ticket."""

from __future__ import annotations

from typing import Any

from ledger.domain import Ticket
from ledger.proposal import APPROVED, PENDING, REJECTED, STALE, SUPERSEDED
from projections.base import Handler, KeyRule, Projection, Rows, row_of
from projections.tables import Column, Table, sid, ts


class ProposalsProjection(Projection):
    """``proposals``: each suggestion of an engineer for a ticket, its reasons,
    and its decision (who, when, why; the assignment an approval made)."""

    name = "proposals"
    version = 1
    table = Table(
        "proposals",
        (
            Column("id", "uuid", True),
            Column("ticket_id", "uuid", True),
            Column("engineer_id", "text", True),
            Column("tier", "int", True),
            Column("score", "float", True),
            Column("reasons", "json", True),
            Column("status", "text", True),
            Column("proposed_at", "ts", True),
            Column("proposed_by", "text", True),
            Column("proposed_position", "int", True),
            Column("decided_at", "ts"),
            Column("decided_by"),
            Column("decision_reason"),
            Column("assignment_id", "uuid"),
        ),
        key=("id",),
        indexes=(
            ("proposed_position",), ("status", "proposed_position"), ("ticket_id",),
            ("engineer_id", "proposed_position"),
        ),
        fresh_keys=True,
    )
    tables = (table,)

    def key_rules(self) -> dict[type, KeyRule]:
        decided = row_of(self.table, "proposal_id")
        return {
            Ticket.ProposalSuperseded: decided,
            Ticket.ProposalApproved: decided,
            Ticket.ProposalRejected: decided,
            Ticket.ProposalStale: decided,
        }

    def create_rules(self) -> dict[type, KeyRule]:
        return {Ticket.Proposed: row_of(self.table, "proposal_id")}

    def handlers(self) -> dict[type, Handler]:
        return {
            Ticket.Proposed: self._proposed,
            Ticket.ProposalSuperseded: self._decided(
                SUPERSEDED, lambda e: f"superseded by proposal {e.by_proposal_id}"),
            Ticket.ProposalApproved: self._decided(APPROVED, _approval_reason),
            Ticket.ProposalRejected: self._decided(REJECTED, lambda e: e.reason),
            Ticket.ProposalStale: self._decided(STALE, lambda e: e.reason),
        }

    def _proposed(self, e: Any, position: int, rows: Rows) -> None:
        rows.put(self.table, {
            "id": sid(e.proposal_id), "ticket_id": sid(e.originator_id),
            "engineer_id": e.engineer_id, "tier": e.tier, "score": e.score,
            "reasons": list(e.reasons), "status": PENDING, "proposed_at": ts(e.timestamp),
            "proposed_by": e.actor, "proposed_position": position, "decided_at": None,
            "decided_by": None, "decision_reason": None, "assignment_id": None,
        })

    def _decided(self, status: str, why: Any) -> Handler:
        def handler(e: Any, position: int, rows: Rows) -> None:
            assignment = getattr(e, "assignment_id", None)
            rows.patch(
                self.table, (sid(e.proposal_id),), status=status, decided_at=ts(e.timestamp),
                decided_by=e.actor, decision_reason=why(e),
                assignment_id=sid(assignment) if assignment else None,
            )

        return handler


def _approval_reason(e: Any) -> str | None:
    """The approver's reason, saying first when they chose another engineer."""
    parts = []
    if e.engineer_id != e.proposed_engineer_id:
        parts.append(f"approved with {e.engineer_id} instead of {e.proposed_engineer_id}")
    if e.reason:
        parts.append(e.reason)
    if e.override_reason:
        parts.append(f"override: {e.override_reason}")
    return "; ".join(parts) or None
