"""Group commit: concurrent saves of different aggregates in one transaction.

Every command ends with a durable commit, and on PostgreSQL eventsourcing's
recorder serialises commits with a table lock (so notification ids are issued in
commit order): one fsync after another. The committer turns N concurrent
commits into one. Callers hand it an aggregate and wait; one thread takes
whatever has queued up while the previous transaction was committing and saves
it all with one ``Application.save(*aggregates)`` (``Ledger.save``, with its
inline projection and listeners). No artificial delay: under light load a batch
is one aggregate.

A batch that raises ``RecordConflictError`` (one of its aggregates was changed
underneath its command) has recorded nothing; each aggregate is then saved
alone, so only the conflicting command sees the conflict and its neighbours
commit. Any other failure (storage unavailable, ...) fails the whole batch:
none of it was recorded, and each caller answers as it would alone.

One thread: a second one taking turns (preparing its batch while the other's
COMMIT is made durable) did not measurably pay on the commands benchmark, and
needed the recorder to hand the turn over from inside its transaction.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any

from eventsourcing.persistence import RecordConflictError, Recording

from ledger.queuethread import QueueThread

log = logging.getLogger("ledger.committer")

#: Most aggregates saved in one transaction.
MAX_BATCH = 256

Save = Callable[..., list[Recording[Any]]]


class _Request:
    """One command's save: its aggregate and any companions, all or none."""

    __slots__ = ("aggregates", "future", "pending")

    def __init__(self, aggregates: tuple[Any, ...]) -> None:
        self.aggregates = aggregates
        self.future: Future[list[Recording[Any]]] = Future()
        # The events to record, kept to put back if the batch fails:
        # Application.save() collects (removes) them from the aggregates.
        self.pending: list[list[Any]] = [list(a.pending_events) for a in aggregates]


class GroupCommitter(QueueThread):
    """Saves aggregates handed in by concurrent callers, batched, on one thread;
    ``commit()`` returns the aggregate's recordings once they are durably
    stored, or raises what saving it raised."""

    def __init__(self, save: Save, *, max_batch: int = MAX_BATCH, name: str = "committer") -> None:
        super().__init__(name)
        self._save = save
        self.max_batch = max_batch
        self._stats = threading.Lock()
        #: (batches, aggregates) saved so far; batches split after a conflict.
        self.batches = 0
        self.saved = 0
        self.splits = 0

    def stats(self) -> dict[str, int]:
        """Counts so far: transactions (``batches``), aggregates ``saved``,
        batches that conflicted and were saved one by one (``splits``)."""
        with self._stats:
            return {"batches": self.batches, "saved": self.saved, "splits": self.splits}

    def commit(self, aggregate: Any, *companions: Any) -> list[Recording[Any]]:
        return self.submit(aggregate, *companions).result()

    def submit(self, aggregate: Any, *companions: Any) -> Future[list[Recording[Any]]]:
        """Queues the aggregate's save (with its companions, in the same
        transaction); the future resolves once it is durable."""
        request = _Request((aggregate, *companions))
        if not self._enqueue(request):
            # Closed (application shutting down): save on the caller's thread.
            self._alone(request)
        return request.future

    # ------------------------------------------------------------ the thread

    def _run(self) -> None:
        while True:
            batch, stop = self._take(self.max_batch)
            if batch:
                self._commit(batch)
            if stop:
                return

    def _commit(self, batch: Sequence[_Request]) -> None:
        if len(batch) == 1:
            self._alone(batch[0])
            return
        try:
            recordings = self._save(*(a for r in batch for a in r.aggregates))
        except RecordConflictError:
            # Nothing of the batch was recorded: isolate the conflicting one(s).
            with self._stats:
                self.splits += 1
            log.debug("batch of %d conflicted; saving each alone", len(batch))
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
            if len(r.aggregates) == 1:
                r.future.set_result(by_id.get(r.aggregates[0].id, []))
            else:
                r.future.set_result([x for a in r.aggregates for x in by_id.get(a.id, [])])

    def _alone(self, request: _Request) -> None:
        try:
            recordings = self._save(*request.aggregates)
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
    """Puts the aggregates' uncommitted events back (after a failed save)."""
    for aggregate, kept in zip(request.aggregates, request.pending, strict=True):
        pending = aggregate.pending_events
        if not pending and kept:
            pending.extend(kept)
