"""Group commit: concurrent saves of different aggregates in one transaction.

Every command ends with a durable commit, and on PostgreSQL eventsourcing's
recorder serialises commits with a table lock (so notification ids are issued in
commit order): one fsync after another. The committer turns N concurrent
commits into one. Callers hand it an aggregate and wait; one thread takes
whatever has queued up while the previous transaction was committing and saves
it all with one ``Application.save(*aggregates)``, so every save still goes
through ``Application._record``. No artificial delay: under light load a batch
is one aggregate.

A batch that raises ``RecordConflictError`` (one of its aggregates was changed
underneath its command) has recorded nothing; each aggregate is then saved
alone, so only the conflicting command sees the conflict and its neighbours
commit. Any other failure (storage unavailable, ...) fails the whole batch:
none of it was recorded, and each caller answers as it would alone.

With ``threads=2`` (PostgreSQL) two threads take turns, so that one batch's
Python work overlaps the other's wait on the database: a thread takes the next
batch once the transaction before it has queued its last statement before the
COMMIT (the recorder calls ``window_closed()`` there), and prepares it (events
mapped and chained, the insert built) while that COMMIT is being made durable;
its own LOCK then reaches PostgreSQL while the events table is still locked by
the earlier transaction, and runs as soon as that one commits. The table lock
still orders the commits; only the client's share of the cycle overlaps. A batch
that splits after a conflict keeps the turn until its last save has returned.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from concurrent.futures import Future
from typing import Any

from eventsourcing.persistence import RecordConflictError, Recording

from ledger.queuethread import QueueThread

log = logging.getLogger("ledger.committer")

#: Most aggregates saved in one transaction.
MAX_BATCH = 256

Save = Callable[..., list[Recording[Any]]]

#: The committer thread's turn, while it has one (see ``window_closed``).
_turn = threading.local()


def window_closed() -> None:
    """Called (by the recorder) once a transaction has queued everything it
    sends before its COMMIT: on a committer thread, the next thread may take
    its batch. Anywhere else, and a second time, it does nothing."""
    turn: _Turn | None = getattr(_turn, "current", None)
    if turn is not None:
        turn.close()


class _Turn:
    """A committer thread's turn to take and save a batch; ``close()`` passes
    it on (once), unless ``held()``."""

    __slots__ = ("_baton", "_holds", "_open")

    def __init__(self, baton: threading.Lock) -> None:
        self._baton = baton
        self._open = True
        self._holds = 0

    def close(self) -> None:
        if self._open and not self._holds:
            self._open = False
            self._baton.release()

    @contextmanager
    def held(self) -> Iterator[None]:
        self._holds += 1
        try:
            yield
        finally:
            self._holds -= 1


class _Request:
    __slots__ = ("aggregate", "future", "pending")

    def __init__(self, aggregate: Any) -> None:
        self.aggregate = aggregate
        self.future: Future[list[Recording[Any]]] = Future()
        # The events to record, kept to put back if the batch fails:
        # Application.save() collects (removes) them from the aggregate.
        self.pending: list[Any] = list(aggregate.pending_events)


class GroupCommitter(QueueThread):
    """Saves aggregates handed in by concurrent callers, batched; ``commit()``
    returns the aggregate's recordings once they are durably stored, or raises
    what saving it raised."""

    def __init__(
        self, save: Save, *, max_batch: int = MAX_BATCH, name: str = "committer", threads: int = 1
    ) -> None:
        super().__init__(name, threads)
        self._save = save
        self.max_batch = max_batch
        #: Held by the thread whose turn it is to take a batch (see _Turn).
        self._baton = threading.Lock()
        self._stats = threading.Lock()
        #: (batches, aggregates) saved so far; batches split after a conflict.
        self.batches = 0
        self.saved = 0
        self.splits = 0
        #: Turns that took their batch while another thread's was still saving.
        self.overlaps = 0
        self._saving = 0

    def stats(self) -> dict[str, int]:
        """Counts so far: transactions (``batches``), aggregates ``saved``,
        batches that conflicted and were saved one by one (``splits``), turns
        taken while another thread's save was in flight (``overlaps``)."""
        with self._stats:
            return {"batches": self.batches, "saved": self.saved,
                    "splits": self.splits, "overlaps": self.overlaps}

    def commit(self, aggregate: Any) -> list[Recording[Any]]:
        return self.submit(aggregate).result()

    def submit(self, aggregate: Any) -> Future[list[Recording[Any]]]:
        """Queues the aggregate's save; the future resolves once it is durable."""
        request = _Request(aggregate)
        if not self._enqueue(request):
            # Closed (application shutting down): save on the caller's thread.
            self._alone(request)
        return request.future

    # ------------------------------------------------------------ the threads

    def _run(self) -> None:
        while True:
            self._baton.acquire()
            turn = _Turn(self._baton)
            _turn.current = turn
            try:
                if not self._take_turn():
                    return
            finally:
                _turn.current = None
                turn.close()

    def _take_turn(self) -> bool:
        """Takes what has queued (waiting for the first) and saves it; False
        once this thread has taken its STOP."""
        batch, stop = self._take(self.max_batch)
        if not batch:
            return False
        with self._stats:
            self.overlaps += self._saving > 0
            self._saving += 1
        try:
            self._commit(batch)
        finally:
            with self._stats:
                self._saving -= 1
        return not stop

    def _commit(self, batch: Sequence[_Request]) -> None:
        if len(batch) == 1:
            self._alone(batch[0])
            return
        try:
            recordings = self._save(*(r.aggregate for r in batch))
        except RecordConflictError:
            # Nothing of the batch was recorded: isolate the conflicting one(s).
            with self._stats:
                self.splits += 1
            log.debug("batch of %d conflicted; saving each alone", len(batch))
            turn: _Turn | None = getattr(_turn, "current", None)
            with turn.held() if turn is not None else nullcontext():
                for r in batch:
                    _restore(r)
                    self._alone(r)
            return
        except BaseException as e:
            for r in batch:
                _restore(r)
                r.future.set_exception(e)
            if not isinstance(e, Exception):
                raise
            return
        with self._stats:
            self.batches += 1
            self.saved += len(batch)
        by_id: dict[Any, list[Recording[Any]]] = {}
        for recording in recordings:
            by_id.setdefault(recording.domain_event.originator_id, []).append(recording)
        for r in batch:
            r.future.set_result(by_id.get(r.aggregate.id, []))

    def _alone(self, request: _Request) -> None:
        try:
            recordings = self._save(request.aggregate)
        except BaseException as e:
            _restore(request)
            request.future.set_exception(e)
            if not isinstance(e, Exception):
                raise
            return
        with self._stats:
            self.batches += 1
            self.saved += 1
        request.future.set_result(recordings)


def _restore(request: _Request) -> None:
    """Puts the aggregate's uncommitted events back (after a failed save)."""
    pending = request.aggregate.pending_events
    if not pending and request.pending:
        pending.extend(request.pending)
