"""The console's notes and repeat faults: the Add note form of a ticket's page,
and the repeat-faults page with its Acknowledge and Resolve forms. Each post
runs the same Ledger command as its API route (``api.routers.notes``,
``api.routers.repeat_faults``), through the console's one command path
(``api.console.actions.command``)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from api.auth import DISPATCH, ENGINEER, NOTE
from api.console.actions import command, text
from api.console.session import Session, SessionDep, keeper_of
from api.console.views import page, to_login
from api.schemas_notes import NoteCreate
from api.schemas_repeat_faults import AcknowledgeBody, ResolveBody
from ledger.application import CommandResult
from ledger.ids import new_id
from ledger.repeat_fault import FAULT_STATUSES, SCOPES
from projections.queries import CursorError
from projections.repeat_fault_queries import RepeatFaultQueries

router = APIRouter(include_in_schema=False)

PAGE = "/console/repeat-faults"
#: Faults the page shows at once.
FAULT_ROWS = 50


@router.post("/tickets/{ticket_id}/notes")
async def add_note(request: Request, ticket_id: UUID, session: SessionDep) -> Response:
    async def run(services: Any, s: Session, form: FormData) -> tuple[CommandResult, str]:
        body = NoteCreate(kind=text(form, "kind") or "", text=text(form, "text") or "")
        result = await asyncio.wrap_future(services.ledger.add_note(
            ticket_id, note_id=new_id(), kind=body.kind, text=body.text, actor=s.principal.name,
            engineer_id=s.principal.name if s.principal.role == ENGINEER else None,
        ))
        return result, "Note added."
    return await command(request, session, NOTE, run, f"/console/tickets/{ticket_id}")


def _faults(services: Any, filters: dict[str, str], cursor: str | None) -> dict[str, Any]:
    try:
        found = RepeatFaultQueries(services.store).faults(
            limit=FAULT_ROWS, cursor=cursor, **filters)
    except CursorError:
        found = RepeatFaultQueries(services.store).faults(limit=FAULT_ROWS, cursor=None,
                                                          **filters)
    return {"faults": found.items, "next_cursor": found.next_cursor}


@router.get("/repeat-faults")
async def repeat_faults_page(
    request: Request, session: SessionDep,
    scope: Annotated[str | None, Query(max_length=10)] = None,
    status: Annotated[str | None, Query(max_length=20)] = None,
    value: Annotated[str | None, Query(max_length=200)] = None,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> Response:
    if session is None:
        return to_login(request)
    filters = {k: v for k, v in (("scope", scope), ("status", status),
                                 ("value", (value or "").strip())) if v}
    if filters.get("scope") not in (None, *SCOPES):
        filters.pop("scope")
    if filters.get("status") not in (None, *FAULT_STATUSES):
        filters.pop("status")
    data = await run_in_threadpool(_faults, request.app.state.services, filters, cursor)
    return page(request, "repeat_faults.html", session, keeper_of(request), filters=filters,
                scopes=SCOPES, statuses=FAULT_STATUSES, here=request.url.path + (
                    f"?{request.url.query}" if request.url.query else ""), **data)


@router.post("/repeat-faults/{fault_id}/acknowledge")
async def acknowledge(request: Request, fault_id: UUID, session: SessionDep) -> Response:
    async def run(services: Any, s: Session, form: FormData) -> tuple[CommandResult, str]:
        body = AcknowledgeBody(note=text(form, "note"))
        result = await asyncio.wrap_future(services.ledger.acknowledge_repeat_fault(
            fault_id, note=body.note, actor=s.principal.name))
        return result, "Acknowledged."
    return await command(request, session, DISPATCH, run, PAGE)


@router.post("/repeat-faults/{fault_id}/resolve")
async def resolve(request: Request, fault_id: UUID, session: SessionDep) -> Response:
    async def run(services: Any, s: Session, form: FormData) -> tuple[CommandResult, str]:
        body = ResolveBody(resolution=text(form, "resolution") or "")
        result = await asyncio.wrap_future(services.ledger.resolve_repeat_fault(
            fault_id, resolution=body.resolution, actor=s.principal.name))
        return result, "Resolved."
    return await command(request, session, DISPATCH, run, PAGE)
