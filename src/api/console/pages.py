"""The console's pages (GET): the dispatch board, a ticket, an engineer
and their work, operations. Every page reads through the same
queries as the API; none changes anything."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool

from api.console.session import SessionDep, keeper_of
from api.console.views import (
    ACTIVE,
    TEMPLATES,
    harden,
    local_path,
    may_work_on,
    page,
    refused,
    rights,
    to_login,
)
from ledger.domain import PRIORITIES
from ledger.handover import ALLOWED_MOVES
from ledger.qualification import EngineerFacts, TicketNeeds, unmet
from projections.handover_queries import handovers_of_ticket
from projections.note_queries import NoteQueries
from projections.queries import CursorError
from projections.tables import parse_ts, ts
from projections.ticket_sla import SLA_FILTERS, deadline_clause, sla_state, ticket_resolve_by
from projections.webhook_queries import WebhookQueries

router = APIRouter(include_in_schema=False)

#: Tickets the board shows per list.
BOARD_ROWS = 50
#: How long the board waits for the read tables to show a change it was told of.
LIVE_WAIT_SECONDS = 1.0
#: The board's filters: query parameter -> the tickets query's keyword.
BOARD_FILTERS = {"priority": "priority", "skill": "required_skill", "territory": "territory",
                 "q": "reference", "sla": "condition"}


# ---------------------------------------------------------------- dispatch board


def board_filters(request: Request) -> dict[str, str]:
    """The filters a person chose (blank ones dropped, each at most 100 characters)."""
    chosen = {}
    for name in BOARD_FILTERS:
        value = (request.query_params.get(name) or "").strip()[:100]
        if value and (name != "sla" or value in SLA_FILTERS):
            chosen[name] = value
    return chosen


def _board(services: Any, filters: dict[str, str]) -> dict[str, Any]:
    """Open tickets without an active assignment (filtered in SQL), tickets in
    hand, and the engineers with their load."""
    head = services.ledger.head()
    queries = services.queries
    asked: dict[str, Any] = {BOARD_FILTERS[k]: v for k, v in filters.items() if k != "sla"}
    if "sla" in filters:
        asked["condition"] = deadline_clause(services.settings.ticket_targets,
                                             datetime.now(timezone.utc), filters["sla"])
    waiting = queries.tickets(limit=BOARD_ROWS, cursor=None, status="open", **asked).items
    in_hand = []
    for status in ("assigned", "in_progress"):
        in_hand += queries.tickets(limit=BOARD_ROWS, cursor=None, status=status).items
    in_hand.sort(key=lambda r: r["opened_position"])
    engineers = queries.engineers(limit=500, cursor=None, active=True).items
    return {
        "head": head, "waiting": waiting, "in_hand": in_hand[:BOARD_ROWS],
        "engineers": engineers,
        "skills": sorted({s for e in engineers for s in e["skills"]}
                         | {r["required_skill"] for r in waiting if r["required_skill"]}
                         | ({filters["skill"]} if "skill" in filters else set())),
        "territories": sorted({t for e in engineers for t in e.get("territories") or ()}
                              | {r["territory"] for r in waiting if r.get("territory")}
                              | ({filters["territory"]} if "territory" in filters else set())),
    }


def picker(engineers: list[dict[str, Any]], ticket: dict[str, Any], tier: int) -> list[dict[str, Any]]:
    """The engineer picker's options: those who qualify first (least loaded
    first), then the others, each saying why not in the rule's own words."""
    needs = TicketNeeds.of(ticket, tier)
    today = datetime.now(timezone.utc).date()
    options = []
    for e in engineers:
        why = unmet(EngineerFacts.of(e), needs, today)
        if e["open_assignments"] >= e["capacity"]:
            why.append("is at capacity")
        options.append({"id": e["id"], "fits": not why, "load": e["open_assignments"],
                        "label": (f"{e['name']} ({e['id']}) · tier {e['tier']} · load "
                                  f"{e['open_assignments']}/{e['capacity']}"
                                  + (f" — {'; '.join(why)}" if why else " — qualifies"))})
    options.sort(key=lambda o: (not o["fits"], o["load"], o["id"]))
    return options


@router.get("/")
async def board(request: Request, session: SessionDep) -> Response:
    if session is None:
        return to_login(request)
    filters = board_filters(request)
    data = await run_in_threadpool(_board, request.app.state.services, filters)
    # The lists are drawn on their own and put in the page as one piece: included,
    # each of their thousands of pieces would pass up through the page's layout.
    live = Markup(TEMPLATES.get_template("board_live.html").render(
        session=session, rights=rights(session), filters=filters, **data))
    return page(request, "board.html", session, keeper_of(request), live=live,
                priorities=tuple(reversed(PRIORITIES)), filters=filters, **data)


@router.get("/board/live")
async def board_live(
    request: Request, session: SessionDep,
    seen: Annotated[int, Query(ge=0, le=2**62)] = 0,
) -> Response:
    """The board's live part, polled every 2 s: 204 (htmx keeps what it has)
    while nothing was recorded since ``seen``."""
    if session is None:
        return Response(status_code=204, headers={"HX-Redirect": "/console/login"})
    services = request.app.state.services
    head = await run_in_threadpool(services.ledger.head)
    if head == seen:
        return Response(status_code=204)
    await run_in_threadpool(services.read_side.wait_for, head, LIVE_WAIT_SECONDS)
    filters = board_filters(request)
    data = await run_in_threadpool(_board, services, filters)
    return harden(TEMPLATES.TemplateResponse(request, "board_live.html", {
        "session": session, "rights": rights(session), "filters": filters, **data,
    }))


FORMS = ("assign", "escalate", "reassign")


def _form(services: Any, ticket_id: UUID) -> dict[str, Any] | None:
    ticket = services.queries.ticket(ticket_id)
    if ticket is None:
        return None
    engineers = services.queries.engineers(limit=500, cursor=None, active=True).items
    return {"ticket": ticket, "engineers": engineers}


@router.get("/tickets/{ticket_id}/form/{kind}")
async def command_form(
    request: Request, ticket_id: UUID, kind: str, session: SessionDep,
    next: Annotated[str | None, Query(max_length=2000)] = None,  # noqa: A002
) -> Response:
    """The form of one dispatch command on the board (fetched when opened)."""
    keeper = keeper_of(request)
    if session is None:
        return to_login(request)
    if kind not in FORMS or not rights(session)["dispatch"]:
        return refused(request, keeper, session, "There is no such form for your role.",
                       404 if kind not in FORMS else 403)
    data = await run_in_threadpool(_form, request.app.state.services, ticket_id)
    if data is None:
        return refused(request, keeper, session, f"Ticket {ticket_id} does not exist.", 404)
    return harden(TEMPLATES.TemplateResponse(request, "form.html", {
        "session": session, "kind": kind, "picker": picker, "next": local_path(next), **data,
    }))


# ---------------------------------------------------------------- ticket


def _ticket(services: Any, ticket_id: UUID, as_of: str | None) -> dict[str, Any] | None:
    if as_of:
        past = services.events.ticket_as_of(ticket_id, as_of=as_of)
        if past is None:
            return None
        ticket, assignments = past
    else:
        found = services.queries.ticket_with_current(ticket_id)
        if found is None:
            return None
        ticket = found[0]
        assignments = services.queries.assignments_of_ticket(ticket_id)
    events = services.events.stream(ticket_id)
    if as_of:
        events = [e for e in events if e["recorded_at"] <= as_of]
    current = next((a for a in assignments if a["status"] in ACTIVE), None)
    engineers = services.queries.engineers(limit=500, cursor=None, active=True).items
    handovers = [h for h in handovers_of_ticket(services.store, ticket_id)
                 if not as_of or h["handed_over_at"] <= as_of]
    notes = NoteQueries(services.store).notes_of_ticket(ticket_id)
    if as_of:
        notes = [n for n in notes if n["created_at"] <= as_of]
    return {"ticket": ticket, "assignments": assignments, "events": events,
            "current": current, "engineers": engineers, "handovers": handovers, "notes": notes,
            "handover_moves": ALLOWED_MOVES.get(ticket["owner_team"], ()),
            "deadline": _deadline(services, ticket, as_of)}


def _deadline(services: Any, ticket: dict[str, Any], as_of: str | None) -> dict[str, str]:
    """The ticket's ``resolve_by`` and how it stands (then, for a past view)."""
    due = ticket_resolve_by(ticket, services.settings.ticket_targets)
    finished = min(filter(None, (ticket["resolved_at"], ticket["closed_at"])), default=None)
    now = parse_ts(as_of) if as_of else datetime.now(timezone.utc)
    return {"resolve_by": due, "state": sla_state(due, finished, now)}


@router.get("/tickets/{ticket_id}")
async def ticket_page(
    request: Request, ticket_id: UUID, session: SessionDep,
    as_of: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    if session is None:
        return to_login(request)
    keeper = keeper_of(request)
    at = None
    if as_of:
        try:
            parsed = datetime.fromisoformat(as_of)
        except ValueError:
            return refused(request, keeper, session, f"{as_of!r} is not a date and time.", 400)
        at = ts(parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc))
    data = await run_in_threadpool(_ticket, request.app.state.services, ticket_id, at)
    if data is None:
        detail = f"Ticket {ticket_id} does not exist" + (" at that time." if at else ".")
        return refused(request, keeper, session, detail, 404)
    return page(request, "ticket.html", session, keeper, as_of=at, as_of_input=(as_of or "")[:16],
                picker=picker, may_work_on=may_work_on, **data)


# ---------------------------------------------------------------- engineer


#: Assignments per page of an engineer's history.
HISTORY_PAGE = 20


def _engineer(services: Any, engineer_id: str, cursor: str | None) -> dict[str, Any] | None:
    engineer = services.queries.engineer(engineer_id)
    if engineer is None:
        return None
    active = services.queries.assignments(
        limit=100, cursor=None, status="active", engineer_id=engineer_id).items
    # The tickets they hold, in one query (by the tickets' current engineer).
    held = services.queries.tickets(limit=100, cursor=None, engineer_id=engineer_id).items
    titles = {t["id"]: t["title"] for t in held}
    history = services.queries.assignments(limit=HISTORY_PAGE, cursor=cursor,
                                           engineer_id=engineer_id)
    return {"engineer": engineer, "active": active, "titles": titles,
            "history": history.items, "next_cursor": history.next_cursor}


@router.get("/engineers/{engineer_id}")
async def engineer_page(
    request: Request, engineer_id: str, session: SessionDep,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    if session is None:
        return to_login(request)
    keeper = keeper_of(request)
    try:
        data = await run_in_threadpool(
            _engineer, request.app.state.services, engineer_id[:64], cursor)
    except CursorError:
        return refused(request, keeper, session, "The page cursor is not valid.", 400)
    if data is None:
        return refused(request, keeper, session, f"Engineer {engineer_id!r} is not registered.", 404)
    mine = session.principal.name == engineer_id
    return page(request, "engineer.html", session, keeper, mine=mine, may_work_on=may_work_on,
                outcomes=("success", "failed", "escalated", "parts_required",
                          "customer_unavailable"), **data)


# ---------------------------------------------------------------- audit


# ---------------------------------------------------------------- operations


@router.get("/operations")
async def operations_page(request: Request, session: SessionDep) -> Response:
    if session is None:
        return to_login(request)
    services = request.app.state.services
    statuses = await run_in_threadpool(services.read_side.status)
    # Webhook endpoints are the admin's, as in the API (their URLs may carry secrets).
    webhooks = (await run_in_threadpool(WebhookQueries(services.store).endpoints)
                if rights(session)["manage"] else None)
    return page(request, "operations.html", session, keeper_of(request), projections=statuses,
                webhooks=webhooks)


@router.get("/operations/live")
async def operations_live(request: Request, session: SessionDep) -> Response:
    """The projections table, polled while the page is open (rebuild progress)."""
    if session is None:
        return Response(status_code=204, headers={"HX-Redirect": "/console/login"})
    statuses = await run_in_threadpool(request.app.state.services.read_side.status)
    return harden(TEMPLATES.TemplateResponse(request, "operations_live.html", {
        "session": session, "rights": rights(session), "projections": statuses,
    }))
