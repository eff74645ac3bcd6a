"""Notes on tickets (contract: Field service, Notes)."""

from __future__ import annotations

import asyncio
from uuid import UUID

from fastapi import APIRouter, Response, status
from starlette.concurrency import run_in_threadpool

from api.auth import ENGINEER, NOTE, READ, PrincipalDep, allow
from api.deps import MinPositionDep, ServicesDep, in_threadpool, read_your_writes
from api.json_route import JsonRoute
from api.routers.tickets import ticket_or_404
from api.schemas_notes import Note, NoteCreate
from ledger.errors import TicketNotFoundError
from ledger.ids import new_id
from projections.note_queries import NoteQueries

router = APIRouter(prefix="/tickets", tags=["notes"], route_class=JsonRoute)


@router.post("/{ticket_id}/notes", status_code=status.HTTP_201_CREATED, response_model=Note,
             description="Adds a note to the ticket, closed or not. Engineers may note only "
                         "tickets they hold or held (403 otherwise); dispatchers and admins "
                         "any ticket. Kind `system` is the ledger's own (422 here).",
             responses={403: {"description": "an engineer who never held the ticket"},
                        404: {"description": "unknown ticket"}},
             dependencies=[allow(NOTE)])
async def add_note(
    ticket_id: UUID, body: NoteCreate, services: ServicesDep, principal: PrincipalDep,
    response: Response,
) -> Note:
    note_id = new_id()
    result = await asyncio.wrap_future(services.ledger.add_note(
        ticket_id, note_id=note_id, kind=body.kind, text=body.text, actor=principal.name,
        engineer_id=principal.name if principal.role == ENGINEER else None,
    ))
    if result is not None:
        await read_your_writes(services, result, response)
    response.headers["Location"] = f"/tickets/{ticket_id}/notes"
    row = await run_in_threadpool(NoteQueries(services.store).note, note_id)
    if row is None:  # only if the read side is far behind
        raise TicketNotFoundError(f"Note {note_id} on ticket {ticket_id} is not readable yet.")
    return Note(**{k: row[k] for k in Note.model_fields})


@router.get("/{ticket_id}/notes", response_model=list[Note],
            description="The ticket's notes, oldest first (a bare array); kind `system` are "
                        "the ledger's own.",
            responses={404: {"description": "unknown ticket"}},
            dependencies=[allow(READ), MinPositionDep])
@in_threadpool
def list_notes(ticket_id: UUID, services: ServicesDep) -> list[Note]:
    ticket_or_404(services, ticket_id)
    rows = NoteQueries(services.store).notes_of_ticket(ticket_id)
    return [Note(**{k: r[k] for k in Note.model_fields}) for r in rows]
