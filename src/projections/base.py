"""What every projection is made of: a pure fold from ledger events to
read-table row changes, and the working set of rows it folds into.

A projection never touches a database. The page engine (``projections.pages``)
hands it a ``Rows`` working set (rows it asked for via ``keys()``, already
loaded) and the fold puts or deletes rows in it. Every value comes from the
event, never from the clock, so replaying the same events yields the same rows,
byte for byte.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from operator import attrgetter
from typing import Any, ClassVar

from projections.tables import Table, sid

Key = tuple[Any, ...]


class Rows:
    """The in-memory working set of one projection for one page of events.

    A row taken from an earlier page is copied on its first change in this page
    and changed in place after that, so a page being written is never touched by
    the next one.
    """

    def __init__(self) -> None:
        #: table -> key -> row (None = known absent / deleted)
        self.rows: dict[str, dict[Key, dict[str, Any] | None]] = {}
        #: table -> keys changed in this page (their rows belong to this page)
        self.dirty: dict[str, dict[Key, None]] = {}
        #: table -> keys of rows created in this page (fresh-key tables only)
        self.new: dict[str, set[Key]] = {}

    def get(self, table: Table, key: Key) -> dict[str, Any] | None:
        bucket = self.rows.get(table.name)
        return bucket.get(key) if bucket else None

    def put(self, table: Table, row: dict[str, Any]) -> None:
        key = table.key_of(row)
        bucket = self.rows.setdefault(table.name, {})
        if table.fresh_keys and bucket.get(key) is None:  # absent or known absent
            self.new.setdefault(table.name, set()).add(key)
        bucket[key] = row
        self.dirty.setdefault(table.name, {})[key] = None

    def patch(self, table: Table, key: Key, **changes: Any) -> None:
        bucket = self.rows.get(table.name)
        row = bucket.get(key) if bucket else None
        if row is None:  # an event for a row this projection never saw
            return
        dirty = self.dirty.setdefault(table.name, {})
        if key in dirty:
            row.update(changes)
        else:
            bucket[key] = {**row, **changes}  # type: ignore[index]
            dirty[key] = None

    def delete(self, table: Table, key: Key) -> None:
        self.rows.setdefault(table.name, {})[key] = None
        self.dirty.setdefault(table.name, {})[key] = None

    def changed(self, table: Table) -> list[tuple[Key, dict[str, Any] | None]]:
        current = self.rows.get(table.name, {})
        return [(key, current[key]) for key in self.dirty.get(table.name, ())]

    def split_changes(
        self, table: Table
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[Key]]:
        """(new rows to insert, rows to upsert, keys to delete) for one table."""
        new = self.new.get(table.name, set())
        inserts: list[dict[str, Any]] = []
        upserts: list[dict[str, Any]] = []
        deletes: list[Key] = []
        for key, row in self.changed(table):
            if row is None:
                deletes.append(key)
            elif key in new:
                inserts.append(row)
            else:
                upserts.append(row)
        return inserts, upserts, deletes

    def changes(self, table: Table) -> tuple[list[dict[str, Any]], list[Key]]:
        """(rows to upsert, keys to delete) for one table."""
        upserts: list[dict[str, Any]] = []
        deletes: list[Key] = []
        for key, row in self.changed(table):
            if row is None:
                deletes.append(key)
            else:
                upserts.append(row)
        return upserts, deletes


#: A fold of one event class: (event, its position, the working set).
Handler = Callable[[Any, int, Rows], None]
#: The rows (table, key) one event's fold reads or creates.
KeyRule = Callable[[Any], Iterable[tuple[Table, Key]]]


def row_of(table: Table, id_attribute: str) -> KeyRule:
    """The rule "the row of ``table`` keyed by the event's ``id_attribute``"
    (``originator_id``, ``assignment_id``, ...: a UUID, keyed as text)."""
    get = attrgetter(id_attribute)
    return lambda event: [(table, (sid(get(event)),))]


class Projection:
    """Base class: a name, a version, tables, and a fold per event class."""

    name: ClassVar[str]
    version: ClassVar[int]
    tables: ClassVar[tuple[Table, ...]]

    def __init__(self) -> None:
        self._handlers: dict[type, Handler] = self.handlers()
        self._keys: dict[type, KeyRule] = self.key_rules()
        self._creates: dict[type, KeyRule] = (
            self.create_rules()
        )
        #: The event classes this projection folds.
        self.event_types: frozenset[type] = frozenset(self._handlers)
        #: Whether any fold reads existing rows (else the page engine caches nothing).
        self.reads_rows: bool = bool(self._keys)

    def handlers(self) -> dict[type, Handler]:
        raise NotImplementedError

    def key_rules(self) -> dict[type, KeyRule]:
        """For each event class, the existing rows its fold reads."""
        return {}

    def create_rules(self) -> dict[type, KeyRule]:
        """For each event class, the rows its fold creates (so a later event in the
        same page need not look them up in the store). Optional: an omission only
        costs a lookup."""
        return {}

    def creates(self, event: Any) -> Iterable[tuple[Table, Key]]:
        rule = self._creates.get(type(event))
        return rule(event) if rule else ()

    def keys(self, event: Any) -> Iterable[tuple[Table, Key]]:
        rule = self._keys.get(type(event))
        return rule(event) if rule else ()

    def handler(self, event_type: type) -> Handler:
        """The fold of one of ``event_types``."""
        return self._handlers[event_type]

    def fold(self, event: Any, position: int, rows: Rows) -> None:
        handler = self._handlers.get(type(event))
        if handler is not None:
            handler(event, position, rows)
