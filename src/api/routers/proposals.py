"""Proposals (seed 004's suggest, then approve): the ledger suggests an engineer
for each of a batch of tickets, with the scoring that chose them (the same as
auto-assign's, ``api.planner``); a dispatcher approves (the assignment is
made), rejects with a reason, or decides a selection at once."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Response, status
from starlette.concurrency import run_in_threadpool

from api import proposing
from api.auth import READ, allow
from api.deps import (
    Cursor,
    DispatchContext,
    Limit,
    MinPositionDep,
    ServicesDep,
    in_threadpool,
    read_your_writes,
)
from api.json_route import JsonRoute
from api.problems import domain_problem
from api.routers.assignments import assignment_answer
from api.schemas import EngineerAssignment, Page
from api.schemas_proposals import (
    ApproveBody,
    DecideBody,
    DecideResult,
    DecisionResult,
    Proposal,
    ProposalStatus,
    ProposeBody,
    ProposeResult,
    RejectProposalBody,
    Unassignable,
)
from ledger.errors import LedgerError, ProposalNotFoundError
from projections.proposal_queries import PROPOSALS, ProposalQueries

router = APIRouter(prefix="/proposals", tags=["proposals"], route_class=JsonRoute)


@router.post(
    "", status_code=status.HTTP_201_CREATED, response_model=ProposeResult,
    responses={403: {"description": "only dispatchers and admins propose"}},
)
async def propose(body: ProposeBody, ctx: DispatchContext, response: Response) -> ProposeResult:
    """Suggests an engineer for each ticket, scored as auto-assign scores them
    (qualified: the one qualification rule (skill, territory, certification
    valid today, tier at least the wanted one, active, available), below
    capacity, never rejected the ticket; best: the closest tier, then the
    highest ``availability x (1 - open/capacity)``; ties round-robin). One batch never plans an engineer
    beyond capacity: each pick counts toward the next. A ticket that is unknown,
    closed, resolved or already assigned, or for which no engineer qualifies,
    is listed in ``unassignable`` with the reasons. A new proposal supersedes
    the ticket's pending one (recorded). Nothing is assigned until approved."""
    services = ctx.services
    batch = await proposing.propose(services, body.ticket_ids, body.tier, ctx.actor)
    if batch.last is not None:
        await read_your_writes(services, batch.last, response)
    rows = await run_in_threadpool(ProposalQueries(services.store).proposals_by_id, batch.made)
    return ProposeResult(
        items=[Proposal(**rows[str(i)]) for i in batch.made if str(i) in rows],
        unassignable=[Unassignable(ticket_id=str(t), reasons=r) for t, r in batch.unassignable],
    )


@router.get("", response_model=Page[Proposal], dependencies=[allow(READ), MinPositionDep],
            description="Rows of `proposals`, oldest first, filtered by status, ticket and "
                        "engineer, paged.")
@in_threadpool
def list_proposals(
    services: ServicesDep,
    status: Annotated[ProposalStatus | None, Query(description="A proposal status.")] = None,
    ticket_id: UUID | None = None,
    engineer_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Page[Proposal]:
    page = ProposalQueries(services.store).proposals(
        limit=limit, cursor=cursor, status=status, ticket_id=ticket_id, engineer_id=engineer_id,
    )
    return Page[Proposal](items=[Proposal(**r) for r in page.items], next_cursor=page.next_cursor)


@router.get("/{proposal_id}", response_model=Proposal,
            description="One proposal, as its row of `proposals`.",
            dependencies=[allow(READ), MinPositionDep])
async def get_proposal(proposal_id: UUID, services: ServicesDep) -> Proposal:
    return Proposal(**await proposing.find_proposal(services, proposal_id))


@router.post(
    "/decide", response_model=DecideResult,
    responses={403: {"description": "only dispatchers and admins decide"}},
)
async def decide(body: DecideBody, ctx: DispatchContext, response: Response) -> DecideResult:
    """Approves and rejects a selection at once. Each decision stands alone, as
    if sent by itself (``approve`` / ``reject``): its ``status`` is the HTTP
    status it would have had, with the assignment an approval made or the
    problem that refused it. Always 200: read each result."""
    services, loads = ctx.services, proposing.OpenLoads(ctx.services)

    async def approved(proposal_id: UUID) -> EngineerAssignment:
        result = await proposing.approve(services, proposal_id, actor=ctx.actor, loads=loads)
        return await assignment_answer(services, result, Response())

    decisions: list[tuple[UUID, Callable[[], Awaitable[Any]]]] = [
        (i, functools.partial(approved, i)) for i in body.approve
    ]
    decisions += [
        (r.id, functools.partial(reject_proposal, r.id, RejectProposalBody(reason=r.reason), ctx,
                                 Response()))
        for r in body.reject
    ]
    # Different proposals are decided concurrently; one proposal's decisions
    # in the order sent (the second then meets the first's outcome).
    by_proposal: dict[UUID, list[int]] = {}
    for n, (proposal_id, _run) in enumerate(decisions):
        by_proposal.setdefault(proposal_id, []).append(n)
    results: list[DecisionResult | None] = [None] * len(decisions)

    async def in_order(indexes: list[int]) -> None:
        for n in indexes:
            results[n] = await _decided(decisions[n][0], decisions[n][1]())

    await asyncio.gather(*(in_order(indexes) for indexes in by_proposal.values()))
    return DecideResult(results=[r for r in results if r is not None])


async def _decided(proposal_id: UUID, decision: Any) -> DecisionResult:
    """One decision's result, its refusal as its problem."""
    try:
        answer = await decision
    except LedgerError as e:
        code, problem, _headers = domain_problem(e)
        return DecisionResult(id=str(proposal_id), status=code, problem=problem)
    if isinstance(answer, EngineerAssignment):
        return DecisionResult(id=str(proposal_id), status=201, assignment=answer)
    return DecisionResult(id=str(proposal_id), status=200, proposal=answer)


@router.post(
    "/{proposal_id}/approve", status_code=status.HTTP_201_CREATED,
    response_model=EngineerAssignment,
    responses={404: {"description": "unknown proposal"},
               409: {"description": "not pending; the ticket meanwhile got an active "
                                    "assignment or was closed (the proposal is then recorded "
                                    "`stale`); or the engineer is at capacity"},
               422: {"description": "the engineer named is unknown or inactive"}},
)
async def approve_proposal(
    proposal_id: UUID, ctx: DispatchContext, response: Response,
    body: ApproveBody | None = None,
) -> EngineerAssignment:
    """Approves a pending proposal: the assignment is made (type ``auto``, its
    reason the proposal's), or with ``engineer_id`` naming someone else, a
    ``manual`` assignment whose reason says so. The proposal becomes
    ``approved`` with the assignment's id. Approving as proposed takes a slot
    of the engineer's capacity in the write model (409 ``capacity-reached``
    when none is left, even under concurrent approvals in several processes)."""
    services = ctx.services
    result = await proposing.approve(
        services, proposal_id, actor=ctx.actor, expected_version=ctx.expected_version,
        **(body or ApproveBody()).model_dump(),
    )
    response.headers["Location"] = f"/assignments/{result.assignment_id}"
    return await assignment_answer(services, result, response)


@router.post(
    "/{proposal_id}/reject", response_model=Proposal,
    responses={404: {"description": "unknown proposal"},
               409: {"description": "the proposal is not pending"}},
)
async def reject_proposal(
    proposal_id: UUID, body: RejectProposalBody, ctx: DispatchContext, response: Response,
) -> Proposal:
    """Rejects a pending proposal, with the reason (required); nothing is
    assigned. Returns the rejected proposal."""
    services = ctx.services
    result = await proposing.reject(services, proposal_id, reason=body.reason, actor=ctx.actor,
                                    expected_version=ctx.expected_version)
    fresh = None
    if await read_your_writes(services, result, response):
        fresh = services.read_side.committed_row(PROPOSALS, (str(proposal_id),), result.position)
    if fresh is None:
        fresh = await run_in_threadpool(ProposalQueries(services.store).proposal, proposal_id)
    if fresh is None:
        raise ProposalNotFoundError(f"Proposal {proposal_id} is not readable yet.")
    return Proposal(**fresh)


