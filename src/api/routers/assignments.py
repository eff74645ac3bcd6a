"""Assignments: the seed 002 client's paths, plus reassign/remove from seed 004."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Body, Query, Response, status
from fastapi.exceptions import RequestValidationError
from starlette.concurrency import run_in_threadpool

from api.auth import READ, allow, require_own_assignment
from api.command_route import CommandRoute
from api.deps import (
    Cursor,
    DispatchContext,
    Limit,
    MinPositionDep,
    ReadServices,
    Services,
    ServicesDep,
    WorkContext,
    find_assignment,
    in_threadpool,
    read_your_writes,
)
from api.problems import BadRequestError
from api.row_json import page_response
from api.schemas import (
    AssignmentCreate,
    AssignmentStatusFilter,
    CompleteBody,
    EngineerAssignment,
    EscalateBody,
    HistoryRow,
    Page,
    Reason,
    ReasonBody,
    ReassignBody,
    RejectBody,
)
from api.schemas_notes import NotesBody
from ledger.application import CommandResult
from ledger.errors import AssignmentNotFoundError
from projections.queries import ASSIGNMENTS
from projections.tables import ts

router = APIRouter(prefix="/assignments", tags=["assignments"], route_class=CommandRoute)


async def assignment_answer(
    services: Services,
    result: CommandResult,
    response: Response,
    assignment_id: UUID | None = None,
) -> EngineerAssignment:
    """The assignment the command produced (or acted on), once it is readable:
    as this process committed it with the command (the usual case, no thread
    hop), else the stored row."""
    assignment_id = result.assignment_id or assignment_id
    row = None
    if await read_your_writes(services, result, response):
        row = services.read_side.committed_row(
            ASSIGNMENTS, (str(assignment_id),), result.position
        )
    if row is None:
        row = await run_in_threadpool(services.queries.assignment, assignment_id)
    if row is None:  # only if the read side is far behind
        raise AssignmentNotFoundError(f"Assignment {assignment_id} is not readable yet.")
    return EngineerAssignment(**row)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=EngineerAssignment,
             description="Assigns an active engineer to a ticket that has no active "
                         "assignment; the new assignment's status is `assigned`.",
             responses={404: {"description": "unknown ticket"},
                        409: {"description": "active assignment exists or ticket closed"},
                        422: {"description": "unknown or inactive engineer"}})
async def assign(
    body: AssignmentCreate, ctx: DispatchContext, response: Response
) -> EngineerAssignment:
    result = await asyncio.wrap_future(ctx.services.ledger.assign(
        body.ticket_id, actor=ctx.actor, expected_version=ctx.expected_version,
        assignment_type=body.type, **body.model_dump(exclude={"ticket_id", "type"}),
    ))
    response.headers["Location"] = f"/assignments/{result.assignment_id}"
    return await assignment_answer(ctx.services, result, response)


@router.post("/escalate", status_code=status.HTTP_201_CREATED, response_model=EngineerAssignment,
             responses={409: {"description": "the ticket has no active assignment"}})
async def escalate(
    body: EscalateBody, ctx: DispatchContext, response: Response
) -> EngineerAssignment:
    """Ends the ticket's active assignment as ``escalated`` and assigns the next
    engineer at tier + 1."""
    result = await asyncio.wrap_future(ctx.services.ledger.escalate(
        body.ticket_id, actor=ctx.actor, expected_version=ctx.expected_version,
        **body.model_dump(exclude={"ticket_id"}),
    ))
    response.headers["Location"] = f"/assignments/{result.assignment_id}"
    return await assignment_answer(ctx.services, result, response)


@router.post("/{assignment_id}/accept", response_model=EngineerAssignment,
             description="The engineer takes the assignment on (status `accepted`), with "
                         "optional `notes`. An engineer's key may act only on their own "
                         "assignments.")
async def accept(
    assignment_id: UUID, ctx: WorkContext, response: Response,
    body: NotesBody | None = None,
) -> EngineerAssignment:
    row = await find_assignment(ctx.services, assignment_id)
    require_own_assignment(ctx.principal, row)
    result = await asyncio.wrap_future(ctx.services.ledger.accept(
        UUID(row["ticket_id"]), assignment_id, actor=ctx.actor,
        expected_version=ctx.expected_version, **(body or NotesBody()).model_dump(),
    ))
    return await assignment_answer(ctx.services, result, response, assignment_id)


@router.post("/{assignment_id}/reject", response_model=EngineerAssignment)
async def reject(
    assignment_id: UUID, ctx: WorkContext, response: Response,
    body: RejectBody | None = None,
) -> EngineerAssignment:
    """The engineer declines; the ticket is open again for the next assignment."""
    row = await find_assignment(ctx.services, assignment_id)
    require_own_assignment(ctx.principal, row)
    result = await asyncio.wrap_future(ctx.services.ledger.reject(
        UUID(row["ticket_id"]), assignment_id, actor=ctx.actor,
        expected_version=ctx.expected_version, **(body or RejectBody()).model_dump(),
    ))
    return await assignment_answer(ctx.services, result, response, assignment_id)


@router.post("/{assignment_id}/start", response_model=EngineerAssignment,
             description="Work begins (status `in_progress`, the ticket `in_progress`), with "
                         "optional `notes`. An engineer's key may act only on their own "
                         "assignments.")
async def start(
    assignment_id: UUID, ctx: WorkContext, response: Response,
    body: NotesBody | None = None,
) -> EngineerAssignment:
    row = await find_assignment(ctx.services, assignment_id)
    require_own_assignment(ctx.principal, row)
    result = await asyncio.wrap_future(ctx.services.ledger.start(
        UUID(row["ticket_id"]), assignment_id, actor=ctx.actor,
        expected_version=ctx.expected_version, **(body or NotesBody()).model_dump(),
    ))
    return await assignment_answer(ctx.services, result, response, assignment_id)


@router.post("/{assignment_id}/complete", response_model=EngineerAssignment)
async def complete(
    assignment_id: UUID, body: CompleteBody, ctx: WorkContext,
    response: Response,
) -> EngineerAssignment:
    """``success`` resolves the ticket; any other outcome leaves it open."""
    row = await find_assignment(ctx.services, assignment_id)
    require_own_assignment(ctx.principal, row)
    outcome = body.model_dump()
    outcome["time_spent_hours"] = round(body.time_spent_hours, 2)
    outcome["parts_used"] = outcome["parts_used"] or None
    result = await asyncio.wrap_future(ctx.services.ledger.complete(
        UUID(row["ticket_id"]), assignment_id, actor=ctx.actor,
        expected_version=ctx.expected_version, **outcome,
    ))
    return await assignment_answer(ctx.services, result, response, assignment_id)


@router.put("/{assignment_id}/reassign", response_model=EngineerAssignment)
async def reassign(
    assignment_id: UUID, body: ReassignBody, ctx: DispatchContext,
    response: Response,
) -> EngineerAssignment:
    """Hands the assignment to another engineer at the same tier; returns the new one."""
    row = await find_assignment(ctx.services, assignment_id)
    result = await asyncio.wrap_future(ctx.services.ledger.reassign(
        UUID(row["ticket_id"]), assignment_id, actor=ctx.actor,
        expected_version=ctx.expected_version, **body.model_dump(),
    ))
    return await assignment_answer(ctx.services, result, response)


@router.delete("/{assignment_id}", response_model=EngineerAssignment)
async def remove(
    assignment_id: UUID, ctx: DispatchContext, response: Response,
    body: Annotated[ReasonBody | None, Body()] = None,
    reason: Annotated[Reason | None, Query(
        description="Why (seed 004's `DELETE /assignments/{id}/?reason=`); recorded with "
                    "the event. The body's `reason` does the same; both given must agree, "
                    "else 422.")] = None,
) -> EngineerAssignment:
    """Soft removal: the assignment becomes ``removed``; nothing is deleted. The
    reason comes from ``?reason=`` or the body's ``reason``."""
    given = (body or ReasonBody()).reason
    if reason is not None and given is not None and reason != given:
        raise RequestValidationError([{
            "loc": ("query", "reason"), "type": "value_error",
            "msg": "The query's reason and the body's reason differ: give one.",
        }])
    row = await find_assignment(ctx.services, assignment_id)
    result = await asyncio.wrap_future(ctx.services.ledger.remove(
        UUID(row["ticket_id"]), assignment_id, actor=ctx.actor,
        expected_version=ctx.expected_version, reason=reason if given is None else given,
    ))
    return await assignment_answer(ctx.services, result, response, assignment_id)


@router.get("", response_model=Page[EngineerAssignment],
            description="Rows of `engineer_assignments`, filtered by status, engineer, tier "
                        "and when they were assigned (`since` <= `assigned_at` < `until`), "
                        "oldest first, paged.")
@in_threadpool
def list_assignments(
    services: ReadServices,
    status: Annotated[
        AssignmentStatusFilter | None,
        Query(description="An assignment status, or `active` for assigned|accepted|in_progress."),
    ] = None,
    engineer_id: Annotated[str | None, Query(max_length=64)] = None,
    tier: Annotated[int | None, Query(ge=1, le=10)] = None,
    since: Annotated[datetime | None, Query(
        description="Only assignments made at or after this time (RFC 3339; UTC if no "
                    "offset).", examples=["2026-03-01T00:00:00Z"])] = None,
    until: Annotated[datetime | None, Query(
        description="Only assignments made before this time (RFC 3339; UTC if no offset).",
        examples=["2026-04-01T00:00:00Z"])] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Response:
    bounds = [None if t is None else ts(t if t.tzinfo else t.replace(tzinfo=UTC))
              for t in (since, until)]
    if bounds[0] is not None and bounds[1] is not None and bounds[0] >= bounds[1]:
        raise BadRequestError(f"since ({bounds[0]}) must be before until ({bounds[1]}).", 422)
    page = services.queries.assignments(
        limit=limit, cursor=cursor, status=status, engineer_id=engineer_id, tier=tier,
        since=bounds[0], until=bounds[1],
    )
    return page_response(EngineerAssignment, page.items, page.next_cursor)


@router.get("/{assignment_id}", response_model=EngineerAssignment,
             description="One assignment, as its row of `engineer_assignments`.",
             dependencies=[allow(READ), MinPositionDep])
@in_threadpool
def get_assignment(assignment_id: UUID, services: ServicesDep) -> EngineerAssignment:
    row = services.queries.assignment(assignment_id)
    if row is None:
        raise AssignmentNotFoundError(f"Assignment {assignment_id} does not exist.")
    return EngineerAssignment(**row)


@router.get("/{assignment_id}/history", response_model=list[HistoryRow],
            description="Every change to the assignment, in the order recorded (a bare "
                        "array of `assignment_history` rows).",
            dependencies=[allow(READ), MinPositionDep])
async def assignment_history(assignment_id: UUID, services: ServicesDep) -> list[HistoryRow]:
    await find_assignment(services, assignment_id)
    rows = await run_in_threadpool(services.queries.history_of_assignment, assignment_id)
    return [HistoryRow(**r) for r in rows]
