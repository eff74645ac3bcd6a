"""The rows this process committed last, per table (its runner's pages and its
saves' inline projections).

A command's response is the read row of what it changed, once the read tables
include its position. This process has just folded and committed that row, and
a folded row is, by design, exactly the canonical row the store gives back
(``projections.tables``). So the API can answer from here instead of reading
the row back, falling back to a query when the row is not here. Each row is kept
with the position its write reached: another process may have changed it since,
so a caller asks for a row written at its command's position or later (which
includes the command). The ReadSide clears it whenever the live builds change
or a write fails, and rows are recorded only after their page committed.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Any

from projections.base import Key
from projections.store import PageWrite

#: Rows kept per table (least recently committed ones are dropped beyond this).
DEFAULT_SIZE = 4096


class CommittedRows:
    def __init__(self, tables: Iterable[str] = (), maxsize: int = DEFAULT_SIZE) -> None:
        self.tables = frozenset(tables)
        self.maxsize = maxsize
        #: table -> key -> (position of the write, row or None if deleted)
        self._rows: dict[str, OrderedDict[Key, tuple[int, dict[str, Any] | None]]] = {}
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
                        known = bucket.get(key)
                        if known is not None and known[0] > write.position:
                            # Two saves' writes told out of their commit order
                            # (projections.inline): the later one's row stays.
                            continue
                        bucket[key] = (write.position, None if row is None else dict(row))
                        bucket.move_to_end(key)
                    while len(bucket) > self.maxsize:
                        bucket.popitem(last=False)

    def get(self, table: str, key: Key, at_least: int = 0) -> dict[str, Any] | None:
        """A copy of the row as committed by a write that reached position
        ``at_least`` or later; None when not known here (deleted rows included:
        the caller then asks the store)."""
        with self._lock:
            found = self._rows.get(table, {}).get(key)
            if found is None or found[0] < at_least or found[1] is None:
                return None
            return dict(found[1])

    def clear(self) -> None:
        with self._lock:
            self._rows.clear()
