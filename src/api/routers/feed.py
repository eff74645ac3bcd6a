"""The event log taken away: ``/events/export`` (NDJSON or CSV, streamed) and
``/events/stream`` (Server-Sent Events, resumable), with the feed's filters."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Literal
from uuid import UUID

import anyio
from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse
from pydantic import AwareDatetime

from api.auth import AUDIT, READ, allow
from api.deps import Services, ServicesDep
from api.problems import BadRequestError
from projections.feed import (
    CSV_COLUMNS,
    PAGE,
    EventFilter,
    EventLog,
    LogEvent,
    UnknownEventTypeError,
    topics_for,
)
from projections.tables import ts

router = APIRouter(prefix="/events", tags=["audit"])

#: A stream with nothing to send sends a ``: keep-alive`` comment this often.
KEEPALIVE_SECONDS = 15.0
#: How often an idle stream looks for events committed by other processes (its
#: own process's commits wake it at once).
POLL_SECONDS = 0.5
#: Events read per step of a stream.
STREAM_PAGE = 500


# ---------------------------------------------------------------- filters


def check_types(types: list[str] | None) -> list[str]:
    """The stored topics of the ``type`` filter; 422 for an unknown type."""
    try:
        return topics_for(types or ())
    except UnknownEventTypeError as e:
        raise RequestValidationError(
            [{"loc": ("query", "type"), "msg": str(e), "type": "value_error"}]
        ) from None


async def feed_filter(  # async: no I/O, so no hop to the threadpool
    type: Annotated[list[str] | None, Query(  # noqa: A002 - the contract's name
        max_length=20, description="Event type, e.g. Ticket.Escalated or Escalated "
                                   "(repeat for several).")] = None,
    ticket_id: Annotated[UUID | None, Query(description="Only this ticket's events.")] = None,
    actor: Annotated[str | None, Query(max_length=200, description="Who caused it.")] = None,
    since: Annotated[AwareDatetime | None, Query(
        description="Recorded at or after this time (RFC 3339, with a zone).")] = None,
    until: Annotated[AwareDatetime | None, Query(
        description="Recorded before this time (RFC 3339, with a zone).")] = None,
) -> EventFilter:
    return EventFilter(
        topics=tuple(check_types(type)), originator_id=ticket_id, actor=actor,
        since=ts(since) if since else None, until=ts(until) if until else None,
    )


FilterDep = Annotated[EventFilter, Depends(feed_filter)]


def event_log(services: Services) -> EventLog:
    return EventLog(services.store, services.ledger.recorder.events_table_name,
                    services.ledger.mapper)


# ---------------------------------------------------------------- export

EXPORT_TYPES = {"ndjson": "application/x-ndjson", "csv": "text/csv; charset=utf-8"}


@router.get(
    "/export", dependencies=[allow(AUDIT)], response_class=StreamingResponse,
    responses={200: {"description": "The events, streamed: one JSON object per line "
                                    "(NDJSON) or CSV rows with a header.",
                     "content": {"application/x-ndjson": {}, "text/csv": {}}}},
)
def export_events(
    services: ServicesDep,
    filters: FilterDep,
    format: Literal["ndjson", "csv"] = "ndjson",  # noqa: A002 - the contract's name
    from_position: Annotated[int | None, Query(
        alias="from", ge=1, le=2**62, description="First position (inclusive).")] = None,
    to: Annotated[int | None, Query(
        ge=0, le=2**62, description="Last position (inclusive); default: the head "
                                    "when the request arrived.")] = None,
    limit: Annotated[int | None, Query(
        ge=1, le=2**62, description="At most this many events (the first ones in position "
                                    "order); default: all. To go on, ask again with "
                                    "`from` one past the last position received.")] = None,
) -> StreamingResponse:
    """Every matching event in position order, streamed in constant memory.

    Each line (or CSV row) is ``{position, originator_id, originator_version,
    topic, type, timestamp, actor, state}``; ``state`` is the event exactly as
    stored (the CSV holds it as a JSON string), so it can be re-hashed. Without
    ``to`` the export stops at the head of the moment the request arrived
    (``X-Ledger-Head``), so it is a consistent prefix of the log. ``limit`` stops it
    after that many events."""
    head = services.ledger.head()
    last = head if to is None else min(to, head)
    f = EventFilter(
        after=(from_position - 1) if from_position else 0, to=last, topics=filters.topics,
        originator_id=filters.originator_id, actor=filters.actor, since=filters.since,
        until=filters.until,
    )
    body = export_lines(event_log(services), f, format, limit)
    return StreamingResponse(body, media_type=EXPORT_TYPES[format], headers={
        "Content-Disposition": f'attachment; filename="events.{format}"',
        "X-Ledger-Head": str(head),
    })


def export_lines(
    log: EventLog, f: EventFilter, format: str, limit: int | None  # noqa: A002
) -> Iterator[bytes]:
    """The export's body: NDJSON lines, or a CSV header and rows (RFC 4180), of
    at most ``limit`` events (all when None), one chunk per page read."""
    if format == "csv":
        yield ",".join(CSV_COLUMNS).encode() + b"\r\n"
    left = limit
    for events in log.pages(f, PAGE if limit is None else min(limit, PAGE)):
        if left is not None:
            events = events[:left]
            left -= len(events)
        if events:
            yield b"".join(e.json() + b"\n" if format == "ndjson" else e.csv_line()
                           for e in events)
        if left == 0:
            return


# ---------------------------------------------------------------- stream


def streams_stopping(app: FastAPI) -> threading.Event:
    """Set when the server shuts down: open streams end (cleanly) at once."""
    event = getattr(app.state, "streams_stopping", None)
    if event is None:
        event = app.state.streams_stopping = threading.Event()
    return event


def stop_streams(app: FastAPI) -> None:
    streams_stopping(app).set()


def sse_frame(event: LogEvent) -> bytes:
    data = event.json()
    if b"\n" in data:  # never from orjson; kept safe for any stored bytes
        data = b"\ndata: ".join(data.split(b"\n"))
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (event.position, event.type.encode(), data)


def _resume_position(last_event_id: str | None, after: int | None) -> int:
    if last_event_id is not None and last_event_id.strip():
        value = last_event_id.strip()
        if not value.isdigit() or len(value) > 19:
            raise BadRequestError(f"Last-Event-ID must be an event position, not {value!r}.")
        return int(value)
    return after or 0


@router.get(
    "/stream", dependencies=[allow(READ)], response_class=StreamingResponse,
    responses={200: {"description": "Server-Sent Events: `id: <position>`, `event: <type>`, "
                                    "`data: <the export line>`.",
                     "content": {"text/event-stream": {}}}},
)
async def stream_events(
    request: Request,
    services: ServicesDep,
    filters: FilterDep,
    after: Annotated[int | None, Query(
        ge=0, le=2**62, description="Start after this position (Last-Event-ID wins).")] = None,
    last_event_id: Annotated[str | None, Header(
        alias="Last-Event-ID", max_length=32,
        description="Resume after this position (what an EventSource sends on reconnect).")
    ] = None,
) -> StreamingResponse:
    """The log as it grows, as Server-Sent Events, from ``after`` (or the
    ``Last-Event-ID`` a reconnecting client sends) onwards: past events first,
    then each new one as it is committed. Idle streams send ``: keep-alive``
    comments; the stream ends when the client goes or the server stops."""
    start = _resume_position(last_event_id, after)
    body = _frames(services, filters, start, streams_stopping(request.app))
    return StreamingResponse(body, media_type="text/event-stream", headers={
        "Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


async def _frames(
    services: Services, filters: EventFilter, start: int, stopping: threading.Event
) -> AsyncIterator[bytes]:
    log = event_log(services)
    loop = asyncio.get_running_loop()
    wake = asyncio.Event()

    def committed(_position: int) -> None:  # called on the committing thread
        loop.call_soon_threadsafe(wake.set)

    services.ledger.add_listener(committed)
    try:
        last = start
        last_sent = time.monotonic()
        yield b"retry: 2000\n\n"
        while not stopping.is_set():
            wake.clear()  # before reading: a commit during the read wakes the next wait
            events, last, more = await anyio.to_thread.run_sync(
                _read, log, filters, last)
            if events:
                yield b"".join(sse_frame(e) for e in events)
                last_sent = time.monotonic()
            if more:
                continue
            if time.monotonic() - last_sent >= KEEPALIVE_SECONDS:
                yield b": keep-alive\n\n"
                last_sent = time.monotonic()
            timeout = min(POLL_SECONDS, max(0.0, KEEPALIVE_SECONDS - (time.monotonic() - last_sent)))
            try:
                await asyncio.wait_for(wake.wait(), timeout=timeout)
            except TimeoutError:
                pass
    finally:
        services.ledger.remove_listener(committed)


def _read(log: EventLog, filters: EventFilter, after: int) -> tuple[list[LogEvent], int, bool]:
    return log.page(filters, after, STREAM_PAGE)
