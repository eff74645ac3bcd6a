"""The event log as auditors take it away: export lines and stream frames.

Rows are read straight from the event store's table in position order, in
keyset pages (``position > last ORDER BY position LIMIT n``), so an export of
any size holds one page in memory and never a transaction open for long. Each
event becomes one JSON object::

    {"position", "originator_id", "originator_version", "topic", "type",
     "timestamp", "actor", "state"}

where ``state`` is the stored event state, spliced in byte for byte (never
decoded and re-encoded), so an auditor can re-hash exactly what was stored.
``timestamp`` and ``actor`` are read from that state (one orjson parse).

Positions are contiguous in commit order on both backends (SQLite has one
writer; eventsourcing's PostgreSQL recorder assigns notification ids under a
table lock), so a reader that resumes after the last position it saw never
misses a committed event.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple
from uuid import UUID

import orjson

from projections.event_queries import event_topics
from projections.store import ReadStore
from projections.tables import ts

#: Events per keyset page.
PAGE = 2000
CSV_COLUMNS = ("position", "originator_id", "originator_version", "topic", "type",
               "timestamp", "actor", "state")


class UnknownEventTypeError(ValueError):
    """Raised when a feed filter names an event type this ledger does not record."""


def topics_for(types: Sequence[str]) -> list[str]:
    """Event type names -> stored topics; ``UnknownEventTypeError`` for a name
    that is not an event of this ledger."""
    known = event_topics()
    unknown = [t for t in types if t not in known]
    if unknown:
        names = ", ".join(sorted(k for k in known if "." in k))
        msg = f"Unknown event type {', '.join(map(repr, unknown))}; known: {names}."
        raise UnknownEventTypeError(msg)
    return sorted({known[t] for t in types})


@dataclass(frozen=True)
class EventFilter:
    """What to read: a position range and the feed's filters.

    ``after`` is exclusive, ``to`` inclusive; ``since`` inclusive and ``until``
    exclusive (canonical timestamps, as ``ts()`` renders them)."""

    after: int = 0
    to: int | None = None
    topics: tuple[str, ...] = ()
    originator_id: UUID | None = None
    actor: str | None = None
    since: str | None = None
    until: str | None = None

    @property
    def reads_state(self) -> bool:
        return self.actor is not None or self.since is not None or self.until is not None


class LogEvent(NamedTuple):
    """One stored event, ready to print."""

    position: int
    originator_id: str
    originator_version: int
    topic: str
    type: str
    timestamp: str | None
    actor: str | None
    state: bytes

    def json(self) -> bytes:
        """The export line's JSON object (no newline), ``state`` spliced in."""
        head = orjson.dumps({
            "position": self.position, "originator_id": self.originator_id,
            "originator_version": self.originator_version, "topic": self.topic,
            "type": self.type, "timestamp": self.timestamp, "actor": self.actor,
        })
        return b"".join((head[:-1], b',"state":', self.state, b"}"))

    def csv_line(self) -> bytes:
        """The CSV row (RFC 4180, CRLF): text fields that may hold commas or quotes
        (actor, state) are always quoted; ``state`` is the stored JSON."""
        return b'%d,%s,%d,%s,%s,%s,"%s","%s"\r\n' % (
            self.position, self.originator_id.encode(), self.originator_version,
            self.topic.encode(), self.type.encode(), (self.timestamp or "").encode(),
            (self.actor or "").encode().replace(b'"', b'""'), self.state.replace(b'"', b'""'))


def canonical_time(raw: str) -> str | None:
    """A stored ISO time -> the canonical ``...HH:MM:SS.ffffffZ`` of ``ts()``;
    the common case (UTC with microseconds) without parsing."""
    if len(raw) == 32 and raw.endswith("+00:00"):
        return raw[:26] + "Z"
    return ts(datetime.fromisoformat(raw))


def _matches(f: EventFilter, at: str | None, actor: str | None) -> bool:
    if f.actor is not None and actor != f.actor:
        return False
    if f.since is not None and (at is None or at < f.since):
        return False
    return f.until is None or (at is not None and at < f.until)


class EventLog:
    """Raw, position-ordered reads of the event store's table."""

    def __init__(self, store: ReadStore, events_table: str, mapper: Any = None) -> None:
        self.store = store
        self.events_table = events_table
        self.sqlite = store.placeholder == "?"
        self.position_column = "rowid" if self.sqlite else "notification_id"
        #: eventsourcing's mapper, when it compresses or encrypts: stored states
        #: are then turned back into their JSON (else they already are JSON).
        self.mapper = mapper if mapper is not None and (
            getattr(mapper, "cipher", None) or getattr(mapper, "compressor", None)) else None

    def _plain(self, state: bytes) -> bytes:
        if self.mapper is None:
            return state
        if self.mapper.cipher:
            state = self.mapper.cipher.decrypt(state)
        if self.mapper.compressor:
            state = self.mapper.compressor.decompress(state)
        return state

    def _statement(self, f: EventFilter) -> tuple[str, list[Any]]:
        where, params = [], []
        if f.topics:
            where.append(f"topic IN ({', '.join(['%s'] * len(f.topics))})")
            params.extend(f.topics)
        if f.originator_id is not None:
            where.append("originator_id = %s")
            params.append(self.store.uuid_param(f.originator_id))
        if f.to is not None:
            where.append(f"{self.position_column} <= %s")
            params.append(f.to)
        where.append(f"{self.position_column} > %s")
        source = self.store.events_sql(self.events_table).split(" FROM ", 1)[1]
        # PostgreSQL renders the id as text itself (cheaper than a UUID object each).
        oid = "originator_id::text" if self.store.placeholder == "%s" else "originator_id"
        statement = (f"SELECT {self.position_column}, {oid}, originator_version, topic, state "
                     f"FROM {source} WHERE {' AND '.join(where)} "
                     f"ORDER BY {self.position_column} LIMIT %s")
        return statement, params

    def page(self, f: EventFilter, after: int, limit: int = PAGE) -> tuple[list[LogEvent], int, bool]:
        """One keyset page after position ``after``: (matching events, the last
        position examined, whether the page was full so more may follow)."""
        statement, params = self._statement(f)
        rows = self.select(statement, [*params, after, limit])
        if not rows:
            return [], after, False
        return self._events(rows, f), rows[-1][0], len(rows) == limit

    def rows(self, f: EventFilter, page: int = PAGE) -> Iterator[list[tuple[int, str, int, str, bytes]]]:
        """The stored events themselves, a keyset page at a time: (position,
        originator id in canonical text, version, topic, state as JSON bytes).
        The filters on the state (actor, time) are not applied here."""
        statement, params = self._statement(f)
        after = f.after
        while True:
            rows = self.select(statement, [*params, after, page])
            if not rows:
                return
            yield [self._row(r) for r in rows] if self.sqlite or self.mapper else rows
            after = rows[-1][0]
            if len(rows) < page:
                return

    def _row(self, row: Any) -> tuple[int, str, int, str, bytes]:
        position, oid, version, topic, state = row
        if len(oid) == 32:  # SQLite stores the hex digits
            oid = f"{oid[:8]}-{oid[8:12]}-{oid[12:16]}-{oid[16:20]}-{oid[20:]}"
        return position, oid, version, topic, self._plain(bytes(state))

    def pages(self, f: EventFilter, page: int = PAGE) -> Iterator[list[LogEvent]]:
        """Matching events in position order, a keyset page at a time (a page may
        be empty when the filters on the state matched nothing in it)."""
        last, more = f.after, True
        while more:
            events, last, more = self.page(f, last, page)
            yield events

    def select(self, statement: str, params: list[Any]) -> list[Any]:
        """Rows as tuples (position, originator_id, originator_version, topic,
        state): no dict per row."""
        with self.store.datastore.transaction(commit=False) as c:  # type: ignore[attr-defined]
            if self.store.placeholder == "?":
                c.execute(statement.replace("%s", "?"), params)
            else:
                from psycopg.rows import tuple_row

                c.row_factory = tuple_row
                # Binary results: bytea arrives as bytes, not hex text to decode.
                c.execute(statement.encode(), params, binary=True)
            return c.fetchall()

    def _events(self, rows: list[Any], f: EventFilter) -> list[LogEvent]:
        """Rows -> events (the filters on the state applied). One tight loop: an
        export spends most of its time here."""
        out = []
        append = out.append
        loads = orjson.loads
        plain = self._plain if self.mapper is not None else None
        reads_state = f.reads_state
        for position, oid, version, topic, state in rows:
            if type(state) is not bytes:
                state = bytes(state)
            if plain is not None:
                state = plain(state)
            parsed = loads(state)
            stamp = parsed.get("timestamp")
            raw = stamp.get("_data_") if type(stamp) is dict else None
            if raw is None:
                at = None
            elif len(raw) == 32 and raw[26:] == "+00:00":
                at = raw[:26] + "Z"
            else:
                at = canonical_time(raw)
            actor = parsed.get("actor")
            if reads_state and not _matches(f, at, actor):
                continue
            if len(oid) == 32:  # SQLite stores the hex digits
                oid = f"{oid[:8]}-{oid[8:12]}-{oid[12:16]}-{oid[16:20]}-{oid[20:]}"
            append(LogEvent(position, oid, version, topic,
                            topic[topic.rfind(":") + 1:], at, actor, state))
        return out

    def events(self, f: EventFilter, page: int = PAGE) -> Iterator[LogEvent]:
        for events in self.pages(f, page):
            yield from events

    # ---------------------------------------------------------------- formats

    def ndjson(self, f: EventFilter) -> Iterator[bytes]:
        """One chunk of NDJSON lines per page."""
        for events in self.pages(f):
            if events:
                yield b"".join(e.json() + b"\n" for e in events)

    def csv(self, f: EventFilter) -> Iterator[bytes]:
        """A header line, then one chunk of CSV rows (RFC 4180) per page."""
        yield ",".join(CSV_COLUMNS).encode() + b"\r\n"
        for events in self.pages(f):
            if events:
                yield b"".join(e.csv_line() for e in events)
