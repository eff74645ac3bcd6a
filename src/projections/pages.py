"""The page engine: read a page of the log, decode it, fold it, write it.

One loop reads the notification log a page at a time, decodes each event once,
folds it into every projection build that is behind it, and writes all their
row changes and positions in one transaction. The same code path serves live
updates (a page of one event, ``projections.runner``), full replays (pages of
thousands, ``projections.builds``) and, planned the same way, the rows a save
writes in its own transaction (``projections.inline``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from dataclasses import dataclass, field
from typing import Any

from eventsourcing.persistence import Mapper, Notification
from eventsourcing.utils import get_topic

from ledger.application import Ledger
from ledger.errors import StorageUnavailableError
from projections.base import Key, Projection, Rows
from projections.gcpolicy import raised_thresholds
from projections.store import CatalogEntry, PageWrite, ReadStore
from projections.tables import Table

log = logging.getLogger("ledger.projections")

DEFAULT_PAGE_SIZE = 5000
ROW_CACHE_SIZE = 20_000


class RowCache:
    """A bounded cache of rows this process wrote or read, per table.

    Two generations: new entries go to the young one; when it is full it becomes
    the old one and the previous old one is dropped; a hit in the old one moves
    back to the young one. Cheaper than a strict LRU, same bound (2 x maxsize).
    The runner is the only writer of its tables, so a cached row is current.
    """

    def __init__(self, maxsize: int = ROW_CACHE_SIZE) -> None:
        self.maxsize = maxsize
        self.young: dict[str, dict[Key, dict[str, Any] | None]] = {}
        self.old: dict[str, dict[Key, dict[str, Any] | None]] = {}

    def get_many(self, table: Table, keys: set[Key]) -> tuple[dict[Key, Any], set[Key]]:
        young = self.young.setdefault(table.name, {})
        old = self.old.get(table.name, {})
        hits: dict[Key, Any] = {}
        misses: set[Key] = set()
        for key in keys:
            if key in young:
                hits[key] = young[key]
            elif key in old:
                hits[key] = young[key] = old[key]
            else:
                misses.add(key)
        return hits, misses

    def put(self, table: Table, key: Key, row: dict[str, Any] | None) -> None:
        young = self.young.get(table.name)
        if young is None:
            young = self.young[table.name] = {}
        young[key] = row
        if len(young) > self.maxsize:
            self.old[table.name] = young
            self.young[table.name] = {}

    def clear(self) -> None:
        self.young.clear()
        self.old.clear()


@dataclass
class Slot:
    """One build of one projection: ``position`` is what its tables hold
    (committed); ``folded`` runs ahead by at most one page being written."""

    entry: CatalogEntry
    projection: Projection
    position: int
    cache: RowCache = field(default_factory=RowCache)
    folded: int = -1
    #: The working set of the page being written (not yet committed).
    inflight: Rows | None = None
    #: Set after a failed write: the stored position must be re-read.
    stale: bool = False

    def __post_init__(self) -> None:
        self.folded = self.position


#: Collector thresholds during bulk replays (CPython's defaults: 700, 10, 10).
RELAXED_THRESHOLDS = (200_000, 50, 1000)


@contextmanager
def relaxed_gc() -> Iterator[None]:
    """Bulk replays allocate millions of short-lived rows while holding large
    caches; the default cyclic-GC thresholds then spend much of the time
    re-traversing the caches. Collect far less often for the duration."""
    with raised_thresholds(RELAXED_THRESHOLDS):
        yield


def decode_page(
    app: Ledger, notifications: Sequence[Notification], *, remember: bool = True
) -> list[tuple[int, Any]]:
    """The page's events. ``remember=False`` (bulk builds) decodes with the
    library's plain ``Mapper``: the Ledger's mapper also notes each stream's
    newest hash for the next write, a cache that a rebuild only churns."""
    mapper = app.mapper
    to_event = mapper.to_domain_event if remember else partial(Mapper.to_domain_event, mapper)
    return [(n.id, to_event(n)) for n in notifications]


class PageFold:
    """Folding one page into the slots behind it, in two steps: first which rows
    the folds need that the slots' caches do not hold (``requests``, to be read
    from the store, all at once), then, given those rows, the folds themselves
    (``finish``). Between the two the caller may read the rows however suits it
    (``projections.inline`` sends the reads ahead of the events' insert)."""

    def __init__(
        self, slots: Sequence[Slot], events: Sequence[tuple[int, Any]], last: int
    ) -> None:
        self.events = list(events)
        self.last = last
        self.plans: list[
            tuple[Slot, list[int], Rows, dict[str, tuple[Table, set[Key]]]]
        ] = []
        self.requests: list[tuple[CatalogEntry, Table, list[Key]]] = []
        self._targets: list[tuple[dict[Key, Any], set[Key]]] = []
        for slot in slots:
            if slot.folded >= last:
                continue
            projection = slot.projection
            handled = projection.event_types
            folded = slot.folded
            mine = [i for i, (p, e) in enumerate(self.events) if p > folded and type(e) in handled]
            rows = Rows()
            wanted: dict[str, tuple[Table, set[Key]]] = {}
            created: set[tuple[str, Key]] = set()
            for i in mine:
                e = self.events[i][1]
                for table, key in projection.keys(e):
                    if (table.name, key) not in created:  # made earlier in this page
                        wanted.setdefault(table.name, (table, set()))[1].add(key)
                for table, key in projection.creates(e):
                    created.add((table.name, key))
            for table, keys in wanted.values():
                hits, misses = slot.cache.get_many(table, keys)
                bucket = rows.rows.setdefault(table.name, {})
                bucket.update(hits)
                if misses and slot.inflight is not None:
                    # Rows the page being written changed are not in the store yet.
                    pending = slot.inflight.rows.get(table.name, {})
                    pending_dirty = slot.inflight.dirty.get(table.name, {})
                    for key in [k for k in misses if k in pending_dirty]:
                        bucket[key] = pending[key]
                        misses.discard(key)
                if misses:
                    self.requests.append((slot.entry, table, sorted(misses, key=repr)))
                    self._targets.append((bucket, misses))
            self.plans.append((slot, mine, rows, wanted))

    def finish(
        self,
        loaded: Sequence[dict[Key, dict[str, Any]]],
        positions: Sequence[int] | None = None,
        last: int | None = None,
    ) -> list[PageWrite]:
        """Folds, given the rows read for ``requests`` (in their order).
        ``positions``/``last``: the events' real positions, when they were not
        known yet as the page was planned (an insert issues them)."""
        for (bucket, misses), found in zip(self._targets, loaded, strict=True):
            for key in misses:
                bucket[key] = found.get(key)
        events = self.events
        if positions is not None:
            events = [(p, e) for p, (_old, e) in zip(positions, events, strict=True)]
        last = self.last if last is None else last
        writes: list[PageWrite] = []
        for slot, mine, rows, wanted in self.plans:
            projection = slot.projection
            for i in mine:
                p, e = events[i]
                projection.fold(e, p, rows)
            # The next page folds on top of this one, before this one is committed.
            # (A projection that never reads its rows back, like assignment_history,
            # needs no cache at all.)
            if not projection.reads_rows:
                writes.append(PageWrite(slot.entry, projection, rows, last, slot.folded))
                slot.folded = last
                continue
            for table in projection.tables:
                for key, row in rows.changed(table):
                    slot.cache.put(table, key, row)
            for table, keys in wanted.values():
                for key in keys:
                    if key not in rows.dirty.get(table.name, ()):
                        slot.cache.put(table, key, rows.rows[table.name].get(key))
            writes.append(PageWrite(slot.entry, projection, rows, last, slot.folded))
            slot.folded = last
        return writes


def fold_page(
    store: ReadStore,
    slots: Sequence[Slot],
    events: Sequence[tuple[int, Any]],
    last: int | None = None,
) -> list[PageWrite]:
    """Folds a decoded page into each slot that is behind it (no writing). The
    page ends at ``last`` (default: its last event; later when the events in
    between were filtered out as irrelevant). The rows every slot needs and
    does not hold are read at once, first."""
    fold = PageFold(slots, events, events[-1][0] if last is None else last)
    return fold.finish(store.load_many(fold.requests) if fold.requests else [])


def _advance(slots: Sequence[Slot], writes: Sequence[PageWrite]) -> None:
    """The slots move to the positions their committed writes reached."""
    by_entry = {s.entry: s for s in slots}
    for w in writes:
        slot = by_entry[w.entry]
        slot.position = w.position
        if slot.inflight is w.rows:
            slot.inflight = None


def _rollback(store: ReadStore, slots: Sequence[Slot]) -> None:
    """After a failed write nothing folded ahead can be trusted, and even the
    outcome of the failed commit is unknown: forget it all and re-read the
    stored positions (now, or before the next page if the store is down)."""
    for s in slots:
        s.cache.clear()
        s.inflight = None
        s.stale = True
    _refresh(store, slots)


def _refresh(store: ReadStore, slots: Sequence[Slot]) -> None:
    for s in slots:
        if s.stale:
            try:
                s.position = store.position(s.entry)
            except Exception:  # noqa: BLE001 - still unavailable; retry next time
                log.debug("could not re-read position of %s", s.entry.tracking_name)
                continue
            s.folded = s.position
            s.stale = False


def run_pages(
    app: Ledger,
    store: ReadStore,
    slots: Sequence[Slot],
    *,
    page_size: int = DEFAULT_PAGE_SIZE,
    stop_at: int | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    on_page: Callable[[int], None] = lambda _position: None,
    on_commit: Callable[[Sequence[PageWrite]], None] | None = None,
    only_relevant: bool = False,
) -> int:
    """Processes pages until the log is exhausted (or ``stop_at``); returns the
    number of events read.

    While a full page is being written (on a writer thread, mostly waiting on the
    database), the next page is read and folded, so both cores work. At the head
    (a page that is not full) the write is synchronous: live updates stay low
    latency.

    ``on_commit`` is handed each page's writes once they are committed, before
    the positions move (so whoever waits for a position sees its effects).

    ``only_relevant`` (bulk builds): read only the event types these projections
    fold. Positions still advance over the rest: the head is read before each
    select, and since events commit in position order, everything up to it that
    the select did not return is irrelevant.
    """
    count = 0
    topics = (
        sorted({get_topic(t) for s in slots for t in s.projection.event_types})
        if only_relevant
        else []
    )
    _refresh(store, slots)
    if any(s.stale for s in slots):
        msg = "The read store is unavailable: positions cannot be read."
        raise StorageUnavailableError(msg)
    for s in slots:
        s.folded = s.position
    executor: ThreadPoolExecutor | None = None
    pending: tuple[Future[None], list[PageWrite], int] | None = None

    def finish() -> None:
        nonlocal pending
        if pending is None:
            return
        future, writes, last = pending
        pending = None
        future.result()
        if on_commit is not None:
            on_commit(writes)
        _advance(slots, writes)
        on_page(last)

    try:
        while slots and not should_stop():
            start = min(s.folded for s in slots)
            if stop_at is not None and start >= stop_at:
                break
            head = (app.recorder.max_notification_id() or 0) if topics else 0
            if stop_at is not None:
                head = min(head, stop_at)
            notifications = app.recorder.select_notifications(
                start=start, limit=page_size, stop=stop_at, topics=topics,
                inclusive_of_start=False,
            )
            if not notifications and head <= start:
                break
            events = decode_page(app, notifications, remember=not only_relevant)
            last = events[-1][0] if events else head
            if len(notifications) < page_size:
                last = max(last, head)  # the rest up to the head was irrelevant
            writes = fold_page(store, slots, events, last)
            finish()
            count += len(events)
            if len(notifications) < page_size:
                store.write(writes)
                if on_commit is not None:
                    on_commit(writes)
                _advance(slots, writes)
                on_page(last)
                break
            executor = executor or ThreadPoolExecutor(1, thread_name_prefix="projection-writer")
            by_entry = {s.entry: s for s in slots}
            for w in writes:
                by_entry[w.entry].inflight = w.rows
            pending = (executor.submit(store.write, writes), writes, last)
        finish()
    except BaseException:
        if pending is not None:
            try:
                pending[0].result()
            except BaseException:  # noqa: BLE001 - the first error is the one raised
                log.debug("pending page write failed too", exc_info=True)
        _rollback(store, slots)
        raise
    finally:
        if executor is not None:
            executor.shutdown(wait=True)
    return count
