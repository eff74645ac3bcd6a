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
* the read writes sit in a savepoint with the usual compare-and-set of the
  positions: if anything about them fails, they are rolled back alone, the
  events still commit, and the runner projects them as it always did;
* folded state is kept only if the transaction commits (a failed or retried
  insert forgets it and re-reads the stored positions).

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

from projections import runner as _runner

if TYPE_CHECKING:
    from projections.runner import ReadSide, Slot
    from projections.store import PageWrite

log = logging.getLogger("ledger.projections.inline")

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
        """Around one save: yields the hook to hand to the recorder (or None
        when the runner must project these events), keeps the folded state if
        the save commits, forgets it if it does not."""
        rs = self.read_side
        if not rs.leading or not events or not rs._lock.acquire(timeout=LOCK_WAIT):
            self._count("deferred")
            yield None
            return
        hook = _Hook(self, list(events))
        try:
            yield hook
        except BaseException:
            if hook.writes is not None:
                hook.forget()
            raise
        else:
            if hook.writes is not None:
                hook.keep()
                self._count("projected")
            else:
                self._count("deferred")
        finally:
            rs._lock.release()


class _Hook:
    """Called by the recorder inside the insert's transaction (see ledger.recorder)."""

    def __init__(self, owner: InlineProjection, events: list[Any]) -> None:
        self.owner = owner
        self.events = events
        self.slots: list[Slot] = []
        self.writes: list[PageWrite] | None = None

    def __call__(self, curs: Any, ids: Sequence[int]) -> None:
        rs = self.owner.read_side
        if self.writes is not None:
            # eventsourcing retries an insert whose connection failed: what the
            # first attempt folded did not commit (or, if it did, this attempt
            # conflicts and fails); start again from the stored positions.
            self.forget()
        slots = list(rs._live)
        if not slots or len(ids) != len(self.events):
            return
        position = slots[0].position
        if ids[0] <= position or any(
            s.stale or s.inflight is not None or s.position != position or s.folded != position
            for s in slots
        ):
            return
        # Events recorded after the read tables' position and before this save
        # (by another process, or by this one while its runner did not lead) are
        # the runner's to project first. The events table is locked by this
        # transaction: nothing can be recorded in between any more.
        # (Ids are issued one after another: only a skipped id -- a rolled-back
        # insert's, or an event recorded elsewhere -- needs looking at.)
        if ids[0] != position + 1:
            curs.execute(self.owner._gap, (position, ids[0]), prepare=True)
            if curs.fetchone() is not None:
                return
        store = rs.store
        try:
            writes = _runner.fold_page(
                store, slots, list(zip(ids, self.events)), ids[-1], cursor=curs
            )
            store.write_on(curs, writes)
        except Exception as e:  # noqa: BLE001 - the runner projects these events instead
            self.owner._count("failed")
            log.warning("inline projection failed, left to the runner: %s: %s",
                        type(e).__name__, e)
            self.slots = slots
            self.forget()
            if curs.connection.broken:
                raise
            return
        self.slots, self.writes = slots, writes

    def keep(self) -> None:
        """The save committed: the positions move, waiters are told."""
        rs = self.owner.read_side
        if self.writes is None:
            return
        rs._on_commit(self.writes)
        _runner._committed(self.slots, self.writes)
        rs._advanced(self.writes[-1].position)

    def forget(self) -> None:
        """The folded state did not (or may not have) committed."""
        rs = self.owner.read_side
        self.writes = None
        rs._recent.clear()
        _runner._rollback(rs.store, self.slots)
