"""Row lookups by key, batched on a thread of their own.

An assignment command (accept, start, complete, ...) names the assignment; the
ticket it belongs to is in the assignment's read row. When this process did not
commit that row itself, the event loop has to ask the store. Run in the
threadpool, each request costs a thread hand-off of its own and a query of its
own. Here the requests that queue up together are read with one query
(``WHERE key IN (...)``) on one thread, as the command thread loads the tickets
of the commands that queued up together (``ledger.executor``). Under light load
a batch is one key: no artificial delay.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any

from ledger.queuethread import QueueThread

log = logging.getLogger("ledger.projections.lookup")

#: Most keys read with one query.
MAX_KEYS = 100

#: ``fetch(keys)``: the rows found, by key (keys not found are left out).
Fetch = Callable[[Sequence[str]], dict[str, dict[str, Any]]]


class BatchedLookup(QueueThread):
    """``submit(key)`` returns a future of the key's row, or None if there is
    none; it raises what reading it raised."""

    def __init__(self, fetch: Fetch, *, name: str, max_keys: int = MAX_KEYS) -> None:
        super().__init__(name)
        self._fetch = fetch
        self.max_keys = max_keys
        #: (queries, keys) read so far.
        self.queries = 0
        self.keys = 0

    def submit(self, key: str) -> Future[dict[str, Any] | None]:
        future: Future[dict[str, Any] | None] = Future()
        future.set_running_or_notify_cancel()
        if not self._enqueue((key, future)):
            # Closed (shutting down): read on the caller's thread.
            self._answer([(key, future)])
        return future

    def _run(self) -> None:
        while True:
            batch, stop = self._take(self.max_keys)
            if batch:
                self._answer(batch)
            if stop:
                return

    def _answer(self, batch: list[tuple[str, Future[dict[str, Any] | None]]]) -> None:
        try:
            rows = self._fetch(sorted({key for key, _ in batch}))
        except BaseException as e:  # noqa: BLE001 - every caller gets what it would have met alone
            log.debug("lookup of %d keys failed", len(batch), exc_info=True)
            for _, future in batch:
                future.set_exception(e)
            if not isinstance(e, Exception):
                raise
            return
        self.queries += 1
        self.keys += len(batch)
        for key, future in batch:
            future.set_result(rows.get(key))
