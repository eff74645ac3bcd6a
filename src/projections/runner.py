"""Runs the projections: batched catch-up, live following, versioned rebuilds.

One loop reads the notification log a page at a time, decodes each event once,
folds it into every projection that is behind it, and writes all their row
changes and positions in one transaction. The same code path serves live
updates (a page of one event) and full replays (pages of thousands).

A build of a projection version is an entry in the catalog: ``live`` builds are
maintained by the live runner and are what the public views show; ``building``
builds are filled beside them by a rebuild and switched in atomically once they
have caught up.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from eventsourcing.persistence import Notification
from eventsourcing.utils import get_topic

from ledger.adapter import HookedPostgresApplicationRecorder
from ledger.application import Ledger
from ledger.errors import StorageUnavailableError
from projections.folds import ALL_PROJECTIONS, EngineersProjection, Key, Projection, Rows
from projections.gcpolicy import raised_thresholds
from projections.locks import ProcessLock, SharedLock
from projections.recent import CommittedRows
from projections.store import (
    BUILDING,
    LIVE,
    CatalogEntry,
    PageWrite,
    PositionConflictError,
    ReadStore,
    SwitchBehindError,
    now_ts,
)
from projections.tables import Table, parse_ts

log = logging.getLogger("ledger.projections")

DEFAULT_PAGE_SIZE = 5000
#: Seconds between reads of the stored positions while waiting on another
#: process's runner (one read serves every waiting thread).
PASSIVE_POLL = 0.002
ROW_CACHE_SIZE = 20_000
#: Seconds a catch-up waits for the runner's lock before saves stand aside for it.
RUNNER_LOCK_PATIENCE = 0.05
#: Seconds the leading runner lets NOTIFY wake-ups coalesce after a look that
#: found every event projected (by the saves themselves, projections.inline).
INLINE_RECHECK = 0.02
#: The live runner's bound: it follows the head, where recent rows are what
#: pages touch; a serving process must stay small (a rebuild keeps the larger one).
#: Inline saves (projections.inline) read their misses in the insert's own round
#: trip, so a miss costs little there.
LIVE_ROW_CACHE_SIZE = 1_000


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


def decode_page(app: Ledger, notifications: Sequence[Notification]) -> list[tuple[int, Any]]:
    to_event = app.mapper.to_domain_event
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


def _committed(slots: Sequence[Slot], writes: Sequence[PageWrite]) -> None:
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


def commit_page(store: ReadStore, slots: Sequence[Slot], writes: Sequence[PageWrite]) -> None:
    try:
        store.write(writes)
    except BaseException:
        _rollback(store, slots)
        raise
    _committed(slots, writes)


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
        _committed(slots, writes)
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
            events = decode_page(app, notifications)
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
                _committed(slots, writes)
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


class ReadSide:
    """The read side of one process: catalog, live runner, waits and rebuilds."""

    def __init__(
        self,
        app: Ledger,
        store: ReadStore,
        projections: Sequence[Projection] | None = None,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        poll_interval: float = 1.0,
        passive: bool = False,
        answered: Sequence[Table] = (),
        inline: bool = True,
    ) -> None:
        """``passive``: this process never writes projections; it only waits for
        the runner of another process (read from the stored positions).
        ``answered``: tables whose committed rows are kept for command responses
        (``committed_row``). ``inline``: the rows of this process's saves are
        written in the save's own transaction (PostgreSQL; see
        projections.inline)."""
        self.passive = passive
        self.inline = (
            inline
            and isinstance(app.recorder, HookedPostgresApplicationRecorder)
            and hasattr(store, "write_on")
        )
        self.app = app
        self.store = store
        self.projections = {p.name: p for p in (projections or [c() for c in ALL_PROJECTIONS])}
        self.page_size = page_size
        self.poll_interval = poll_interval
        self._live: list[Slot] = []
        #: Catch-up passes hold it alone; inline saves share it (projections.inline).
        self._lock = SharedLock()
        self._catching_up = threading.Event()  # a catch-up waits for the lock
        self._cond = threading.Condition()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._listener_thread: threading.Thread | None = None
        self.last_error: str | None = None
        self.pending_builds: list[str] = []
        #: Held by the one process (of all serving this store) that runs the live
        #: runner; the others wait on stored positions and take over if it goes.
        self._leader_lock = ProcessLock(app.store, "projection-runner")
        self._leading = False
        self._lock_checked = 0.0
        self._next_attempt = 0.0
        self.rebuild_pending_on_lead = False
        self._caught_up_once = threading.Event()
        self._recent = CommittedRows(t.name for t in answered)
        self._polling = False  # a passive waiter is reading the stored positions
        self._polled_at = 0.0

    # ---------------------------------------------------------------- catalog

    def setup(self) -> None:
        """Makes sure every projection has a live build; returns names whose code
        version differs from the live one (they need a rebuild)."""
        with ProcessLock(self.app.store, "projection-setup"):
            self._setup()
        self.reload()

    def _setup(self) -> None:
        catalog = self.store.catalog()
        self.pending_builds = []
        for name, projection in self.projections.items():
            live = [e for e in catalog if e.name == name and e.state == LIVE]
            if not live:
                entry = self._new_entry(catalog, projection)
                self.store.add_entry(entry)
                self.store.create_tables(entry, projection)
                self.store.switch(entry, None, projection)
            else:
                self.store.ensure_position(live[0])  # stores made before positions were CAS'd
                if live[0].version != projection.version:
                    self.pending_builds.append(name)

    def _new_entry(self, catalog: list[CatalogEntry], projection: Projection) -> CatalogEntry:
        generations = [
            e.generation
            for e in catalog
            if e.name == projection.name and e.version == projection.version
        ]
        return CatalogEntry(
            name=projection.name,
            version=projection.version,
            generation=max(generations, default=0) + 1,
            state=BUILDING,
            created_at=now_ts(),
        )

    def reload(self, *, fresh: bool = False) -> None:
        """Re-reads which builds are live (after a switch made by anyone).
        ``fresh``: forget every slot's state, keep none."""
        catalog = self.store.catalog()
        slots = []
        for entry in catalog:
            projection = self.projections.get(entry.name)
            if entry.state != LIVE or projection is None:
                continue
            if entry.version != projection.version:
                continue  # built by other code; this process cannot maintain it
            old = None if fresh else next((s for s in self._live if s.entry == entry), None)
            slots.append(old or Slot(entry, projection, self.store.position(entry),
                                     cache=RowCache(LIVE_ROW_CACHE_SIZE)))
        if [s.entry for s in slots] != [s.entry for s in self._live]:
            self._recent.clear()  # other builds are live now: ask them
        with self._cond:
            self._live = slots
            self._cond.notify_all()

    def live_entries(self) -> list[CatalogEntry]:
        return [e for e in self.store.catalog() if e.state == LIVE]

    # ---------------------------------------------------------------- live runner

    def catch_up(self) -> int:
        """Processes everything recorded so far into the live builds.

        If another runner (another process) moved a position meanwhile, the page
        is refused whole; positions are re-read and the pass starts again."""
        if not self._lock.acquire(timeout=RUNNER_LOCK_PATIENCE):
            # Saves that would project inline stand aside while this waits: a
            # lock is not fair, and a stream of saves (each of which takes it)
            # could otherwise keep the runner out for good.
            self._catching_up.set()
            try:
                self._lock.acquire()
            finally:
                self._catching_up.clear()
        try:
            return self._catch_up()
        finally:
            self._lock.release()

    def _catch_up(self) -> int:
        # A process's first pass replays whatever was recorded while it was
        # down (all of history, for a new read side): a bulk replay.
        with nullcontext() if self._caught_up_once.is_set() else relaxed_gc():
            return self._catch_up_pages()

    def _catch_up_pages(self) -> int:
        for attempt in range(3):
            try:
                return run_pages(
                    self.app, self.store, self._live, page_size=self.page_size,
                    on_page=self._advanced, on_commit=self._on_commit,
                )
            except PositionConflictError:
                self._recent.clear()
                if attempt == 2:
                    raise
                log.info("projection positions moved under this runner; reloading")
                self.reload()
        return 0

    def _on_commit(self, writes: Sequence[PageWrite]) -> None:
        self._recent.remember(writes)
        engineers = EngineersProjection.table
        for write in writes:
            if engineers in write.projection.tables:
                for (engineer_id,), row in write.rows.changed(engineers):
                    self.app.engineer_changed(engineer_id, None if row is None else row["active"])

    def committed_row(self, table: Table, key: Key, at_least: int = 0) -> dict[str, Any] | None:
        """The row as this process last committed it (its runner, or its saves'
        inline projection), if it has it, written at position ``at_least`` or
        later (see projections.recent); else None."""
        if self._thread is None or self.passive:
            return None
        if not self._leading and self.app.inline is None:
            return None
        return self._recent.get(table.name, key, at_least)

    def _moved(self, writes: Sequence[PageWrite]) -> None:
        """Builds moved by a write of this process's saves (projections.inline):
        the slots follow. Their row caches are dropped (the write's rows were
        folded elsewhere, and another process may have written in between)."""
        by_entry = {w.entry: w for w in writes}
        with self._cond:
            for slot in self._live:
                w = by_entry.get(slot.entry)
                if w is not None and w.position > slot.position:
                    slot.cache.clear()
                    slot.position = slot.folded = w.position
            self._cond.notify_all()

    def _sync_positions(self) -> None:
        """Moves the slots up to the stored positions, where other processes'
        saves projected inline (caches dropped: their rows changed). Runner
        thread only, between passes (no page in flight)."""
        slots = list(self._live)
        stored = self.store.positions([s.entry for s in slots])
        with self._cond:
            for slot, value in zip(slots, stored, strict=True):
                if value > slot.position:
                    slot.cache.clear()
                    slot.position = slot.folded = value
            self._cond.notify_all()

    def _advanced(self, _position: int) -> None:
        with self._cond:
            self._cond.notify_all()

    def wake(self, position: int = 0) -> None:
        if position and self._leading and self.live_position() >= position:
            return  # projected in its own transaction (projections.inline)
        self._wake.set()

    @property
    def leading(self) -> bool:
        """Whether this process runs the live projection runner right now."""
        return self._leading

    def _lead(self) -> bool:
        """Keeps or tries to take the runner's leadership (cheaply, rate-limited)."""
        now = time.monotonic()
        if self._leading:
            if now - self._lock_checked < 5.0:
                return True
            self._lock_checked = now
            if self._leader_lock.check():
                return True
            self._leading = False
            self._recent.clear()
            self.app.cache_engineers(False)
            log.warning("lost the projection runner's lock; following again")
        if now < self._next_attempt:
            return False
        self._next_attempt = now + self.poll_interval
        if not self._leader_lock.acquire(blocking=False):
            return False
        try:
            # Another process may have led meanwhile: fresh slots (positions read
            # from the store, empty row caches).
            self.reload(fresh=True)
        except BaseException:
            self._leader_lock.release()
            raise
        self._leading = True
        self._lock_checked = now
        self._recent.clear()
        # Its runner now sees every Engineer change (see Ledger.cache_engineers).
        self.app.cache_engineers(True)
        log.info("this process now runs the projections")
        self._wake.set()  # catch up right away
        if self.rebuild_pending_on_lead and self.pending_builds:
            names = list(self.pending_builds)
            log.warning("projection versions changed, rebuilding: %s", ", ".join(names))
            threading.Thread(
                target=self.rebuild, args=(names,), daemon=True, name="rebuild-on-lead"
            ).start()
        return True

    def wait_until_led(self, timeout: float) -> bool:
        """If this process takes the lead within ``timeout`` seconds, waits for its
        first catch-up (so a leader serves caught-up tables). Returns whether it leads."""
        deadline = time.monotonic() + timeout
        while not self._leading and time.monotonic() < deadline:
            time.sleep(0.01)
        if self._leading:
            while not self._caught_up_once.wait(0.1):
                if self._stop.is_set() or self.last_error is not None:
                    break
        return self._leading

    def start(self, *, rebuild_pending: bool = False) -> None:
        """Follows the log in a background thread until ``stop()``: as the runner
        if this process holds the lock, else as a follower ready to take over.
        ``rebuild_pending``: the runner rebuilds projections whose version changed."""
        if self._thread is not None:
            return
        self.rebuild_pending_on_lead = rebuild_pending
        self._stop.clear()
        if self.inline and not self.passive:
            from projections.inline import InlineProjection

            self.app.inline = InlineProjection(self)
        self.app.add_listener(self.wake)
        self._thread = threading.Thread(target=self._run, name="projections", daemon=True)
        self._thread.start()
        if self.app.store.is_postgres:
            self._listener_thread = threading.Thread(
                target=self._listen, name="projections-listen", daemon=True
            )
            self._listener_thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self.app.remove_listener(self.wake)
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        if self._listener_thread is not None:
            self._listener_thread.join(timeout=5)
            self._listener_thread = None
        self.app.inline = None
        self._leader_lock.release()
        self._leading = False
        self._recent.clear()
        self.app.cache_engineers(False)

    def _run(self) -> None:
        backoff = 0.1
        last_reload = time.monotonic()
        while not self._stop.is_set():
            try:
                leading = self._lead()
            except Exception as e:  # the store is unavailable; try again shortly
                self.last_error = f"{type(e).__name__}: {e}"
                log.warning("projection runner could not take the lead (retrying): %s",
                            self.last_error)
                self._stop.wait(self.poll_interval)
                continue
            if not leading:
                self._stop.wait(self.poll_interval)  # another process runs them
                # Which builds are live (a rebuild's switch), for waits and this
                # process's inline writes.
                self._try_reload()
                continue
            self._wake.wait(timeout=self.poll_interval)
            self._wake.clear()
            if self._stop.is_set():
                break
            try:
                if time.monotonic() - last_reload > self.poll_interval:
                    self.reload()
                    last_reload = time.monotonic()
                # Saves project themselves (projections.inline), in every
                # process: a wake-up (PostgreSQL notifies every insert) then
                # usually finds nothing to do; find that out without taking
                # the runner's lock.
                if self.app.inline is not None and self._caught_up_once.is_set():
                    head = self.app.head()
                    if head > self.live_position():
                        self._sync_positions()
                    if head > self.live_position():
                        self.catch_up()
                    else:
                        # Nothing to do: let the wake-ups of the next few
                        # inserts (other processes') coalesce into one look.
                        self._stop.wait(INLINE_RECHECK)
                else:
                    self.catch_up()
                self._caught_up_once.set()
                self.last_error = None
                backoff = 0.1
            except Exception as e:  # keep following; storage may come back
                self.last_error = f"{type(e).__name__}: {e}"
                self._recent.clear()  # a failed commit may have committed after all
                log.warning("projection runner error (retrying): %s", self.last_error)
                self._try_reload()
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)
                self._wake.set()

    def _try_reload(self) -> None:
        try:
            self.reload()
        except Exception:  # noqa: BLE001 - the store is unavailable; next time
            log.debug("reload failed", exc_info=True)

    def _listen(self) -> None:
        """Wakes the runner when another process records events (PostgreSQL)."""
        import psycopg

        channel = getattr(self.app.recorder, "channel_name", "stored_events")
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.app.store.conninfo(), autocommit=True) as conn:
                    conn.execute(f'LISTEN "{channel}"')
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=0.05, stop_after=1):
                            self._wake.set()
            except Exception:  # noqa: BLE001 - reconnect after an outage
                self._stop.wait(1.0)

    # ---------------------------------------------------------------- waiting

    def live_position(self) -> int:
        with self._cond:
            return min((s.position for s in self._live), default=0)

    def wait_for(self, position: int, timeout: float) -> bool:
        """Blocks until every live read table includes ``position``."""
        deadline = time.monotonic() + timeout
        if self.passive or (self._thread is not None and not self._leading):
            return self._wait_passively(position, deadline)
        if self._thread is None:
            # No background runner in this process (CLI, tests): catch up here.
            self.catch_up()
        with self._cond:
            while min((s.position for s in self._live), default=0) < position:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(timeout=min(remaining, 0.05))
                if self._thread is None:
                    self._cond.release()
                    try:
                        self.catch_up()
                    finally:
                        self._cond.acquire()
            return True

    def _wait_passively(self, position: int, deadline: float) -> bool:
        """Waits on the positions another process's runner stores. One waiting
        thread at a time reads them (one query), at most every PASSIVE_POLL
        seconds; the others wait for what it reads."""
        with self._cond:
            while True:
                slots = list(self._live)
                if min((s.position for s in slots), default=0) >= position:
                    return True
                now = time.monotonic()
                if now >= deadline:
                    return False
                due = self._polled_at + PASSIVE_POLL
                if self._polling or now < due:
                    wait = PASSIVE_POLL if self._polling else due - now
                    self._cond.wait(timeout=max(min(wait, deadline - now), 0.0005))
                    continue
                self._polling = True
                self._cond.release()
                try:
                    stored = self.store.positions([s.entry for s in slots])
                finally:
                    self._cond.acquire()
                    self._polling = False
                    self._polled_at = time.monotonic()
                    self._cond.notify_all()
                for slot, value in zip(slots, stored, strict=True):
                    slot.position = slot.folded = value

    # ---------------------------------------------------------------- status

    def status(self) -> list[dict[str, Any]]:
        """Every live and building version: position, head, lag; for builds also
        progress, rate and ETA (from the build's start time in the catalog)."""
        head = self.app.head()
        now = time.time()
        out = []
        for entry in self.store.catalog():
            if entry.state not in (LIVE, BUILDING):
                continue
            position = self.store.position(entry)
            lag = max(head - position, 0)
            row: dict[str, Any] = {
                "name": entry.name,
                "version": entry.version,
                "generation": entry.generation,
                "state": entry.state,
                "position": position,
                "head": head,
                "lag": lag,
            }
            if entry.state == BUILDING:
                row["status"] = "building"
                elapsed = max(now - parse_ts(entry.created_at).timestamp(), 1e-3)
                rate = position / elapsed
                row["progress"] = round(position / head, 4) if head else 1.0
                row["events_per_s"] = round(rate, 1)
                row["eta_seconds"] = round(lag / rate, 1) if rate > 0 else None
            elif entry.version != getattr(self.projections.get(entry.name), "version", None):
                row["status"] = "stale_version"
            else:
                row["status"] = "live" if lag == 0 else "catching_up"
            out.append(row)
        return out

    # ---------------------------------------------------------------- rebuild

    def rebuild(
        self,
        names: Sequence[str] | None = None,
        *,
        keep: bool = False,
        progress: Callable[[int, int], None] = lambda _position, _head: None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> list[CatalogEntry]:
        """Builds a fresh copy of each projection beside the live one, catches it
        up to the head, switches the public views to it atomically, then drops the
        old tables (unless ``keep``). A build that was interrupted is resumed."""
        selected = list(names or self.projections)
        unknown = [n for n in selected if n not in self.projections]
        if unknown:
            msg = f"Unknown projection(s): {', '.join(unknown)}"
            raise KeyError(msg)
        catalog = self.store.catalog()
        slots: list[Slot] = []
        for name in selected:
            projection = self.projections[name]
            resumable = [
                e for e in catalog
                if e.name == name and e.state == BUILDING and e.version == projection.version
            ]
            if resumable:
                entry = resumable[-1]
                self.store.ensure_position(entry)
            else:
                entry = self._new_entry(catalog, projection)
                self.store.add_entry(entry)
                catalog.append(entry)
            self.store.create_tables(entry, projection, indexes=False)
            slots.append(Slot(entry, projection, self.store.position(entry)))

        head = self.app.head()
        progress(min(s.position for s in slots), head)

        def on_page(position: int) -> None:
            progress(position, max(head, position))

        with relaxed_gc():
            run_pages(
                self.app, self.store, slots, page_size=self.page_size,
                should_stop=should_stop, on_page=on_page, only_relevant=True,
            )
        if should_stop():
            return [s.entry for s in slots]
        switched = []
        for slot in slots:
            # Secondary indexes are built once, after the bulk load (much cheaper
            # than maintaining them row by row); then the last events that arrived
            # during the build, then the atomic switch.
            self.store.create_indexes(slot.entry, slot.projection)
            old = next(
                (e for e in self.store.catalog() if e.name == slot.entry.name and e.state == LIVE),
                None,
            )
            for attempt in range(50):
                run_pages(self.app, self.store, [slot], page_size=self.page_size)
                try:
                    self.store.switch(slot.entry, old, slot.projection)
                    break
                except SwitchBehindError:
                    if attempt == 49:
                        raise
                    time.sleep(0.01)  # the live build moved on: catch up again
            if old is not None and not keep:
                self.reload()  # this process's live runner leaves the old build first
                self.store.drop_tables(old, self.projections[old.name])
            switched.append(slot.entry)
        progress(self.app.head(), self.app.head())
        self.reload()
        self.pending_builds = [n for n in self.pending_builds if n not in selected]
        return switched
