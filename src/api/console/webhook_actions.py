"""The console's webhook buttons on the operations page: Deactivate and
Activate, the same command as ``PATCH /webhooks/{id}`` with ``active`` (admins
only, as the API)."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from api.auth import MANAGE
from api.console.actions import command
from api.console.session import Session, SessionDep
from ledger.application import CommandResult

router = APIRouter(include_in_schema=False)

OPERATIONS = "/console/operations"


async def _set_active(
    request: Request, webhook_id: UUID, session: Session | None, active: bool
) -> Response:
    async def run(services: Any, s: Session, _form: FormData) -> tuple[CommandResult, str]:
        result = await asyncio.wrap_future(services.ledger.update_webhook(
            webhook_id, changes={"active": active}, actor=s.principal.name))
        if result is None:  # already so: nothing recorded, nothing to wait for
            return CommandResult(webhook_id, 0, 0), f"Already {'active' if active else 'inactive'}."
        return result, "Activated." if active else "Deactivated."

    return await command(request, session, MANAGE, run, OPERATIONS)


@router.post("/operations/webhooks/{webhook_id}/deactivate")
async def deactivate(request: Request, webhook_id: UUID, session: SessionDep) -> Response:
    return await _set_active(request, webhook_id, session, False)


@router.post("/operations/webhooks/{webhook_id}/activate")
async def activate(request: Request, webhook_id: UUID, session: SessionDep) -> Response:
    return await _set_active(request, webhook_id, session, True)
