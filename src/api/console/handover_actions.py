"""The console's handover command (the ticket page's **Hand over** button): the
same command as ``POST /tickets/{id}/handover``, through ``actions.command``."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from api.auth import DISPATCH
from api.console.actions import command, text
from api.console.session import Session, SessionDep
from api.routers.handovers import record_handover
from api.schemas_handovers import HandoverCreate
from ledger.application import CommandResult

router = APIRouter(include_in_schema=False)


@router.post("/tickets/{ticket_id}/handover")
async def hand_over(request: Request, ticket_id: UUID, session: SessionDep) -> Response:
    async def run(services: Any, s: Session, form: FormData) -> tuple[CommandResult, str]:
        body = HandoverCreate(to_team=text(form, "to_team") or "",  # type: ignore[arg-type]
                              notes=text(form, "notes"))
        result, _id = await record_handover(services, ticket_id, body, actor=s.principal.name)
        return result, f"Handed over to {body.to_team}."
    return await command(request, session, DISPATCH, run, f"/console/tickets/{ticket_id}")
