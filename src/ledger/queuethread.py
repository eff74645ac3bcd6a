"""Threads that serve one queue, started on first use and stopped by ``close``
(the group committer and the command thread are such)."""

from __future__ import annotations

import queue
import threading
from typing import Any

#: Put on the queue by ``close``, once per thread: a thread that takes it
#: finishes what it has, then stops.
STOP: Any = object()


class QueueThread:
    def __init__(self, name: str, threads: int = 1) -> None:
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        #: How many threads serve the queue.
        self.threads = max(1, threads)
        self._closed = False
        self._name = name

    def _enqueue(self, item: Any) -> bool:
        """Queues ``item``, starting the threads if need be; False once closed
        (nothing queued)."""
        with self._lock:
            if self._closed:
                return False
            if not self._threads:
                for i in range(self.threads):
                    name = self._name if i == 0 else f"{self._name}-{i + 1}"
                    thread = threading.Thread(target=self._run, name=name, daemon=True)
                    self._threads.append(thread)
                    thread.start()
            self._queue.put(item)
            return True

    def on_own_thread(self) -> bool:
        return threading.current_thread() in self._threads

    def close(self) -> None:
        """Lets the threads finish what was queued, then stops them."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            threads = list(self._threads)
            for _ in threads:
                self._queue.put(STOP)
        for thread in threads:
            thread.join(timeout=30)

    def _take(self, limit: int) -> tuple[list[Any], bool]:
        """Waits for the first item, then takes whatever else has queued, up to
        ``limit`` items: (items, whether a STOP was taken). A STOP ends the take
        (items may then be empty)."""
        first = self._queue.get()
        if first is STOP:
            return [], True
        items = [first]
        while len(items) < limit:
            try:
                more = self._queue.get_nowait()
            except queue.Empty:
                break
            if more is STOP:
                return items, True
            items.append(more)
        return items, False

    def _run(self) -> None:
        raise NotImplementedError
