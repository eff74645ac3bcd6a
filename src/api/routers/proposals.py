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

from api.auth import READ, allow
from api.deps import (
    Cursor,
    DispatchContext,
    Limit,
    MinPositionDep,
    Services,
    ServicesDep,
    in_threadpool,
    read_your_writes,
)
from api.json_route import JsonRoute
from api.planner import Planner
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
from ledger.autoassign import Pick
from ledger.errors import (
    LedgerError,
    NoEligibleEngineerError,
    ProposalNotFoundError,
    ProposalStaleError,
)
from ledger.ids import new_id
from projections.proposal_queries import PROPOSALS, ProposalQueries

router = APIRouter(prefix="/proposals", tags=["proposals"], route_class=JsonRoute)

#: Engineers named, each with their reasons, when no engineer qualifies.
MAX_REFUSALS_LISTED = 20


@router.post(
    "", status_code=status.HTTP_201_CREATED, response_model=ProposeResult,
    responses={403: {"description": "only dispatchers and admins propose"}},
)
async def propose(body: ProposeBody, ctx: DispatchContext, response: Response) -> ProposeResult:
    """Suggests an engineer for each ticket, scored as auto-assign scores them
    (qualified: active, at the tier, the required skill, availability above 0,
    below capacity, never rejected the ticket; best: highest ``availability x
    (1 - open/capacity)``; ties round-robin). One batch never plans an engineer
    beyond capacity: each pick counts toward the next. A ticket that is unknown,
    closed, resolved or already assigned, or for which no engineer qualifies,
    is listed in ``unassignable`` with the reasons. A new proposal supersedes
    the ticket's pending one (recorded). Nothing is assigned until approved."""
    services = ctx.services
    planned, unassignable = await run_in_threadpool(_plan, services, body)
    ids = {ticket_id: new_id() for ticket_id, _pick in planned}
    futures = [
        asyncio.wrap_future(services.ledger.propose(
            ticket_id, proposal_id=ids[ticket_id], engineer_id=pick.engineer_id,
            tier=pick.tier, score=pick.score, reasons=list(pick.reasons), actor=ctx.actor,
        ))
        for ticket_id, pick in planned
    ]
    made, last = [], None
    for (ticket_id, _pick), outcome in zip(
        planned, await asyncio.gather(*futures, return_exceptions=True), strict=True
    ):
        if isinstance(outcome, LedgerError):
            # The ticket changed since it was planned (assigned, closed ...).
            unassignable.append(Unassignable(ticket_id=str(ticket_id), reasons=[outcome.detail]))
        elif isinstance(outcome, BaseException):
            raise outcome
        else:
            made.append(ids[ticket_id])
            last = outcome if last is None or outcome.position > last.position else last
    if last is not None:
        await read_your_writes(services, last, response)
    rows = await run_in_threadpool(ProposalQueries(services.store).proposals_by_id, made)
    return ProposeResult(
        items=[Proposal(**rows[str(i)]) for i in made if str(i) in rows],
        unassignable=unassignable,
    )


def _plan(
    services: Services, body: ProposeBody
) -> tuple[list[tuple[UUID, Pick]], list[Unassignable]]:
    """Each ticket's pick, or why it has none (blocking: reads the tickets'
    streams and the read side)."""
    services.read_side.wait_for(services.ledger.head(), services.settings.min_position_timeout)
    planner = Planner(services.store)
    planned: list[tuple[UUID, Pick]] = []
    unassignable: list[Unassignable] = []
    for ticket_id in dict.fromkeys(body.ticket_ids):
        try:
            ticket = services.ledger.get_ticket(ticket_id)
            ticket.check_assignable()
            pick = planner.choose(ticket, body.tier)
        except NoEligibleEngineerError as e:
            reasons = [e.detail] + [
                f"{c['engineer_id']}: {', '.join(c['reasons'])}"  # type: ignore[arg-type]
                for c in e.candidates[:MAX_REFUSALS_LISTED]
            ]
            if len(e.candidates) > MAX_REFUSALS_LISTED:
                reasons.append(f"and {len(e.candidates) - MAX_REFUSALS_LISTED} more engineers")
            unassignable.append(Unassignable(ticket_id=str(ticket_id), reasons=reasons))
        except LedgerError as e:
            unassignable.append(Unassignable(ticket_id=str(ticket_id), reasons=[e.detail]))
        else:
            planner.book(pick)
            planned.append((ticket_id, pick))
    return planned, unassignable


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
    return Proposal(**await find_proposal(services, proposal_id))


@router.post(
    "/decide", response_model=DecideResult,
    responses={403: {"description": "only dispatchers and admins decide"}},
)
async def decide(body: DecideBody, ctx: DispatchContext, response: Response) -> DecideResult:
    """Approves and rejects a selection at once. Each decision stands alone, as
    if sent by itself (``approve`` / ``reject``): its ``status`` is the HTTP
    status it would have had, with the assignment an approval made or the
    problem that refused it. Always 200: read each result."""
    decisions: list[tuple[UUID, Callable[[], Awaitable[Any]]]] = [
        (i, functools.partial(approve_proposal, i, ctx, Response())) for i in body.approve
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
    body = body or ApproveBody()
    row = await find_proposal(services, proposal_id)
    open_ids: list[UUID] = []
    if body.engineer_id is None or body.engineer_id == row["engineer_id"]:
        open_ids = await run_in_threadpool(_open_assignments, services, row["engineer_id"])
    try:
        result = await asyncio.wrap_future(services.ledger.approve_proposal(
            UUID(row["ticket_id"]), proposal_id, actor=ctx.actor,
            expected_version=ctx.expected_version, open_assignment_ids=open_ids,
            **body.model_dump(),
        ))
    except ProposalStaleError as e:
        # Recorded stale: the 409 answers once a read shows it so.
        await run_in_threadpool(services.read_side.wait_for, e.position,
                                services.settings.read_your_writes_timeout)
        raise
    response.headers["Location"] = f"/assignments/{result.assignment_id}"
    return await assignment_answer(services, result, response)


def _open_assignments(services: Services, engineer_id: str) -> list[UUID]:
    services.read_side.wait_for(services.ledger.head(), services.settings.min_position_timeout)
    return ProposalQueries(services.store).open_assignment_ids(engineer_id)


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
    row = await find_proposal(services, proposal_id)
    result = await asyncio.wrap_future(services.ledger.reject_proposal(
        UUID(row["ticket_id"]), proposal_id, actor=ctx.actor,
        expected_version=ctx.expected_version, reason=body.reason,
    ))
    fresh = None
    if await read_your_writes(services, result, response):
        fresh = services.read_side.committed_row(PROPOSALS, (str(proposal_id),), result.position)
    if fresh is None:
        fresh = await run_in_threadpool(ProposalQueries(services.store).proposal, proposal_id)
    return Proposal(**(fresh or row))


async def find_proposal(services: Services, proposal_id: UUID) -> dict[str, Any]:
    """The proposal's row (its ticket is how a proposal id finds its stream):
    the row this process committed if at hand, else the stored one, once a
    lagging read side has caught up; else 404."""
    row = services.read_side.committed_row(PROPOSALS, (str(proposal_id),))
    if row is None:
        row = await run_in_threadpool(_stored_proposal, services, proposal_id)
    return row


def _stored_proposal(services: Services, proposal_id: UUID) -> dict[str, Any]:
    queries = ProposalQueries(services.store)
    row = queries.proposal(proposal_id)
    if row is None:
        services.read_side.wait_for(services.ledger.head(), services.settings.min_position_timeout)
        row = queries.proposal(proposal_id)
    if row is None:
        raise ProposalNotFoundError(f"Proposal {proposal_id} does not exist.")
    return row
