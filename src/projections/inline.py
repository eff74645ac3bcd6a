"""Projections written in the command's own transaction (PostgreSQL).

Left to the live runner, a command costs two durable commits one after the
other -- its events, then, in the runner's next pass, the read tables -- plus
reading its events back and a thread hand-off; the response (read-your-writes)
waits for all of it. Here the events of a save are folded and written on the
insert's own cursor (``ledger.adapter``): one transaction holds the events, the
read rows and the new positions, so the response can be sent as soon as it
commits.

Every serving process does it (``uvicorn --workers N``), not only the one whose
runner leads. It is an optimisation of the runner, never a second source of
truth; what makes it safe with several writers is the events table's lock,
which every insert takes and holds until it commits:

* under that lock the save reads the live builds' stored positions and the rows
  its folds need (queued after the LOCK statement, so nothing another process
  committed before is missed, and nothing can commit in between); no row cache
  and no position kept in memory is trusted;
* it projects only if every live build is at the same position and nothing was
  recorded between that position and this save's first event (those events
  are the runner's to project first);
* the positions move by the usual compare-and-set, here a statement that fails
  if any build was not where the fold started (a runner pass that committed
  meanwhile); if that or anything else of the read side's fails the
  transaction, the save is made again without it (``Ledger.save``): the
  events commit alone and the leading runner projects them as it always did;
* a process whose runner does not lead leaves Engineer events to the runner
  (the leader's engineer cache learns of changes from what its runner folds).

Saves of this process can be in flight together (the group committer's two
threads): they share the read side's lock, which a runner pass holds alone, and
the events table's lock orders their transactions. What a committed save tells
the read side (``keep``) does not depend on the order the threads get there:
positions only move up, a remembered row gives way only to a later one, and an
engineer's cached flag is only ever forgotten.

It adds no round trip: the reads travel with the insert, the writes with the
COMMIT. Rebuilds, catch-up and SQLite (whose read store is reached through
another connection) go through the runner.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Protocol

from eventsourcing.persistence import RecordConflictError
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg import sql

from ledger.domain import Ticket
from ledger.errors import StorageUnavailableError
from projections.pages import PageFold, Slot
from projections.postgres_sql import POSITIONS_MOVED
from projections.postgres_store import PostgresReadStore
from projections.store import PageWrite

log = logging.getLogger("ledger.projections.inline")

#: A statement that fails (22P02) when its transaction commits, pipelined.
_ABANDON = b"SELECT 'ledger: inline projection abandoned'::int"
#: Seconds a save waits for the runner's lock (held by a runner pass) before
#: leaving its events to the runner instead.
LOCK_WAIT = 0.05


class LiveReadSide(Protocol):
    """What inline projection needs of this process's live read side
    (``projections.runner.ReadSide``)."""

    @property
    def leading(self) -> bool: ...

    def live_slots(self) -> list[Slot]: ...

    def beside_runner(self, timeout: float) -> AbstractContextManager[bool]: ...

    def inline_written(self, writes: Sequence[PageWrite]) -> None: ...

    def wake(self, position: int = 0) -> None: ...


class InlineProjection:
    """Installed on the Ledger (``Ledger.inline``) while this process's read side runs."""

    def __init__(
        self,
        read_side: LiveReadSide,
        recorder: PostgresApplicationRecorder,
        store: PostgresReadStore,
    ) -> None:
        self.read_side = read_side
        self.store = store
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
        must project these events); tells the read side what was written if
        the save commits."""
        rs = self.read_side
        if (
            not events
            or not rs.live_slots()
            or (not rs.leading and not all(isinstance(e, Ticket.Event) for e in events))
        ):
            self._count("deferred")
            yield None
            return
        with rs.beside_runner(LOCK_WAIT) as beside:
            if not beside:  # the runner has work, or holds its lock: it goes first
                self._count("deferred")
                yield None
                return
            hook = _Hook(self, list(events))
            try:
                yield hook
            except BaseException:
                hook.forget()
                raise
            if hook.writes is not None:
                hook.keep()
                self._count("projected")
            elif not hook.failed:
                self._count("deferred")


class _Hook:
    """Called by the recorder inside the insert's transaction (see
    ledger.adapter): ``before`` (the events table locked) queues the reads of
    the stored positions and of the rows the folds need, ``after`` (the events
    inserted, their positions known) folds and queues the writes. Nothing of it
    is awaited before the COMMIT: two round trips for the whole save, as
    without it."""

    def __init__(self, owner: InlineProjection, events: list[Any]) -> None:
        self.owner = owner
        self.events = events
        #: Working copies of the live builds (empty caches; positions as stored).
        self.slots: list[Slot] = []
        self.fold: PageFold | None = None
        self.positions: Any = None
        self.reads: list[Any] = []
        self.writes: list[PageWrite] | None = None
        #: Something was queued in the transaction (so its failure may be ours).
        self.touched = False
        #: The events were inserted and folded (an integrity error is then ours).
        self.folded = False
        self.failed = False

    def kwargs(self) -> dict[str, Any]:
        """What ``Application.save`` hands the recorder."""
        return {"before_insert": self.before, "after_insert": self.after}

    def before(self, curs: Any) -> None:
        rs = self.owner.read_side
        # eventsourcing retries an insert whose connection failed: what an
        # earlier attempt queued or folded is gone; start again.
        self.forget()
        if self.failed:
            return
        live = rs.live_slots()
        if not live:
            return
        # Planned with provisional positions (all of them new to the builds);
        # the stored positions and the events' real ones replace them in after().
        self.slots = [Slot(s.entry, s.projection, 0) for s in live]
        provisional = [(1 + i, e) for i, e in enumerate(self.events)]
        self.fold = PageFold(self.slots, provisional, len(provisional))
        self.touched = True
        conn = curs.connection
        self.positions = self.owner.store.send_positions(conn, [s.entry for s in self.slots])
        self.reads = self.owner.store.send_loads(conn, self.fold.requests)

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
        positions, self.positions = self.positions, None
        if fold is None:
            return
        store = self.owner.store
        stored = store.fetch_positions(positions, [s.entry for s in self.slots])
        loaded = store.fetch_loads(reads, fold.requests)
        position = stored[0]
        if (
            len(ids) != len(self.events)
            or ids[0] <= position
            or any(p != position for p in stored)  # a build catching up, or new
        ):
            return
        # Events recorded after the read tables' position and before this save
        # (their projection failed, or came from a process that leaves them to
        # the runner) are the runner's to project first. The events table is
        # locked by this transaction: nothing can be recorded in between any
        # more. (Ids are issued one after another: only a skipped one -- a
        # rolled-back insert's, or an unprojected event -- needs looking at.)
        if ids[0] != position + 1:
            curs.execute(self.owner._gap, (position, ids[0]), prepare=True)
            if curs.fetchone() is not None:
                return
        for slot in self.slots:
            slot.position = slot.folded = position
        self.folded = True
        writes = fold.finish(loaded, ids, ids[-1])
        self.writes = writes
        store.write_on(curs, writes)

    def failed_transaction(self, error: BaseException) -> bool:
        """Whether ``error`` (raised by the save) may come from the reads or
        writes queued in its transaction: some were, and the error is neither
        the store being unreachable nor the events' own conflict. If so, the
        hooks stand down: the caller saves again, without them, and the runner
        projects the events."""
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
            # Now and then: a runner pass (or a rebuild's switch) committed
            # between this save's read of the positions and its COMMIT.
            log.info("read positions moved under an inline write; "
                     "the runner projects these events")
            self.owner.read_side.wake()
        else:
            log.warning("inline projection failed its transaction; saving the events alone, "
                        "the runner projects them: %s: %s", type(error).__name__, error)
        self.forget()
        return True

    def keep(self) -> None:
        """The save committed: the positions move, waiters are told."""
        if self.writes is not None:
            self.owner.read_side.inline_written(self.writes)

    def forget(self) -> None:
        """Whatever was queued or folded did not (or may not have) committed:
        dropped. (Nothing of the read side's own state was changed yet.)"""
        for c in self.reads:
            c.close()
        if self.positions is not None:
            self.positions.close()
        self.positions = None
        self.reads = []
        self.fold = None
        self.slots = []
        self.folded = False
        self.writes = None
