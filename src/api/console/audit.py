"""The console's audit page: the global feed with its filters (type, actor,
ticket, time range) and cursor paging, **Verify** with its result, the signed
checkpoints, and the whole log as NDJSON or CSV."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from api.auth import AUDIT, allowed
from api.console.actions import refusal_of
from api.console.session import SessionDep, keeper_of
from api.console.views import page, refused, to_login
from projections.event_queries import event_topics
from projections.feed import EventFilter, EventLog
from projections.queries import CursorError, decode_cursor, encode_cursor
from projections.tables import ts

router = APIRouter(include_in_schema=False)

#: Events per page of the audit feed.
AUDIT_PAGE = 50
#: The newest checkpoints the page lists.
CHECKPOINTS_SHOWN = 10


class FilterError(ValueError):
    """A filter a person typed that means nothing (shown as the page's message)."""


def event_types() -> list[str]:
    return sorted(name for name in event_topics() if "." in name)


def moment(value: str | None, name: str) -> datetime | None:
    """A time from the page's ``datetime-local`` fields (UTC unless it says)."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise FilterError(f"{name} {value!r} is not a date and time.") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def filters_of(**given: str | None) -> dict[str, str]:
    return {k: v.strip() for k, v in given.items() if v and v.strip()}


def checkpoints(services: Any) -> dict[str, Any]:
    audit = services.audit
    return {"key_id": audit.signer.key_id,
            "checkpoints": audit.checkpoints.latest(CHECKPOINTS_SHOWN)}


@router.get("/audit")
async def audit_page(
    request: Request, session: SessionDep,
    type: Annotated[str | None, Query(max_length=100)] = None,  # noqa: A002
    actor: Annotated[str | None, Query(max_length=200)] = None,
    ticket: Annotated[str | None, Query(max_length=64)] = None,
    since: Annotated[str | None, Query(max_length=40)] = None,
    until: Annotated[str | None, Query(max_length=40)] = None,
    cursor: Annotated[str | None, Query(max_length=100)] = None,
) -> Response:
    if session is None:
        return to_login(request)
    services = request.app.state.services
    filters = filters_of(type=type, actor=actor, ticket=ticket, since=since, until=until)
    try:
        ticket_id = UUID(filters["ticket"]) if "ticket" in filters else None
        after = int(decode_cursor(cursor, 1)[0]) if cursor else 0
        start, end = moment(filters.get("since"), "From"), moment(filters.get("until"), "To")
    except (ValueError, CursorError) as e:
        detail = str(e) if isinstance(e, FilterError) else "The ticket id or page cursor is not valid."
        return refused(request, keeper_of(request), session, detail, 400)
    types = [filters["type"]] if "type" in filters else []
    items, last, more = await run_in_threadpool(
        lambda: services.events.feed(after=after, limit=AUDIT_PAGE, types=types,
                                     ticket_id=ticket_id, actor=filters.get("actor"),
                                     since=ts(start), until=ts(end)))
    data = await run_in_threadpool(checkpoints, services)
    return page(request, "audit.html", session, keeper_of(request), events=items,
                filters=filters, next_cursor=encode_cursor([last]) if more and items else None,
                event_types=event_types(), report=None, **data)


@router.post("/audit/verify")
async def verify(request: Request, session: SessionDep) -> Response:
    form = await request.form()
    refusal = refusal_of(request, session, AUDIT, form)
    if refusal is not None:
        return refusal
    services = request.app.state.services
    report = await run_in_threadpool(lambda: services.audit.verifier().verify())
    data = await run_in_threadpool(checkpoints, services)
    return page(request, "audit.html", session, keeper_of(request), events=[], filters={},
                next_cursor=None, event_types=event_types(), report=report.as_dict(), **data)


@router.get("/audit/export.{fmt}")
async def export(request: Request, fmt: str, session: SessionDep) -> Response:
    """The whole log up to now, as ``GET /events/export`` streams it."""
    if session is None:
        return to_login(request)
    if fmt not in ("ndjson", "csv") or not allowed(AUDIT, session.principal.role):
        return refused(request, keeper_of(request), session,
                       "Exports are NDJSON or CSV, for auditors and admins.")
    services = request.app.state.services
    head = await run_in_threadpool(services.ledger.head)
    log = EventLog(services.store, services.ledger.recorder.events_table_name,
                   services.ledger.mapper)
    f = EventFilter(after=0, to=head)
    return StreamingResponse(
        log.ndjson(f) if fmt == "ndjson" else log.csv(f),
        media_type="application/x-ndjson" if fmt == "ndjson" else "text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="events.{fmt}"',
                 "X-Ledger-Head": str(head)},
    )
