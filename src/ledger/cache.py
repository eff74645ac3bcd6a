"""A version-checked cache of aggregates.

eventsourcing's own cache is not used: in 9.5.6 it deep-copies a cached
aggregate outside its lock, so concurrent commands on one ticket can see a torn
copy. Here commands on one ticket run one at a time, from load to durable save
(ledger.executor keeps the ticket busy), on the one cached object. The cached
aggregate only ever holds committed state: the caller puts
it back after a successful save and evicts it on any failure (its command may
have changed it). Another process writing the same ticket is caught by the
store's optimistic concurrency (the save conflicts); the caller then evicts,
reloads and runs the command again.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Generic, TypeVar

K = TypeVar("K")

#: Aggregates kept (least recently used ones are dropped beyond this).
DEFAULT_SIZE = 5000


class AggregateCache(Generic[K]):
    def __init__(self, maxsize: int = DEFAULT_SIZE) -> None:
        self.maxsize = maxsize
        self._items: OrderedDict[K, Any] = OrderedDict()
        self._guard = threading.Lock()

    def get(self, key: K) -> Any | None:
        with self._guard:
            aggregate = self._items.get(key)
            if aggregate is not None:
                self._items.move_to_end(key)
            return aggregate

    def put(self, key: K, aggregate: Any) -> None:
        if self.maxsize <= 0:
            return
        with self._guard:
            self._items[key] = aggregate
            self._items.move_to_end(key)
            while len(self._items) > self.maxsize:
                self._items.popitem(last=False)

    def evict(self, key: K) -> None:
        with self._guard:
            self._items.pop(key, None)

    def clear(self) -> None:
        with self._guard:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)
