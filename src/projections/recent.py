"""The rows the live runner of this process committed last, per table.

A command's response is the read row of what it changed, once the read tables
include its position. The live runner has just folded and committed that row; it
is the only writer of the live tables, and a folded row is, by design, exactly
the canonical row the store gives back (``projections.tables``). So the API can
answer from here instead of reading the row back, falling back to a query when
the row is not here. The ReadSide only consults this while its runner leads,
clears it whenever that changes or a write fails, and rows are recorded only
after their page committed.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Any

from projections.folds import Key
from projections.store import PageWrite

#: Rows kept per table (least recently committed ones are dropped beyond this).
DEFAULT_SIZE = 4096


class CommittedRows:
    def __init__(self, tables: Iterable[str] = (), maxsize: int = DEFAULT_SIZE) -> None:
        self.tables = frozenset(tables)
        self.maxsize = maxsize
        self._rows: dict[str, OrderedDict[Key, dict[str, Any] | None]] = {}
        self._lock = threading.Lock()

    def remember(self, writes: Sequence[PageWrite]) -> None:
        if not self.tables:
            return
        with self._lock:
            for write in writes:
                for table in write.projection.tables:
                    if table.name not in self.tables:
                        continue
                    bucket = self._rows.setdefault(table.name, OrderedDict())
                    for key, row in write.rows.changed(table):
                        bucket[key] = None if row is None else dict(row)
                        bucket.move_to_end(key)
                    while len(bucket) > self.maxsize:
                        bucket.popitem(last=False)

    def get(self, table: str, key: Key) -> dict[str, Any] | None:
        """A copy of the row as committed; None when not known here (deleted
        rows included: the caller then asks the store)."""
        with self._lock:
            row = self._rows.get(table, {}).get(key)
            return None if row is None else dict(row)

    def clear(self) -> None:
        with self._lock:
            self._rows.clear()
