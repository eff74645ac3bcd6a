"""Fresh builds folded in bulk: the path a rebuild takes while its new tables
are still empty.

The page engine (``projections.pages``) plans every page: which rows each
event's fold reads, which of them the row cache lacks, one read for those. A
build that starts from nothing needs none of that: every row its tables hold is
one this process wrote, so a row it does not hold in memory does not exist --
until it drops rows to stay small. Here each build keeps one working set
(``BulkRows``) across pages; the folds read it directly. Once a table has had
rows dropped, a fold that asks for a row it lacks has it read from the store,
unless the table's filter of dropped keys says the key was never dropped.

Events are read as raw rows (``projections.feed.EventLog``) and decoded only
when some build folds their type, with the ids as the canonical text the folds
render them in anyway. Row changes are written every few pages
(``FLUSH_PAGES``) rather than every page (a row changed several times in
between is written once), on a writer thread while the next pages are folded.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import islice
from typing import Any

import orjson
from eventsourcing.utils import get_topic

from ledger.application import Ledger
from projections.base import Handler, Key, Rows
from projections.feed import EventFilter, EventLog
from projections.pages import Slot
from projections.store import PageWrite, ReadStore
from projections.tables import Table, stamp

#: Pages folded between two writes of a build's changed rows.
FLUSH_PAGES = 8
#: Rows a build keeps per table; beyond it the oldest half is dropped (written already).
TABLE_ROWS = 25_000
#: Bits of each dropped-keys filter (one hash: a false "maybe" costs one read).
FILTER_BITS = 1 << 23
_MASK = FILTER_BITS - 1
_MISSING = object()


class BulkRows(Rows):
    """A build's working set across pages: every row it holds is current. The
    changes since the last write (``take_changes``) are handed to the writer;
    a row changed after that is copied first (``Rows.patch``), so the rows
    being written are never touched."""

    def __init__(self, load: Callable[[Table, Key], dict[str, Any] | None]) -> None:
        super().__init__()
        # Per table on first use: the folds' hot path does one look-up each.
        self.rows = defaultdict(dict)
        self.dirty = defaultdict(dict)
        self.new = defaultdict(set)
        self._load = load
        #: Tables that have dropped rows: the filter of the keys they dropped.
        self._dropped: dict[str, bytearray] = {}

    def _miss(self, table: Table, key: Key) -> dict[str, Any] | None:
        """A row not in memory: absent, unless its table dropped it (maybe)."""
        bits = self._dropped.get(table.name)
        if bits is None:
            return None
        h = hash(key) & _MASK
        if not bits[h >> 3] & (1 << (h & 7)):
            return None
        row = self.rows[table.name][key] = self._load(table, key)
        return row

    def get(self, table: Table, key: Key) -> dict[str, Any] | None:
        row = self.rows[table.name].get(key, _MISSING)
        return self._miss(table, key) if row is _MISSING else row

    def put(self, table: Table, row: dict[str, Any]) -> None:
        """As ``Rows.put``; a row its tables do not hold (in any table) is new:
        inserted, and not written at all if it is deleted before the write."""
        name = table.name
        columns = table.key
        key = (row[columns[0]],) if len(columns) == 1 else tuple(map(row.__getitem__, columns))
        bucket = self.rows[name]
        dirty = self.dirty[name]
        old = bucket.get(key, _MISSING)
        if old is _MISSING:
            # Rows of several key columns are never read back (no fold reads
            # them): once some were dropped, one may exist, so it is upserted.
            absent = (name not in self._dropped
                      or (len(columns) == 1 and self._miss(table, key) is None))
        else:  # deleted since the last write: absent only if it was new then too
            absent = old is None and (key not in dirty or key in self.new[name])
        if absent:
            self.new[name].add(key)
        bucket[key] = row
        dirty[key] = None

    def patch(self, table: Table, key: Key, **changes: Any) -> None:
        name = table.name
        bucket = self.rows[name]
        row = bucket.get(key, _MISSING)
        if row is _MISSING:
            row = self._miss(table, key)
        if row is None:  # an event for a row this projection never saw
            return
        dirty = self.dirty[name]
        if key in dirty:
            row.update(changes)
        else:
            bucket[key] = {**row, **changes}
            dirty[key] = None

    def delete(self, table: Table, key: Key) -> None:
        self.rows[table.name][key] = None
        self.dirty[table.name][key] = None

    def take_changes(self) -> Rows:
        """The rows changed since the last call, as a page's ``Rows`` of their own."""
        page = Rows()
        for name, dirty in self.dirty.items():
            bucket = self.rows[name]
            rows = page.rows[name] = {key: bucket[key] for key in dirty}
            new = self.new.get(name)
            for key in [k for k in new if rows[k] is None] if new else ():
                del rows[key], dirty[key]  # made and deleted since the last write
                new.discard(key)
            page.dirty[name] = dirty
        page.new = dict(self.new)
        self.dirty = defaultdict(dict)
        self.new = defaultdict(set)
        return page

    def shrink(self) -> None:
        """Drops the oldest half of every table over ``TABLE_ROWS``, except the
        rows changed since the last ``take_changes``: call it with no write in
        flight, so that every row it drops is committed."""
        for name, bucket in self.rows.items():
            if len(bucket) <= TABLE_ROWS:
                continue
            bits = self._dropped.get(name)
            if bits is None:
                bits = self._dropped[name] = bytearray(FILTER_BITS // 8)
            changed = self.dirty.get(name, {})
            for key in [k for k in islice(bucket, len(bucket) // 2) if k not in changed]:
                del bucket[key]
                h = hash(key) & _MASK
                bits[h >> 3] |= 1 << (h & 7)


def _id_text(hex_digits: str) -> str:
    h = hex_digits
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class Decoder:
    """Stored events -> domain events, as the library's ``Mapper`` makes them
    but with their UUIDs as canonical text (``tables.sid`` passes text through)
    and top-level times parsed without the transcoder's walk."""

    def __init__(self, app: Ledger) -> None:
        self.untag = app.mapper.transcoder.untag  # type: ignore[attr-defined]

    def __call__(self, cls: type, oid: str, version: int, state: bytes) -> Any:
        values = orjson.loads(state)
        for name, value in values.items():
            kind = type(value)
            if kind is dict:
                tag = value.get("_type_")
                if tag == "uuid_hex" and len(value) == 2:
                    values[name] = _id_text(value["_data_"])
                elif tag == "datetime_iso" and len(value) == 2:
                    values[name] = stamp(value["_data_"])
                else:
                    values[name] = self.untag(value)
            elif kind is list:
                values[name] = self.untag(value)
        values["originator_id"] = oid
        values["originator_version"] = version
        class_version = getattr(cls, "class_version", 1)
        from_version = values.pop("class_version", 1)
        while from_version < class_version:
            getattr(cls, f"upcast_v{from_version}_v{from_version + 1}")(values)
            from_version += 1
        event = object.__new__(cls)
        object.__setattr__(event, "__dict__", values)
        return event


def run_bulk(
    app: Ledger,
    store: ReadStore,
    slots: Sequence[Slot],
    *,
    page_size: int,
    should_stop: Callable[[], bool] = lambda: False,
    on_page: Callable[[int], None] = lambda _position: None,
) -> None:
    """Folds the whole log into fresh builds (each at position 0, its tables
    empty) until the head, writing every ``FLUSH_PAGES`` pages; stops between
    two pages when ``should_stop`` (the write in flight then completes).
    Positions move with the rows, as on the page engine: an interruption
    resumes there (``run_pages``)."""
    if any(s.position != 0 for s in slots):
        msg = "bulk builds start from empty tables"
        raise ValueError(msg)
    working = [
        BulkRows(lambda table, key, entry=s.entry: store.load(entry, table, [key]).get(key))
        for s in slots
    ]
    handlers: dict[str, tuple[type, list[tuple[Handler, Rows]]]] = {}
    for slot, rows in zip(slots, working, strict=True):
        for cls in slot.projection.event_types:
            handler = slot.projection.handler(cls)
            handlers.setdefault(get_topic(cls), (cls, []))[1].append((handler, rows))
    log = EventLog(store, app.recorder.events_table_name, app.mapper)
    topics = tuple(sorted(handlers))
    decode = Decoder(app)
    executor = ThreadPoolExecutor(1, thread_name_prefix="bulk-writer")
    pending: tuple[Future[None], list[PageWrite], int] | None = None

    def finish() -> None:
        nonlocal pending
        if pending is None:
            return
        future, writes, last = pending
        pending = None
        future.result()
        for slot, w in zip(slots, writes, strict=True):
            slot.position = w.position
        on_page(last)

    def flush(last: int, *, wait: bool) -> None:
        nonlocal pending
        finish()  # the previous write is committed: its rows may be dropped now
        writes = []
        for slot, rows in zip(slots, working, strict=True):
            rows.shrink()
            writes.append(PageWrite(slot.entry, slot.projection, rows.take_changes(),
                                    last, slot.folded))
            slot.folded = last
            if not slot.projection.reads_rows:
                rows.rows.clear()  # no fold reads them back
        pending = (executor.submit(store.write, writes), writes, last)
        if wait:
            finish()

    try:
        start = folded = 0
        while not should_stop():
            head = app.head()
            page = next(log.rows(EventFilter(after=start, topics=topics), page_size), [])
            for position, oid, version, topic, state in page:
                cls, targets = handlers[topic]
                event = decode(cls, oid, version, state)
                for handler, rows in targets:
                    handler(event, position, rows)
            last = page[-1][0] if page else start
            if len(page) < page_size:
                flush(max(last, head), wait=True)  # the rest up to the head was irrelevant
                return
            start = last
            folded += 1
            if folded % FLUSH_PAGES == 0:
                flush(last, wait=False)
        finish()  # stopped: the write in flight lands, the pages folded since do not
    finally:
        try:
            if pending is not None:
                pending[0].result()
        finally:
            executor.shutdown(wait=True)
