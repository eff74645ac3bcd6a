"""The console's commands (form posts). Each runs the same Ledger command as its
API route, with the same request model (``api.schemas``), the same role policy
(``api.auth``) and the same errors, the signed-in principal as actor; then
back to the page it came from, with what happened (or the problem's detail)
shown there once. A post without a valid CSRF token, or from a role that may
not use the command, is refused with 403 and changes nothing."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from api.auth import (
    DISPATCH,
    MANAGE,
    WORK,
    ForbiddenError,
    allowed,
    require_own_assignment,
)
from api.console.session import CsrfError, Session, SessionDep, keeper_of
from api.console.views import BOARD, back, local_path, problem_detail, refused, to_login
from api.schemas import (
    AssignmentCreate,
    CompleteBody,
    EscalateBody,
    ReassignBody,
    ReasonBody,
    RejectBody,
    ReopenBody,
)
from api.schemas_notes import NotesBody
from ledger.application import CommandResult
from ledger.errors import AssignmentNotFoundError, LedgerError

router = APIRouter(include_in_schema=False)

#: The longest a form field may be (the API's longest text is 4000 characters).
MAX_FIELD = 4000

Run = Callable[[Any, Session, FormData], Awaitable[tuple[CommandResult, str]]]


def text(form: FormData, name: str) -> str | None:
    """A form field, trimmed; None when empty (an absent optional value)."""
    value = form.get(name)
    if not isinstance(value, str):
        return None
    value = value.strip()[:MAX_FIELD + 1]
    return value or None


def refusal_of(request: Request, session: Session | None, permission: str,
             form: FormData) -> Response | None:
    """Why a post is refused (no session, a bad CSRF token, a role without
    ``permission``), as the answer to send; None when it may go ahead."""
    if session is None:
        return to_login(request)
    keeper = keeper_of(request)
    try:
        keeper.check_csrf(session, text(form, "csrf"))
    except CsrfError as e:
        return refused(request, keeper, session, str(e))
    if not allowed(permission, session.principal.role):
        return refused(request, keeper, session,
                       f"Role {session.principal.role!r} may not do this.")
    return None


async def command(request: Request, session: Session | None, permission: str, run: Run,
                  default_next: str) -> Response:
    """The one path of every console command: session, CSRF, role, then ``run``
    (which validates and calls the Ledger), then read-your-writes."""
    form = await request.form()
    refusal = refusal_of(request, session, permission, form)
    if refusal is not None or session is None:
        return refusal or to_login(request)
    keeper = keeper_of(request)
    target = local_path(text(form, "next"), default_next)
    services = request.app.state.services
    try:
        result, done = await run(services, session, form)
    except (ValidationError, LedgerError, ForbiddenError) as e:
        status, detail = problem_detail(e)
        if status == 403:  # another engineer's assignment: as the API, refused
            return refused(request, keeper, session, detail)
        return back(keeper, target, "error", detail)
    await run_in_threadpool(services.read_side.wait_for, result.position,
                            services.settings.read_your_writes_timeout)
    return back(keeper, target, "ok", done)


async def _assignment(services: Any, session: Session, assignment_id: UUID,
                      own: bool) -> dict[str, Any]:
    row = await run_in_threadpool(services.queries.assignment, assignment_id)
    if row is None:
        raise AssignmentNotFoundError(f"Assignment {assignment_id} does not exist.")
    if own:
        require_own_assignment(session.principal, row)
    return row


def _ticket_page(ticket_id: UUID) -> str:
    return f"/console/tickets/{ticket_id}"


# ---------------------------------------------------------------- dispatching


@router.post("/tickets/{ticket_id}/assign")
async def assign(request: Request, ticket_id: UUID, session: SessionDep) -> Response:
    async def run(services: Any, s: Session, form: FormData) -> tuple[CommandResult, str]:
        body = AssignmentCreate(ticket_id=ticket_id, engineer_id=text(form, "engineer_id") or "",
                                tier=text(form, "tier") or 1, reason=text(form, "reason"),
                                tier_name=text(form, "tier_name"))
        result = await asyncio.wrap_future(services.ledger.assign(
            body.ticket_id, engineer_id=body.engineer_id, tier=body.tier,
            tier_name=body.tier_name, reason=body.reason, assignment_type=body.type,
            actor=s.principal.name,
        ))
        return result, f"Assigned to {body.engineer_id}."
    return await command(request, session, DISPATCH, run, BOARD)


@router.post("/tickets/{ticket_id}/escalate")
async def escalate(request: Request, ticket_id: UUID, session: SessionDep) -> Response:
    async def run(services: Any, s: Session, form: FormData) -> tuple[CommandResult, str]:
        body = EscalateBody(ticket_id=ticket_id, reason=text(form, "reason") or "",
                            next_engineer_id=text(form, "next_engineer_id") or "",
                            next_tier_name=text(form, "next_tier_name"))
        result = await asyncio.wrap_future(services.ledger.escalate(
            body.ticket_id, next_engineer_id=body.next_engineer_id, reason=body.reason,
            next_tier_name=body.next_tier_name, actor=s.principal.name,
        ))
        return result, f"Escalated to {body.next_engineer_id}."
    return await command(request, session, DISPATCH, run, _ticket_page(ticket_id))


@router.post("/assignments/{assignment_id}/reassign")
async def reassign(request: Request, assignment_id: UUID, session: SessionDep) -> Response:
    async def run(services: Any, s: Session, form: FormData) -> tuple[CommandResult, str]:
        body = ReassignBody(new_engineer_id=text(form, "new_engineer_id") or "",
                            reason=text(form, "reason"))
        row = await _assignment(services, s, assignment_id, own=False)
        result = await asyncio.wrap_future(services.ledger.reassign(
            UUID(row["ticket_id"]), assignment_id, new_engineer_id=body.new_engineer_id,
            reason=body.reason, actor=s.principal.name,
        ))
        return result, f"Reassigned to {body.new_engineer_id}."
    return await command(request, session, DISPATCH, run, BOARD)


@router.post("/assignments/{assignment_id}/remove")
async def remove(request: Request, assignment_id: UUID, session: SessionDep) -> Response:
    async def run(services: Any, s: Session, form: FormData) -> tuple[CommandResult, str]:
        body = ReasonBody(reason=text(form, "reason"))
        row = await _assignment(services, s, assignment_id, own=False)
        result = await asyncio.wrap_future(services.ledger.remove(
            UUID(row["ticket_id"]), assignment_id, reason=body.reason, actor=s.principal.name,
        ))
        return result, "Assignment removed."
    return await command(request, session, DISPATCH, run, BOARD)


@router.post("/tickets/{ticket_id}/close")
async def close(request: Request, ticket_id: UUID, session: SessionDep) -> Response:
    async def run(services: Any, s: Session, form: FormData) -> tuple[CommandResult, str]:
        body = ReasonBody(reason=text(form, "reason"))
        result = await asyncio.wrap_future(services.ledger.close_ticket(
            ticket_id, reason=body.reason, actor=s.principal.name))
        return result, "Ticket closed."
    return await command(request, session, DISPATCH, run, _ticket_page(ticket_id))


@router.post("/tickets/{ticket_id}/reopen")
async def reopen(request: Request, ticket_id: UUID, session: SessionDep) -> Response:
    async def run(services: Any, s: Session, form: FormData) -> tuple[CommandResult, str]:
        body = ReopenBody(reason=text(form, "reason") or "")
        result = await asyncio.wrap_future(services.ledger.reopen_ticket(
            ticket_id, reason=body.reason, actor=s.principal.name))
        return result, "Ticket reopened."
    return await command(request, session, DISPATCH, run, _ticket_page(ticket_id))


# ---------------------------------------------------------------- an engineer's work


@router.post("/assignments/{assignment_id}/accept")
async def accept(request: Request, assignment_id: UUID, session: SessionDep) -> Response:
    async def run(services: Any, s: Session, form: FormData) -> tuple[CommandResult, str]:
        body = NotesBody(notes=text(form, "notes"))
        row = await _assignment(services, s, assignment_id, own=True)
        result = await asyncio.wrap_future(services.ledger.accept(
            UUID(row["ticket_id"]), assignment_id, notes=body.notes, actor=s.principal.name))
        return result, "Accepted."
    return await command(request, session, WORK, run, BOARD)


@router.post("/assignments/{assignment_id}/start")
async def start(request: Request, assignment_id: UUID, session: SessionDep) -> Response:
    async def run(services: Any, s: Session, form: FormData) -> tuple[CommandResult, str]:
        body = NotesBody(notes=text(form, "notes"))
        row = await _assignment(services, s, assignment_id, own=True)
        result = await asyncio.wrap_future(services.ledger.start(
            UUID(row["ticket_id"]), assignment_id, notes=body.notes, actor=s.principal.name))
        return result, "Started."
    return await command(request, session, WORK, run, BOARD)


@router.post("/assignments/{assignment_id}/reject")
async def reject(request: Request, assignment_id: UUID, session: SessionDep) -> Response:
    async def run(services: Any, s: Session, form: FormData) -> tuple[CommandResult, str]:
        body = RejectBody(reason=text(form, "reason"))
        row = await _assignment(services, s, assignment_id, own=True)
        result = await asyncio.wrap_future(services.ledger.reject(
            UUID(row["ticket_id"]), assignment_id, reason=body.reason, actor=s.principal.name))
        return result, "Rejected."
    return await command(request, session, WORK, run, BOARD)


def parts_of(value: str | None) -> list[dict[str, Any]] | None:
    """``PN-1, 2, Fuse`` per line -> parts (number, quantity, name), for CompleteBody
    to validate."""
    if not value:
        return None
    parts = []
    for line in value.splitlines():
        fields = [f.strip() for f in line.split(",")]
        if not fields[0]:
            continue
        part: dict[str, Any] = {"part_number": fields[0]}
        if len(fields) > 1 and fields[1]:
            part["quantity"] = fields[1]
        if len(fields) > 2:
            part["part_name"] = ", ".join(fields[2:])
        parts.append(part)
    return parts or None


@router.post("/assignments/{assignment_id}/complete")
async def complete(request: Request, assignment_id: UUID, session: SessionDep) -> Response:
    async def run(services: Any, s: Session, form: FormData) -> tuple[CommandResult, str]:
        body = CompleteBody(
            completion_status=text(form, "completion_status") or "",
            time_spent_hours=text(form, "time_spent_hours") or "",
            parts_used=parts_of(text(form, "parts_used")),
            customer_rating=text(form, "customer_rating"), diagnosis=text(form, "diagnosis"),
            actions_taken=text(form, "actions_taken"), notes=text(form, "notes"),
        )
        row = await _assignment(services, s, assignment_id, own=True)
        result = await asyncio.wrap_future(services.ledger.complete(
            UUID(row["ticket_id"]), assignment_id, completion_status=body.completion_status,
            time_spent_hours=round(body.time_spent_hours, 2), diagnosis=body.diagnosis,
            actions_taken=body.actions_taken,
            parts_used=[p.model_dump() for p in body.parts_used] if body.parts_used else None,
            customer_rating=body.customer_rating, customer_feedback=body.customer_feedback,
            notes=body.notes, actor=s.principal.name,
        ))
        return result, f"Completed ({body.completion_status})."
    return await command(request, session, WORK, run, BOARD)


# ---------------------------------------------------------------- operations


@router.post("/operations/{name}/rebuild")
async def rebuild(request: Request, name: str, session: SessionDep) -> Response:
    form = await request.form()
    refusal = refusal_of(request, session, MANAGE, form)
    if refusal is not None:
        return refusal
    read_side = request.app.state.services.read_side
    keeper = keeper_of(request)
    if name not in read_side.projections:
        return back(keeper, "/console/operations", "error", f"No projection named {name!r}.")
    # As POST /projections/{name}/rebuild: blue/green, in the background.
    threading.Thread(target=read_side.rebuild, args=([name],), name=f"rebuild-{name}",
                     daemon=True).start()
    return back(keeper, "/console/operations", "ok", f"Rebuilding {name}.")



