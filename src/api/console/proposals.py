"""The console's Proposals page (``/console/proposals``): the ledger's pending
suggestions with their reasons; select several and Approve, Reject one with a
reason, or approve one with another engineer. The dispatch board's Propose
button (tickets selected on the board) posts here too. Every action runs the
same operations as the API (``api.proposing``), with the same rules, the
signed-in principal as actor, and shows refusals as the problem's detail."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from api import proposing
from api.auth import DISPATCH
from api.console.actions import command, refusal_of, text
from api.console.pages import picker
from api.console.session import Session, SessionDep, keeper_of
from api.console.views import back, page, problem_detail, to_login
from api.schemas_proposals import ApproveBody, ProposeBody, RejectProposalBody
from ledger.application import CommandResult
from ledger.errors import LedgerError
from projections.proposal_queries import ProposalQueries

router = APIRouter(include_in_schema=False)

PROPOSALS = "/console/proposals"
#: Proposals the page lists.
PAGE_ROWS = 200
STATUSES = ("pending", "approved", "rejected", "superseded", "stale")


def _proposals(services: Any, status: str) -> dict[str, Any]:
    items = ProposalQueries(services.store).proposals(
        limit=PAGE_ROWS, cursor=None, status=status).items
    tickets = {}
    for ticket_id in {p["ticket_id"] for p in items}:
        row = services.queries.ticket(ticket_id)
        if row is not None:
            tickets[ticket_id] = row
    engineers = services.queries.engineers(limit=500, cursor=None, active=True).items
    return {"proposals": items, "tickets": tickets, "engineers": engineers}


@router.get("/proposals")
async def proposals_page(
    request: Request, session: SessionDep,
    status: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    if session is None:
        return to_login(request)
    status = status if status in STATUSES else "pending"
    data = await run_in_threadpool(_proposals, request.app.state.services, status)
    return page(request, "proposals.html", session, keeper_of(request),
                shown=status, statuses=STATUSES, picker=picker, **data)


async def _many(request: Request, session: Session | None, form_action: Any) -> Response:
    """A post acting on several things at once: session, CSRF, role, then
    ``form_action(services, session, form)`` -> (kind, message)."""
    form = await request.form()
    refusal = refusal_of(request, session, DISPATCH, form)
    if refusal is not None or session is None:
        return refusal or to_login(request)
    kind, message = await form_action(request.app.state.services, session, form)
    return back(keeper_of(request), PROPOSALS, kind, message)


@router.post("/proposals/propose")
async def propose(request: Request, session: SessionDep) -> Response:
    """The board's Propose: a proposal for each ticket selected."""
    async def run(services: Any, s: Session, form: FormData) -> tuple[str, str]:
        try:
            body = ProposeBody(ticket_ids=form.getlist("ticket_ids"),
                               tier=text(form, "tier") or 1)
        except ValidationError as e:
            return "error", problem_detail(e)[1]
        batch = await proposing.propose(services, body.ticket_ids, body.tier, s.principal.name)
        if batch.last is not None:
            await run_in_threadpool(services.read_side.wait_for, batch.last.position,
                                    services.settings.read_your_writes_timeout)
        message = f"Proposed an engineer for {len(batch.made)} ticket(s)."
        if batch.unassignable:
            message += " Not proposed: " + " ".join(
                f"{t}: {'; '.join(r)}." for t, r in batch.unassignable)
        return ("ok" if batch.made else "error"), message
    return await _many(request, session, run)


@router.post("/proposals/decide")
async def approve_selected(request: Request, session: SessionDep) -> Response:
    """Approve the proposals selected, each alone (as ``POST /proposals/decide``)."""
    async def run(services: Any, s: Session, form: FormData) -> tuple[str, str]:
        try:
            ids = [UUID(str(v)) for v in form.getlist("approve")]
        except ValueError:
            return "error", "A selected proposal id is not valid."
        if not ids:
            return "error", "Select the proposals to approve first."
        loads = proposing.OpenLoads(services)
        outcomes = await asyncio.gather(
            *(proposing.approve(services, i, actor=s.principal.name, loads=loads) for i in ids),
            return_exceptions=True)
        done = [o for o in outcomes if isinstance(o, CommandResult)]
        failed = [o for o in outcomes if isinstance(o, LedgerError)]
        for other in outcomes:
            if isinstance(other, BaseException) and not isinstance(other, LedgerError):
                raise other
        if done:
            await run_in_threadpool(services.read_side.wait_for,
                                    max(r.position for r in done),
                                    services.settings.read_your_writes_timeout)
        message = f"Approved {len(done)} of {len(ids)}."
        if failed:
            message += " " + " ".join(problem_detail(e)[1] for e in failed)
        return ("error" if failed else "ok"), message
    return await _many(request, session, run)


@router.post("/proposals/{proposal_id}/approve")
async def approve_with(request: Request, proposal_id: UUID, session: SessionDep) -> Response:
    """Approve one, with another engineer (a manual assignment) or as proposed."""
    async def run(services: Any, s: Session, form: FormData) -> tuple[CommandResult, str]:
        body = ApproveBody(engineer_id=text(form, "engineer_id"), reason=text(form, "reason"),
                           override_reason=text(form, "override_reason"))
        result = await proposing.approve(services, proposal_id, actor=s.principal.name,
                                         **body.model_dump())
        who = f" with {body.engineer_id}" if body.engineer_id else ""
        return result, f"Approved{who}."
    return await command(request, session, DISPATCH, run, PROPOSALS)


@router.post("/proposals/{proposal_id}/reject")
async def reject(request: Request, proposal_id: UUID, session: SessionDep) -> Response:
    async def run(services: Any, s: Session, form: FormData) -> tuple[CommandResult, str]:
        body = RejectProposalBody(reason=text(form, "reason") or "")
        result = await proposing.reject(services, proposal_id, reason=body.reason,
                                        actor=s.principal.name)
        return result, "Proposal rejected."
    return await command(request, session, DISPATCH, run, PROPOSALS)
