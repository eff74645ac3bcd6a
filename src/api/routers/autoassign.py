"""Explainable auto-assignment (seed 004's "AI" assignment)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from uuid import UUID

from fastapi import APIRouter, Response, status
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from api.deps import DispatchContext, RequestContext, Services
from api.routers.assignments import assignment_answer
from api.json_route import JsonRoute
from api.schemas import EngineerAssignment, Reason, Request, ShortText
from ledger import autoassign
from ledger.domain import COMPLETED, REJECTED
from ledger.errors import PickOutdatedError, StaleVersionError
from projections.ops_queries import OpsQueries

router = APIRouter(prefix="/tickets", tags=["assignments"], route_class=JsonRoute)

#: How often the engineer is chosen again when the ticket or the pick changed
#: before the command ran.
PICK_ATTEMPTS = 3


class AutoAssignBody(Request):
    tier: int | None = Field(
        None, ge=1, le=10,
        description="Tier to assign at; default: the next tier (docs/operations.md).")
    tier_name: ShortText | None = None
    reason: Reason | None = Field(
        None, description="A note appended to the recorded scoring reason.")


@router.post(
    "/{ticket_id}/auto-assign", status_code=status.HTTP_201_CREATED,
    openapi_extra={"requestBody": {"content": {"application/json": {"example": {
        "tier": 2, "tier_name": "L2", "reason": "Customer asked for a specialist"}}}}},
    response_model=EngineerAssignment,
    responses={404: {"description": "unknown ticket"},
               409: {"description": "ticket closed, resolved or already assigned; or no "
                                    "engineer qualifies (`candidates` lists each one's reasons)"},
               412: {"description": "If-Match version is stale"}},
)
async def auto_assign(
    ticket_id: UUID, ctx: DispatchContext, response: Response,
    body: AutoAssignBody | None = None,
) -> EngineerAssignment:
    """Assigns the ticket (type ``auto``) to the best qualified engineer at the
    requested tier, or by default at the next tier: 1 for a first assignment, else
    the latest assignment's tier, plus one if it was completed as ``escalated``.

    Qualified: active, at that tier, has the ticket's required skill, availability
    above 0, open assignments below capacity, never rejected this ticket. Best:
    highest ``availability x (1 - open/capacity)``; ties go to the least recently
    assigned, then the smallest id. The recorded ``assignment_reason`` states it.

    The engineer is chosen first, on the read side, and the command then checks
    that the choice still stands (the ticket unchanged, the engineer active); if
    not, it is chosen again, up to three times, then 409 ``concurrent-update``."""
    services = ctx.services
    body = body or AutoAssignBody()
    attempt = 1
    while True:
        version, pick = await run_in_threadpool(_pick, services, ticket_id, body, ctx)
        try:
            result = await asyncio.wrap_future(services.ledger.auto_assign(
                ticket_id, pick=pick, picked_at_version=version, actor=ctx.actor,
                tier_name=body.tier_name, expected_version=ctx.expected_version,
            ))
        except PickOutdatedError:
            if attempt == PICK_ATTEMPTS:
                raise
            attempt += 1
            continue
        response.headers["Location"] = f"/assignments/{result.assignment_id}"
        return await assignment_answer(services, result, response)


def _pick(
    services: Services, ticket_id: UUID, body: AutoAssignBody, ctx: RequestContext
) -> tuple[int, autoassign.Pick]:
    """The engineer to assign and the ticket version the choice was made on
    (blocking: reads the ticket's stream and the read side's roster). Refuses
    as the command would (404, 412, 409) before choosing."""
    ticket = services.ledger.get_ticket(ticket_id)
    if ctx.expected_version is not None and ticket.version != ctx.expected_version:
        msg = f"Ticket {ticket_id} is at version {ticket.version}, not {ctx.expected_version}."
        raise StaleVersionError(msg, ticket.version)
    ticket.check_assignable()
    # Decide on a read side that has every event so far (load, last assignments).
    services.read_side.wait_for(services.ledger.head(), services.settings.min_position_timeout)
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
        OpsQueries(services.store).candidates(tier), tier=tier,
        required_skill=ticket.required_skill,
        rejected_by={a.engineer_id for a in ordered if a.status == REJECTED},
        ticket=f"ticket {ticket.id}",
    )
    if body.reason:
        pick = replace(pick, reason=f"{pick.reason}; note: {body.reason}")
    return ticket.version, pick
