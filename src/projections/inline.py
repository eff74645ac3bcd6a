"""Projections written in the command's own transaction (PostgreSQL).

Left to the live runner, a command costs two durable commits one after the
other -- its events, then, in the runner's next pass, the read tables -- plus
reading its events back and a thread hand-off; the response (read-your-writes)
waits for all of it. Here the events of a save are folded by the process's live
runner state and written on the insert's own cursor (``ledger.recorder``): one
transaction holds the events, the read rows and the new positions, so the
response can be sent as soon as it commits.

It is an optimisation of the runner, never a second source of truth:

* it runs only in the process whose runner leads, holding the runner's lock
  (so runner and inline writes never interleave), with every live build at the
  same position and nothing recorded between that position and this save's
  first event (checked under the events table's lock, which every insert
  takes: so no event can slip in between);
* the positions move by the usual compare-and-set, here a statement that
  fails if any build was not where the fold started; if that or anything else
  of the read side's fails the transaction, the save is made again without
  it (``Ledger._record``): the events commit alone and the runner projects
  them as it always did;
* folded state is kept only if the transaction commits (a failed or retried
  insert forgets it and re-reads the stored positions).

It adds no round trip: the reads of the rows the folds need are queued ahead of
the insert (pipeline mode) and travel with it; the writes travel with the
COMMIT.

Nothing else changes: rebuilds, followers, SQLite (whose read store is reached
through another connection) and catch-up all go through the runner.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from psycopg import sql

from eventsourcing.persistence import RecordConflictError

from ledger.errors import StorageUnavailableError
from projections import runner as _runner
from projections.postgres_store import POSITIONS_MOVED

if TYPE_CHECKING:
    from projections.runner import ReadSide, Slot
    from projections.store import PageWrite

log = logging.getLogger("ledger.projections.inline")

#: A statement that fails (22P02) when its transaction commits, pipelined.
_ABANDON = b"SELECT 'ledger: inline projection abandoned'::int"
#: Seconds a save waits for the runner's lock (held by a runner pass) before
#: leaving its events to the runner instead.
LOCK_WAIT = 0.05


class InlineProjection:
    """Installed on the Ledger (``Ledger.inline``) while this process's runner leads."""

    def __init__(self, read_side: ReadSide) -> None:
        self.read_side = read_side
        recorder = read_side.app.recorder
        self._gap = sql.SQL(
            "SELECT 1 FROM {}.{} WHERE notification_id > %s AND notification_id < %s LIMIT 1"
        ).format(
            sql.Identifier(recorder.datastore.schema),
            sql.Identifier(recorder.events_table_name),
        ).as_bytes(None)
        self._counts_lock = threading.Lock()
        #: saves whose read rows were written inline / left to the runner / failed inline
        self.projected = 0
        self.deferred = 0
        self.failed = 0

    def _count(self, name: str) -> None:
        with self._counts_lock:
            setattr(self, name, getattr(self, name) + 1)

    @contextmanager
    def session(self, events: Sequence[Any]) -> Iterator[_Hook | None]:
        """Around one save: yields the hooks' holder (or None when the runner
        must project these events); keeps the folded state if the save
        commits, forgets it if it does not."""
        rs = self.read_side
        if (
            not rs.leading
            or not events
            or rs._catching_up.is_set()  # the runner has work: let it in first
            or not rs._lock.acquire(timeout=LOCK_WAIT)
        ):
            self._count("deferred")
            yield None
            return
        hook = _Hook(self, list(events))
        try:
            yield hook
        except BaseException:
            hook.forget()
            raise
        else:
            if hook.writes is not None:
                hook.keep()
                self._count("projected")
            elif not hook.failed:
                self._count("deferred")
        finally:
            rs._lock.release()


class _Hook:
    """Called by the recorder inside the insert's transaction (see
    ledger.recorder): ``before`` queues the reads of the rows the folds need,
    ``after`` (the events inserted, their positions known) folds and queues the
    writes. Nothing of it is awaited before the COMMIT: two round trips for the
    whole save, as without it."""

    def __init__(self, owner: InlineProjection, events: list[Any]) -> None:
        self.owner = owner
        self.events = events
        self.slots: list[Slot] = []
        self.position = 0
        self.fold: _runner.PageFold | None = None
        self.reads: list[Any] = []
        self.writes: list[PageWrite] | None = None
        #: Something was queued in the transaction (so its failure may be ours).
        self.touched = False
        #: The slots' state was folded forward (undone by ``forget``).
        self.folded = False
        self.failed = False

    def kwargs(self) -> dict[str, Any]:
        """What ``Application.save`` hands the recorder."""
        return {"before_insert": self.before, "after_insert": self.after}

    def before(self, curs: Any) -> None:
        rs = self.owner.read_side
        # eventsourcing retries an insert whose connection failed: what an
        # earlier attempt folded did not commit (or, if it did, this attempt
        # conflicts and fails); start again from the stored positions.
        self.forget()
        if self.failed:
            return
        slots = list(rs._live)
        if not slots:
            return
        position = slots[0].position
        if any(
            s.stale or s.inflight is not None or s.position != position or s.folded != position
            for s in slots
        ):
            return
        # Planned with the positions the events will most likely get; the real
        # ones replace them once the insert has issued them.
        provisional = [(position + 1 + i, e) for i, e in enumerate(self.events)]
        self.slots, self.position = slots, position
        self.fold = _runner.PageFold(slots, provisional, provisional[-1][0])
        self.touched = True
        self.reads = rs.store.send_loads(curs.connection, self.fold.requests)

    def after(self, curs: Any, ids: Sequence[int]) -> None:
        try:
            self._after(curs, ids)
        except Exception:
            # eventsourcing commits the transaction before re-raising an error
            # met here: make that COMMIT fail, so that neither the events nor
            # half of their rows are recorded; the save is then made again
            # without the hooks (see failed_transaction).
            self.touched = True
            if not curs.connection.broken:
                curs.connection.cursor().execute(_ABANDON)
            raise

    def _after(self, curs: Any, ids: Sequence[int]) -> None:
        fold, self.fold = self.fold, None
        reads, self.reads = self.reads, []
        if fold is None:
            return
        store = self.owner.read_side.store
        loaded = store.fetch_loads(reads, fold.requests)
        if len(ids) != len(self.events) or ids[0] <= self.position:
            self.forget()
            return
        # Events recorded after the read tables' position and before this save
        # (by another process, or by this one while its runner did not lead) are
        # the runner's to project first. The events table is locked by this
        # transaction: nothing can be recorded in between any more. (Ids are
        # issued one after another: only a skipped one -- a rolled-back insert's,
        # or an event recorded elsewhere -- needs looking at.)
        if ids[0] != self.position + 1:
            curs.execute(self.owner._gap, (self.position, ids[0]), prepare=True)
            if curs.fetchone() is not None:
                self.forget()
                return
        self.folded = True
        writes = fold.finish(loaded, ids, ids[-1])
        self.writes = writes
        store.write_on(curs, writes)

    def failed_transaction(self, error: BaseException) -> bool:
        """Whether ``error`` (raised by the save) may come from the reads or
        writes queued in its transaction: some were, and the error is neither
        the store being unreachable nor the events' own conflict. If so, the state
        is forgotten and the hooks stand down: the caller saves again, without
        them, and the runner projects the events."""
        if not self.touched or self.failed or not isinstance(error, Exception):
            return False
        if isinstance(error, StorageUnavailableError):
            return False
        if isinstance(error, RecordConflictError) and not self.folded:
            # The insert itself conflicted (eventsourcing's IntegrityError is a
            # RecordConflictError). Once the insert has passed (folded), an
            # integrity error can only come from the read rows.
            return False
        self.failed = True
        self.owner._count("failed")
        if POSITIONS_MOVED in str(error):
            # Expected now and then: a rebuild switched a build since this
            # process last read the catalog (its runner reloads it next).
            log.info("read positions moved under an inline write (a rebuild's switch?); "
                     "the runner projects these events")
            self.owner.read_side.wake()
        else:
            log.warning("inline projection failed its transaction; saving the events alone, "
                        "the runner projects them: %s: %s", type(error).__name__, error)
        self.forget()
        return True

    def keep(self) -> None:
        """The save committed: the positions move, waiters are told."""
        rs = self.owner.read_side
        if self.writes is None:
            return
        rs._on_commit(self.writes)
        _runner._committed(self.slots, self.writes)
        rs._advanced(self.writes[-1].position)

    def forget(self) -> None:
        """Whatever was folded did not (or may not have) committed: the slots'
        caches and positions are reset from the store. (Planning alone changes
        nothing in them.)"""
        for c in self.reads:
            c.close()
        self.reads = []
        self.fold = None
        slots, self.slots = self.slots, []
        if not self.folded:
            return
        self.folded = False
        self.writes = None
        rs = self.owner.read_side
        rs._recent.clear()
        _runner._rollback(rs.store, slots)
