"""A thread that serves a queue, started on first use and stopped by ``close``
(the group committer and the command thread are both one)."""

from __future__ import annotations

import queue
import threading
from typing import Any

#: Put on the queue by ``close``: the thread finishes what it has, then stops.
STOP: Any = object()


class QueueThread:
    def __init__(self, name: str) -> None:
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._name = name

    def _enqueue(self, item: Any) -> bool:
        """Queues ``item``, starting the thread if need be; False once closed
        (nothing queued)."""
        with self._lock:
            if self._closed:
                return False
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            self._queue.put(item)
            return True

    def on_own_thread(self) -> bool:
        return threading.current_thread() is self._thread

    def close(self) -> None:
        """Lets the thread finish what was queued, then stops it."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            thread = self._thread
            self._queue.put(STOP)
        if thread is not None:
            thread.join(timeout=30)

    def _run(self) -> None:
        raise NotImplementedError
