"""The live builds' positions, and the requests that wait for one of them.

A command's response (read-your-writes) and a query with ``min_position`` wait
until every live build has reached a position. Where this process runs the
projections, the runner tells the waiters as its pages commit; elsewhere
(a passive process, or a follower) they read the positions another process's
runner stores.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence

from projections.pages import Slot
from projections.store import CatalogEntry, ReadStore

#: Seconds between reads of the stored positions while waiting on another
#: process's runner (one read serves every waiting thread).
PASSIVE_POLL = 0.002


class LiveBuilds:
    """The slots of the live builds, replaced whole by a reload, and a condition
    every change of their positions notifies."""

    def __init__(self) -> None:
        self.slots: list[Slot] = []
        #: Live builds of a newer version than this code's: newer code (a rolling
        #: deploy's new workers) maintains them; reads here wait for them too.
        self.newer: list[CatalogEntry] = []
        self._newer_at: dict[CatalogEntry, int] = {}
        self._cond = threading.Condition()
        self._polling = False  # a passive waiter is reading the stored positions
        self._polled_at = 0.0

    def replace(self, slots: list[Slot]) -> None:
        with self._cond:
            self.slots = slots
            self._cond.notify_all()

    def follow_newer(self, entries: Sequence[CatalogEntry]) -> None:
        with self._cond:
            self.newer = list(entries)
            self._newer_at = {e: self._newer_at.get(e, 0) for e in entries}

    def newer_include(self, position: int) -> bool:
        """Whether the newer builds are known to include ``position`` (no query)."""
        return all(self._newer_at.get(e, 0) >= position for e in self.newer)

    def wait_newer(self, position: int, deadline: float, store: ReadStore) -> bool:
        """Waits until the newer builds' stored positions reach ``position``
        (only during a rolling deploy's switch-over: one query per look)."""
        while True:
            entries = list(self.newer)
            if not entries or self.newer_include(position):
                return True
            for entry, value in zip(entries, store.positions(entries), strict=True):
                self._newer_at[entry] = max(value, self._newer_at.get(entry, 0))
            if self.newer_include(position):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(PASSIVE_POLL)

    def position(self) -> int:
        """The lowest position of the live builds: what every read table includes."""
        with self._cond:
            return min((s.position for s in self.slots), default=0)

    def moved(self, _position: int = 0) -> None:
        """The runner committed a page: waiters look again."""
        with self._cond:
            self._cond.notify_all()

    def move_up(self, positions: Mapping[CatalogEntry, int]) -> None:
        """Live builds written elsewhere (by another process, or by this one's
        saves) move up to their new positions; their row caches are dropped
        (the rows changed without them) and the waiters are told."""
        with self._cond:
            for slot in self.slots:
                position = positions.get(slot.entry, 0)
                if position > slot.position:
                    slot.cache.clear()
                    slot.position = slot.folded = position
            self._cond.notify_all()

    def wait(self, position: int, deadline: float, catch_up: Callable[[], object] | None) -> bool:
        """Waits for this process's runner to commit ``position``; ``catch_up``
        (where no runner thread exists: the CLI, tests) runs the catch-up in
        the waiting thread instead."""
        if catch_up is not None:
            catch_up()
        with self._cond:
            while min((s.position for s in self.slots), default=0) < position:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(timeout=min(remaining, 0.05))
                if catch_up is not None:
                    self._cond.release()
                    try:
                        catch_up()
                    finally:
                        self._cond.acquire()
            return True

    def wait_on_store(self, position: int, deadline: float, store: ReadStore) -> bool:
        """Waits on the positions another process's runner stores. One waiting
        thread at a time reads them (one query), at most every PASSIVE_POLL
        seconds; the others wait for what it reads."""
        with self._cond:
            while True:
                slots: Sequence[Slot] = list(self.slots)
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
                    stored = store.positions([s.entry for s in slots])
                finally:
                    self._cond.acquire()
                    self._polling = False
                    self._polled_at = time.monotonic()
                    self._cond.notify_all()
                for slot, value in zip(slots, stored, strict=True):
                    slot.position = slot.folded = value
