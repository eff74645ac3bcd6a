"""Request and response bodies of the proposals endpoints (``/proposals``)."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, Field, StringConstraints

from api.schemas import EngineerAssignment, EngineerId, Reason, Request, examples

ProposalStatus = Literal["pending", "approved", "rejected", "superseded", "stale"]
#: A reason that must say something (rejecting requires one).
RequiredReason = Annotated[str, StringConstraints(min_length=1, max_length=2000)]

_TICKET = "7b0c4d1e-2f3a-4b5c-8d6e-9f0a1b2c3d4e"
_OTHER_TICKET = "0e1d2c3b-4a59-4687-b6a5-c4d3e2f1a0b9"
_PROPOSAL = "5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d"
_OTHER_PROPOSAL = "1f2e3d4c-5b6a-4798-8a7b-6c5d4e3f2a1b"


class Proposal(BaseModel):
    """A row of ``proposals``: the ledger's suggestion of an engineer for a
    ticket, with its reasons, and the decision on it."""

    id: str = Field(description="The proposal's id.")
    ticket_id: str = Field(description="The ticket it is for.")
    engineer_id: str = Field(description="The engineer suggested.")
    tier: int = Field(description="The tier the assignment would be worked at.")
    score: float = Field(
        description="availability x (1 - open/capacity) when it was proposed (higher is better).")
    reasons: list[str] = Field(
        description="Why this engineer: the scoring, as auto-assign records it.")
    status: ProposalStatus = Field(
        description="pending until decided; approved, rejected, superseded (a newer proposal "
                    "for the ticket replaced it) or stale (approved after the ticket was "
                    "assigned, closed or resolved).")
    proposed_at: str = Field(description="When it was proposed (RFC 3339, UTC).")
    proposed_by: str = Field(description="Who asked for it.")
    decided_at: str | None = Field(description="When it stopped being pending.")
    decided_by: str | None = Field(description="Who approved or rejected it (or superseded it).")
    decision_reason: str | None = Field(
        description="The approver's or rejecter's reason; says so when another engineer was "
                    "chosen; for superseded and stale proposals, why.")
    assignment_id: str | None = Field(description="The assignment an approval made.")


class ProposeBody(Request):
    model_config = examples({"ticket_ids": [_TICKET, _OTHER_TICKET], "tier": 1})

    ticket_ids: list[UUID] = Field(
        min_length=1, max_length=500, description="The tickets to propose an engineer for.")
    tier: int = Field(1, ge=1, le=10, description="The tier to propose at.")


class Unassignable(BaseModel):
    ticket_id: str = Field(description="A ticket no proposal was made for.")
    reasons: list[str] = Field(
        description="Why: unknown, closed, resolved, already assigned, or no engineer "
                    "qualifies (each engineer's reasons).")


class ProposeResult(BaseModel):
    items: list[Proposal] = Field(description="The proposals made, in the order asked.")
    unassignable: list[Unassignable] = Field(description="The tickets left without one.")


class ApproveBody(Request):
    model_config = examples(
        {"reason": "Looks right"},
        {"engineer_id": "sipho.d", "reason": "Already on site nearby",
         "override_reason": "Customer asked for him"},
    )

    engineer_id: EngineerId | None = Field(
        None, description="Assign this engineer instead of the proposed one (a manual "
                          "assignment; its reason says so).")
    reason: Reason | None = Field(None, description="Why; recorded with the approval.")
    override_reason: Reason | None = Field(
        None, description="Why the approver overrides the ledger's rules (recorded).")


class RejectProposalBody(Request):
    model_config = examples({"reason": "Engineer is on leave tomorrow"})

    reason: RequiredReason = Field(description="Why the suggestion is turned down (required).")


class RejectDecision(Request):
    id: UUID = Field(description="A pending proposal.")
    reason: RequiredReason = Field(description="Why it is rejected.")


class DecideBody(Request):
    model_config = examples({
        "approve": [_PROPOSAL],
        "reject": [{"id": _OTHER_PROPOSAL, "reason": "Wrong territory"}],
    })

    approve: list[UUID] = Field(
        default_factory=list, max_length=500, description="Proposals to approve as proposed.")
    reject: list[RejectDecision] = Field(
        default_factory=list, max_length=500, description="Proposals to reject, each with why.")


class DecisionResult(BaseModel):
    id: str = Field(description="The proposal decided.")
    status: int = Field(
        description="The HTTP status this decision alone would have had (201 approved, "
                    "200 rejected, 404, 409 ...).")
    assignment: EngineerAssignment | None = Field(
        None, description="The assignment an approval made.")
    proposal: Proposal | None = Field(None, description="The proposal as it now stands.")
    problem: dict[str, object] | None = Field(
        None, description="The problem+json body of a refused decision.")


class DecideResult(BaseModel):
    results: list[DecisionResult] = Field(
        description="One per decision, approvals first, in the order sent; each stands alone.")
