"""Explainable auto-assignment (seed 004's "AI" assignment)."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Response, status
from pydantic import Field

from api.auth import DISPATCH
from api.deps import Command, command
from api.json_route import JsonRoute
from api.routers.assignments import answer_assignment
from api.schemas import EngineerAssignment, Reason, Request, ShortText
from ledger import autoassign
from ledger.domain import COMPLETED, REJECTED, Ticket
from projections.ops_queries import OpsQueries

router = APIRouter(prefix="/tickets", tags=["assignments"], route_class=JsonRoute)


class AutoAssignBody(Request):
    tier: int | None = Field(
        None, ge=1, le=10,
        description="Tier to assign at; default: the next tier (docs/operations.md).")
    tier_name: ShortText | None = None
    reason: Reason | None = Field(
        None, description="A note appended to the recorded scoring reason.")


@router.post(
    "/{ticket_id}/auto-assign", status_code=status.HTTP_201_CREATED,
    response_model=EngineerAssignment,
    responses={404: {"description": "unknown ticket"},
               409: {"description": "ticket closed, resolved or already assigned; or no "
                                    "engineer qualifies (`candidates` lists each one's reasons)"},
               412: {"description": "If-Match version is stale"}},
)
def auto_assign(
    ticket_id: UUID, cmd: Annotated[Command, command(DISPATCH)], response: Response,
    body: AutoAssignBody | None = None,
) -> EngineerAssignment:
    """Assigns the ticket (type ``auto``) to the best qualified engineer at the
    requested tier, or by default at the next tier: 1 for a first assignment, else
    the latest assignment's tier, plus one if it was completed as ``escalated``.

    Qualified: active, at that tier, has the ticket's required skill, availability
    above 0, open assignments below capacity, never rejected this ticket. Best:
    highest ``availability x (1 - open/capacity)``; ties go to the least recently
    assigned, then the smallest id. The recorded ``assignment_reason`` states it."""
    services = cmd.services
    body = body or AutoAssignBody()
    queries = OpsQueries(services.store)
    # Decide on a read side that has every event so far (load, last assignments).
    services.read_side.wait_for(services.ledger.head(), services.settings.min_position_timeout)

    def choose(ticket: Ticket) -> autoassign.Pick:
        ordered = sorted(ticket.assignments.values(), key=lambda a: a.sequence)
        previous = []
        for a in ordered:
            outcome = None
            if a is ordered[-1] and a.status == COMPLETED:
                row = services.queries.assignment(a.id)
                outcome = row["completion_status"] if row else None
            previous.append(autoassign.Previous(a.sequence, a.tier, a.status, outcome))
        tier = body.tier or autoassign.next_tier(previous)
        pick = autoassign.choose(
            queries.candidates(tier), tier=tier, required_skill=ticket.required_skill,
            rejected_by={a.engineer_id for a in ordered if a.status == REJECTED},
            ticket=f"ticket {ticket.id}",
        )
        if body.reason:
            pick = replace(pick, reason=f"{pick.reason}; note: {body.reason}")
        return pick

    result, _pick = services.ledger.auto_assign(
        ticket_id, choose=choose, actor=cmd.actor, tier_name=body.tier_name,
        expected_version=cmd.expected_version,
    )
    response.headers["Location"] = f"/assignments/{result.assignment_id}"
    return answer_assignment(services, result, response)
