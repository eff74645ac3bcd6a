"""Explainable auto-assignment (seed 004's "AI" assignment)."""

from __future__ import annotations

import asyncio
from uuid import UUID

from fastapi import APIRouter, Response, status
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from api.deps import DispatchContext, RequestContext, Services
from api.routers.assignments import assignment_answer
from api.json_route import JsonRoute
from api.planner import Planner
from api.schemas import EngineerAssignment, Reason, Request, ShortText
from ledger import autoassign
from ledger.errors import CapacityReachedError, ConcurrentUpdateError, StaleVersionError

router = APIRouter(prefix="/tickets", tags=["assignments"], route_class=JsonRoute)

#: How often the engineer is chosen again when the ticket or the pick changed
#: before the command ran.
PICK_ATTEMPTS = 3
#: Most picks of one request: a pick refused for capacity is chosen again
#: (each refusal means another command took a slot, so the roster shrinks),
#: until no engineer qualifies (409 with each one's reasons) or this bound.
MAX_PICKS = 32


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

    Qualified: the one qualification rule (active, availability above 0, the
    ticket's required skill, its territory and its certification valid today,
    tier at least the wanted one), below capacity, never rejected this ticket.
    Best: the closest tier first, then the highest ``availability x (1 -
    open/capacity)``; ties go to the least recently assigned, then the smallest
    id. The recorded ``assignment_reason`` states it.

    The engineer is chosen first, on the read side, and the command then checks
    that the choice still stands (the ticket unchanged, the engineer active); if
    not, it is chosen again, up to three times, then 409 ``concurrent-update``.
    The command also reserves a slot of the engineer's capacity in the write
    model, in the assignment's own transaction, so concurrent auto-assigns (in
    any number of processes) never take more slots than there are: one whose
    slot was taken first chooses again (docs/proposals.md, "Capacity")."""
    services = ctx.services
    body = body or AutoAssignBody()
    outdated = 0
    for _ in range(MAX_PICKS):
        version, pick, open_ids = await run_in_threadpool(_pick, services, ticket_id, body, ctx)
        try:
            result = await asyncio.wrap_future(services.ledger.auto_assign(
                ticket_id, pick=pick, picked_at_version=version, actor=ctx.actor,
                tier_name=body.tier_name, expected_version=ctx.expected_version,
                open_assignment_ids=open_ids,
            ))
        except CapacityReachedError:
            # Another command took the slot the roster showed free: a new
            # pick sees it taken.
            continue
        except ConcurrentUpdateError:
            outdated += 1
            if outdated == PICK_ATTEMPTS:
                raise
            continue
        response.headers["Location"] = f"/assignments/{result.assignment_id}"
        return await assignment_answer(services, result, response)
    msg = f"Ticket {ticket_id}: every engineer picked was taken before the assignment was made."
    raise ConcurrentUpdateError(msg)


def _pick(
    services: Services, ticket_id: UUID, body: AutoAssignBody, ctx: RequestContext
) -> tuple[int, autoassign.Pick, list[UUID]]:
    """The engineer to assign, the ticket version the choice was made on, and
    the engineer's open assignments as the read side shows them (blocking:
    reads the ticket's stream and the read side's roster). Refuses as the
    command would (404, 412, 409) before choosing."""
    ticket = services.ledger.get_ticket(ticket_id)
    if ctx.expected_version is not None and ticket.version != ctx.expected_version:
        msg = f"Ticket {ticket_id} is at version {ticket.version}, not {ctx.expected_version}."
        raise StaleVersionError(msg, ticket.version)
    ticket.check_assignable()
    # Decide on a read side that has every event so far (load, last assignments).
    services.read_side.wait_for(services.ledger.head(), services.settings.min_position_timeout)
    planner = Planner(services.store)
    pick = planner.choose(ticket, body.tier or planner.next_tier(ticket), body.reason)
    return ticket.version, pick, planner.queries.open_assignment_ids(pick.engineer_id)
