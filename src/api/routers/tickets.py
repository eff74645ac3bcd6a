"""Tickets, and the per-ticket views of their assignments, history and events."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, TypeVar
from uuid import UUID

from fastapi import APIRouter, Query, Response, status
from starlette.concurrency import run_in_threadpool

from api.auth import DISPATCH, READ, allow
from api.command_route import CommandRoute
from api.deps import (
    ActorDep,
    Cursor,
    DispatchContext,
    Limit,
    MinPositionDep,
    ReadServices,
    Services,
    ServicesDep,
    in_threadpool,
    read_your_writes,
)
from api.problems import BadRequestError
from api.row_json import encoder, json_response, list_response, one_response
from api.schemas_dispatch import TicketPatch
from api.schemas import (
    CurrentAssignment,
    EngineerAssignment,
    Event,
    HistoryRow,
    Page,
    ReasonBody,
    ReopenBody,
    Ticket,
    TicketCreate,
    TicketStatus,
)
from ledger.application import CommandResult
from ledger.errors import AssignmentNotFoundError, TicketNotFoundError
from ledger.handover import Team
from ledger.ticket_details import LOCATION_KEYS
from projections.replica import read_from_primary
from projections.tables import ts
from projections.ticket_sla import TicketTargets, ticket_resolve_by

router = APIRouter(prefix="/tickets", tags=["tickets"], route_class=CommandRoute)

R = TypeVar("R")


def ticket_fields(
    row: dict[str, Any], current: dict[str, Any] | None, targets: TicketTargets
) -> dict[str, Any]:
    """A ``Ticket``'s fields, in order, from its row and its current assignment's
    (``targets``: the ticket SLA's; ``resolve_by`` is judged when read)."""
    location = {key: row[f"location_{key}"] for key in LOCATION_KEYS}
    return encoder(Ticket).row({
        **row,
        "location": location if any(v is not None for v in location.values()) else None,
        "resolve_by": ticket_resolve_by(row, targets),
        "current_assignment": current or None,
    })


def render_ticket(
    row: dict[str, Any], current: dict[str, Any] | None, targets: TicketTargets
) -> Ticket:
    return Ticket.model_validate(ticket_fields(row, current, targets))


def ticket_response(row: dict[str, Any], current: dict[str, Any] | None,
                    targets: TicketTargets) -> Response:
    """A ``Ticket``'s body, serialised once, with its version as ``ETag``."""
    return json_response(ticket_fields(row, current, targets),
                         headers={"ETag": f'"{row["version"]}"'})


def _found_or_404(services: Services, ticket_id: UUID, read: Callable[[], R | None]) -> R:
    found = read()
    if found is None:
        # It may exist but not be projected yet: the event store decides.
        services.ledger.get_ticket(ticket_id)
        services.read_side.wait_for(services.ledger.head(), services.settings.min_position_timeout)
        read_from_primary()  # a lagging read replica must not deny what exists
        found = read()
        if found is None:
            raise TicketNotFoundError(f"Ticket {ticket_id} does not exist.")
    return found


def ticket_or_404(services: ServicesDep, ticket_id: UUID) -> dict[str, Any]:
    return _found_or_404(services, ticket_id, lambda: services.queries.ticket(ticket_id))


def ticket_and_current_or_404(
    services: Services, ticket_id: UUID
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The ticket's row and its current assignment's (one query)."""
    return _found_or_404(
        services, ticket_id, lambda: services.queries.ticket_with_current(ticket_id)
    )


def ticket_view_or_404(services: Services, ticket_id: UUID) -> Ticket:
    """The ticket with its current assignment."""
    row, current = ticket_and_current_or_404(services, ticket_id)
    return render_ticket(row, current, services.settings.ticket_targets)


async def ticket_answer(services: Services, result: CommandResult, response: Response) -> Ticket:
    """The ticket once the read side has the command's events."""
    await read_your_writes(services, result, response)
    return await run_in_threadpool(ticket_view_or_404, services, result.aggregate_id)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=Ticket,
             description="Opens a ticket (status `open`, version 1). The id is the ledger's "
                         "unless the caller sends one; 409 when that one exists.",
             responses={409: {"description": "a client-chosen id that exists"}},
             dependencies=[allow(DISPATCH)])
async def open_ticket(
    body: TicketCreate, services: ServicesDep, actor: ActorDep, response: Response
) -> Ticket:
    result = await asyncio.wrap_future(services.ledger.open_ticket(
        ticket_id=body.id, actor=actor, **body.model_dump(exclude={"id"}),
    ))
    response.headers["Location"] = f"/tickets/{result.aggregate_id}"
    return await ticket_answer(services, result, response)


@router.get("", response_model=Page[Ticket], dependencies=[allow(READ), MinPositionDep])
@in_threadpool
def list_tickets(
    services: ServicesDep,
    status: TicketStatus | None = None,
    engineer_id: Annotated[str | None, Query(max_length=64)] = None,
    reference: Annotated[str | None, Query(max_length=100)] = None,
    territory: Annotated[str | None, Query(max_length=100)] = None,
    pole: Annotated[str | None, Query(max_length=100, description="Location's pole.")] = None,
    pon: Annotated[str | None, Query(max_length=100, description="Location's PON.")] = None,
    zone: Annotated[str | None, Query(max_length=100, description="Location's zone.")] = None,
    dr: Annotated[str | None, Query(max_length=100, description="Location's drop.")] = None,
    owner_team: Annotated[Team | None, Query(description="The team that owns it.")] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Page[Ticket]:
    """Tickets in the order they were opened. ``engineer_id`` selects the tickets
    that engineer currently holds; ``territory``, ``pole``, ``pon``, ``zone`` and
    ``dr`` those whose territory or location says so (each filter indexed)."""
    page = services.queries.tickets(
        limit=limit, cursor=cursor, status=status, engineer_id=engineer_id, reference=reference,
        territory=territory, location={"pole": pole, "pon": pon, "zone": zone, "dr": dr},
        owner_team=owner_team,
    )
    current = services.queries.assignments_by_id(
        [r["current_assignment_id"] for r in page.items if r["current_assignment_id"]]
    )
    targets = services.settings.ticket_targets
    return Page[Ticket](
        items=[render_ticket(r, current.get(r["current_assignment_id"]), targets)
               for r in page.items],
        next_cursor=page.next_cursor,
    )


@router.get("/{ticket_id}", response_model=Ticket,
            description="The ticket with its active assignment; `ETag` is its version. With "
                        "`as_of` or `version`, the ticket as it stood then, rebuilt from "
                        "its events.")
@in_threadpool
def get_ticket(
    ticket_id: UUID,
    services: ReadServices,
    as_of: Annotated[datetime | None, Query(
        description="The ticket as it stood at this time (RFC 3339).")] = None,
    version: Annotated[int | None, Query(
        ge=1, le=2**31, description="The ticket as it stood at this version.")] = None,
) -> Response:
    if as_of is not None or version is not None:
        if as_of is not None and as_of.tzinfo is None:
            raise BadRequestError("as_of needs a time zone, e.g. 2026-11-22T13:00:00Z.")
        past = services.events.ticket_as_of(
            ticket_id, as_of=ts(as_of) if as_of else None, version=version
        )
        if past is None:
            raise TicketNotFoundError(
                f"Ticket {ticket_id} did not exist at that {'time' if as_of else 'version'}."
            )
        row, assignments = past
        by_id = {a["id"]: a for a in assignments}
        current = by_id.get(row["current_assignment_id"]) if row["current_assignment_id"] else None
        return ticket_response(row, current, services.settings.ticket_targets)
    row, current = ticket_and_current_or_404(services, ticket_id)
    return ticket_response(row, current, services.settings.ticket_targets)


@router.patch("/{ticket_id}", response_model=Ticket,
              description="Corrects the ticket's details: the fields sent that differ are "
                          "recorded as one `Ticket.Updated` event holding only those. Nothing "
                          "different: 200 with the ticket, nothing recorded. `If-Match` as for "
                          "other ticket commands (412 when stale). A closed ticket is refused "
                          "(409 `invalid-state`): reopen it first, so a closed ticket's record "
                          "stays as it was closed.",
              responses={409: {"description": "the ticket is closed"},
                         412: {"description": "`If-Match` is not the ticket's version"}})
async def update_ticket(
    ticket_id: UUID, body: TicketPatch, ctx: DispatchContext, response: Response,
) -> Ticket:
    result = await asyncio.wrap_future(ctx.services.ledger.update_ticket(
        ticket_id, changes=body.changes(), actor=ctx.actor,
        expected_version=ctx.expected_version,
    ))
    return await ticket_answer(ctx.services, result, response)


@router.post("/{ticket_id}/close", response_model=Ticket,
             description="Closes the ticket; 409 while it has an active assignment, or "
                         "when it is closed already. The body (a reason) is optional.")
async def close_ticket(
    ticket_id: UUID, ctx: DispatchContext, response: Response,
    body: ReasonBody | None = None,
) -> Ticket:
    result = await asyncio.wrap_future(ctx.services.ledger.close_ticket(
        ticket_id, actor=ctx.actor, expected_version=ctx.expected_version,
        **(body or ReasonBody()).model_dump(),
    ))
    return await ticket_answer(ctx.services, result, response)


@router.post("/{ticket_id}/reopen", response_model=Ticket,
             description="Opens a resolved or closed ticket again, for a new assignment; "
                         "the reason is required.")
async def reopen_ticket(
    ticket_id: UUID, body: ReopenBody, ctx: DispatchContext,
    response: Response,
) -> Ticket:
    result = await asyncio.wrap_future(ctx.services.ledger.reopen_ticket(
        ticket_id, actor=ctx.actor, expected_version=ctx.expected_version, **body.model_dump()
    ))
    return await ticket_answer(ctx.services, result, response)


@router.get("/{ticket_id}/current-assignment", response_model=CurrentAssignment,
            description="The ticket's row of `current_ticket_assignments`; 404 when the "
                        "ticket has no active assignment.")
@in_threadpool
def current_assignment(ticket_id: UUID, services: ReadServices) -> Response:
    row = services.queries.current_assignment(ticket_id)
    if row is None:  # is there such a ticket? (one query in the usual case, not two)
        ticket_or_404(services, ticket_id)
        row = services.queries.current_assignment(ticket_id)
        if row is None:
            raise AssignmentNotFoundError(f"Ticket {ticket_id} has no active assignment.")
    return one_response(CurrentAssignment, row)


@router.get("/{ticket_id}/assignments", response_model=list[EngineerAssignment],
            description="Every assignment the ticket has had, in `assignment_sequence` "
                        "order (a bare array).")
@in_threadpool
def ticket_assignments(ticket_id: UUID, services: ReadServices) -> Response:
    rows = services.queries.assignments_of_ticket(ticket_id)
    if not rows:  # is there such a ticket? (one query in the usual case, not two)
        ticket_or_404(services, ticket_id)
        rows = services.queries.assignments_of_ticket(ticket_id)
    return list_response(EngineerAssignment, rows)


@router.get("/{ticket_id}/history", response_model=list[HistoryRow],
            description="Every change to the ticket's assignments, in the order recorded "
                        "(a bare array of `assignment_history` rows).",
            dependencies=[allow(READ), MinPositionDep])
@in_threadpool
def ticket_history(ticket_id: UUID, services: ServicesDep) -> list[HistoryRow]:
    ticket_or_404(services, ticket_id)
    return [HistoryRow(**r) for r in services.queries.history_of_ticket(ticket_id)]


@router.get("/{ticket_id}/events", response_model=list[Event], dependencies=[allow(READ)])
@in_threadpool
def ticket_events(ticket_id: UUID, services: ServicesDep) -> list[Event]:
    """The ticket's own stream, straight from the event store, in version order."""
    events = services.events.stream(ticket_id)
    if not events or events[0]["type"] != "Ticket.Opened":
        raise TicketNotFoundError(f"Ticket {ticket_id} does not exist.")
    return [Event(**e) for e in events]
