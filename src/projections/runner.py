"""The live read side of one process: it keeps the live builds current and
tells waiting requests when their position is in the read tables.

One process of all serving a store leads (``projections.locks.ProcessLock``):
its runner thread follows the log (``projections.pages.run_pages``), woken by
this process's saves, by PostgreSQL's NOTIFY or by a poll. The others follow:
they wait on the stored positions and take over if the leader goes. On
PostgreSQL every process's saves also project themselves in their own
transaction (``projections.inline``), through the small interface below
(``live_slots``, ``beside_runner``, ``inline_written``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from typing import Any

from ledger.application import Ledger
from ledger.qualification import EngineerFacts
from ledger.adapter import HookedPostgresApplicationRecorder
from projections import builds
from projections.base import Key, Projection
from projections.engineers import EngineersProjection
from projections.inline import InlineProjection
from projections.locks import Leadership, ProcessLock, SharedLock
from projections.pages import DEFAULT_PAGE_SIZE, RowCache, Slot, relaxed_gc, run_pages
from projections.postgres_store import PostgresReadStore
from projections.recent import CommittedRows
from projections.registry import ALL_PROJECTIONS, code_generation
from projections.store import LIVE, CatalogEntry, PageWrite, PositionConflictError, ReadStore
from projections.tables import Table
from projections.waiting import LiveBuilds

log = logging.getLogger("ledger.projections")

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
        self.app = app
        self.store = store
        self.projections = {p.name: p for p in (projections or [c() for c in ALL_PROJECTIONS])}
        self.page_size = page_size
        self.poll_interval = poll_interval
        self._live = LiveBuilds()
        #: Catch-up passes hold it alone; inline saves share it (projections.inline).
        self._lock = SharedLock()
        self._catching_up = threading.Event()  # a catch-up waits for the lock
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._listener_thread: threading.Thread | None = None
        self.last_error: str | None = None
        self.pending_builds: list[str] = []
        #: Held by the one process (of all serving this store) that runs the live
        #: runner; the others wait on stored positions and take over if it goes.
        # One leader per code generation: during a rolling deploy that changes a
        # projection's version, the new workers lead (build, then maintain) the
        # new version while the old ones keep the old version live (docs/deploy.md).
        self._leadership = Leadership(
            app.store, f"projection-runner-{code_generation(self.projections.values())}",
            retry=poll_interval)
        self._leading = False
        self._may_lead = True
        self.rebuild_pending_on_lead = False
        self._caught_up_once = threading.Event()
        self._recent = CommittedRows(t.name for t in answered)
        self._inline: InlineProjection | None = None
        recorder = app.recorder
        if (
            inline
            and not passive
            and isinstance(recorder, HookedPostgresApplicationRecorder)
            and isinstance(store, PostgresReadStore)
        ):
            self._inline = InlineProjection(self, recorder, store)

    # ---------------------------------------------------------------- catalog

    def setup(self) -> None:
        """Makes sure every projection has a live build; lists in
        ``pending_builds`` those whose live version differs from the code's."""
        with ProcessLock(self.app.store, "projection-setup"):
            self.pending_builds = builds.ensure_live(self.store, self.projections)
        self.reload()

    def reload(self, *, fresh: bool = False) -> None:
        """Re-reads which builds are live (after a switch made by anyone).
        ``fresh``: forget every slot's state, keep none."""
        catalog = self.store.catalog()
        kept: list[tuple[CatalogEntry, Projection, Slot | None]] = []
        newer = []
        for entry in catalog:
            projection = self.projections.get(entry.name)
            if entry.state != LIVE or projection is None:
                continue
            if entry.version > projection.version:
                newer.append(entry)  # newer code maintains it: wait for it, not on it
            if entry.version != projection.version:
                continue  # built by other code; this process cannot maintain it
            old = None if fresh else next((s for s in self._live.slots if s.entry == entry), None)
            kept.append((entry, projection, old))
        # The new slots' positions in one read (a start reads them all).
        new = [entry for entry, _projection, old in kept if old is None]
        positions = dict(zip(new, self.store.positions(new), strict=True)) if new else {}
        slots = [old or Slot(entry, projection, positions[entry],
                             cache=RowCache(LIVE_ROW_CACHE_SIZE))
                 for entry, projection, old in kept]
        if [s.entry for s in slots] != [s.entry for s in self._live.slots]:
            self._recent.clear()  # other builds are live now: ask them
        self._live.replace(slots)
        self._live.follow_newer(newer)

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
                    self.app, self.store, self._live.slots, page_size=self.page_size,
                    on_page=self._live.moved, on_commit=self._on_commit,
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
                    self.app.engineer_changed(
                        engineer_id, None if row is None else EngineerFacts.of(row))

    def committed_row(self, table: Table, key: Key, at_least: int = 0) -> dict[str, Any] | None:
        """The row as this process last committed it (its runner, or its saves'
        inline projection), if it has it, written at position ``at_least`` or
        later (see projections.recent); else None."""
        if self._thread is None or self.passive:
            return None
        if not self._leading and self.app.inline is None:
            return None
        return self._recent.get(table.name, key, at_least)

    def _sync_positions(self) -> None:
        """Moves the slots up to the stored positions, where other processes'
        saves projected inline. Runner thread only, between passes (no page in
        flight)."""
        entries = [s.entry for s in self._live.slots]
        self._live.move_up(dict(zip(entries, self.store.positions(entries), strict=True)))

    # ---------------------------------------------------------------- inline projection

    def live_slots(self) -> list[Slot]:
        """The live builds as they are now (a copy of the list: a reload replaces it)."""
        return list(self._live.slots)

    @contextmanager
    def beside_runner(self, timeout: float) -> Iterator[bool]:
        """For a save that projects its own events: shares the runner's lock with
        the other saves for the block, so that no runner pass interleaves.
        Yields False, holding nothing, when a catch-up is waiting for the lock
        (saves stand aside: a lock is not fair) or it is not free within
        ``timeout`` seconds."""
        if self._catching_up.is_set() or not self._lock.acquire_shared(timeout=timeout):
            yield False
            return
        try:
            yield True
        finally:
            self._lock.release_shared()

    def inline_written(self, writes: Sequence[PageWrite]) -> None:
        """A save's rows and positions, written in its own transaction, committed:
        the rows are remembered for responses, the slots move up."""
        self._on_commit(writes)
        self._live.move_up({w.entry: w.position for w in writes})

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
        if not self._may_lead:
            return False
        was_leading = self._leading
        leading = self._leadership.lead()
        if was_leading and not leading:
            self._leading = False
            self._recent.clear()
            self.app.cache_engineers(False)
            log.warning("lost the projection runner's lock; following again")
        if not leading or was_leading:
            return leading
        try:
            # Another process may have led meanwhile: fresh slots (positions read
            # from the store, empty row caches).
            self.reload(fresh=True)
        except BaseException:
            self._leadership.release()
            raise
        self._leading = True
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

    def start(self, *, rebuild_pending: bool = False, lead: bool = True) -> None:
        """Follows the log in a background thread until ``stop()``: as the runner
        if this process holds the lock, else as a follower ready to take over.
        ``rebuild_pending``: the runner rebuilds projections whose version changed.
        ``lead=False`` (``ledger serve --api-only``): never the runner; the thread
        only follows the catalog (for waits and this process's inline writes)."""
        if self._thread is not None:
            return
        self.rebuild_pending_on_lead = rebuild_pending
        self._may_lead = lead
        self._stop.clear()
        self.app.inline = self._inline
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
        self._leadership.release()
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
        """The position every live read table includes."""
        return self._live.position()

    def includes(self, position: int) -> bool:
        """Whether every live read table is known to include ``position`` (no query)."""
        return self.live_position() >= position and self._live.newer_include(position)

    def wait_for(self, position: int, timeout: float) -> bool:
        """Blocks until every live read table includes ``position``."""
        deadline = time.monotonic() + timeout
        if self.passive or (self._thread is not None and not self._leading):
            ok = self._live.wait_on_store(position, deadline, self.store)
        else:
            # No background runner in this process (CLI, tests): catch up here.
            ok = self._live.wait(position, deadline,
                                 self.catch_up if self._thread is None else None)
        return ok and self._live.wait_newer(position, deadline, self.store)

    # ---------------------------------------------------------------- builds

    def status(self) -> list[dict[str, Any]]:
        """Every live and building version: position, head, lag (``builds.status``)."""
        return builds.status(self.store, self.projections, self.app.head())

    def rebuild(
        self,
        names: Sequence[str] | None = None,
        *,
        keep: bool = False,
        progress: Callable[[int, int], None] = lambda _position, _head: None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> list[CatalogEntry]:
        """Rebuilds ``names`` (default: all) beside their live builds and switches
        to them (``builds.rebuild``); this process's runner follows the switch."""
        selected = list(names or self.projections)
        stopped = False

        def stopping() -> bool:
            nonlocal stopped
            stopped = stopped or should_stop()
            return stopped

        entries = builds.rebuild(
            self.app, self.store, self.projections, selected, page_size=self.page_size,
            keep=keep, progress=progress, should_stop=stopping, reload=self.reload,
        )
        if not stopped:
            self.pending_builds = [n for n in self.pending_builds if n not in selected]
        return entries
