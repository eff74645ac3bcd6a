"""The read side on embedded SQLite: ``executemany`` in one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.persistence import OperationalError
from eventsourcing.sqlite import SQLiteTrackingRecorder

from projections.base import Key, Projection
from projections.store import (
    BUILDING,
    CATALOG_TABLE,
    LIVE,
    RETIRED,
    CatalogEntry,
    PageWrite,
    PositionConflictError,
    ReadStore,
    SwitchBehindError,
    now_ts,
)
from projections.tables import Table

_TYPES = {
    "text": "TEXT", "uuid": "TEXT", "int": "INTEGER", "float": "REAL",
    "ts": "TEXT", "json": "TEXT", "bool": "INTEGER",
}
_CHUNK = 500


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class SQLiteReadStore(SQLiteTrackingRecorder, ReadStore):
    placeholder = "?"

    def setup(self) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute(
                f"CREATE TABLE IF NOT EXISTS {CATALOG_TABLE} ("
                "name TEXT NOT NULL, version INTEGER NOT NULL, generation INTEGER NOT NULL, "
                "state TEXT NOT NULL, created_at TEXT NOT NULL, switched_at TEXT, "
                "PRIMARY KEY (name, version, generation))"
            )

    # ---------------------------------------------------------------- catalog

    def catalog(self) -> list[CatalogEntry]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT name, version, generation, state, created_at, switched_at "
                f"FROM {CATALOG_TABLE} ORDER BY name, version, generation"
            )
            return [CatalogEntry(*tuple(r)) for r in c.fetchall()]

    def add_entry(self, entry: CatalogEntry) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute(
                f"INSERT INTO {CATALOG_TABLE} VALUES (?,?,?,?,?,?)",
                (entry.name, entry.version, entry.generation, entry.state,
                 entry.created_at, entry.switched_at),
            )
            self._ensure_position(c, entry)

    def ensure_position(self, *entries: CatalogEntry) -> None:
        with self.datastore.transaction(commit=True) as c:
            for entry in entries:
                self._ensure_position(c, entry)

    @staticmethod
    def _ensure_position(c: Any, entry: CatalogEntry) -> None:
        # Every build starts with a position row at 0, so each page can move it
        # by compare-and-set.
        c.execute(
            "INSERT INTO tracking (application_name, notification_id) VALUES (?, 0) "
            "ON CONFLICT (application_name) DO NOTHING",
            (entry.tracking_name,),
        )

    def create_tables(
        self, entry: CatalogEntry, projection: Projection, *, indexes: bool = True
    ) -> None:
        with self.datastore.transaction(commit=True) as c:
            for table in projection.tables:
                phys = entry.physical(table)
                cols = ", ".join(
                    f"{_q(col.name)} {_TYPES[col.type]}{' NOT NULL' if col.not_null else ''}"
                    for col in table.columns
                )
                key = ", ".join(_q(k) for k in table.key)
                c.execute(f"CREATE TABLE IF NOT EXISTS {_q(phys)} ({cols}, PRIMARY KEY ({key}))")
        if indexes:
            self.create_indexes(entry, projection)

    def create_indexes(self, entry: CatalogEntry, projection: Projection) -> None:
        with self.datastore.transaction(commit=True) as c:
            for table in projection.tables:
                phys = entry.physical(table)
                for index in table.indexes:
                    name = f"{phys}_{'_'.join(index)}_idx"
                    sparse = table.partial(index)
                    c.execute(
                        f"CREATE INDEX IF NOT EXISTS {_q(name)} ON {_q(phys)} "
                        f"({', '.join(_q(x) for x in index)})"
                        + (f" WHERE {_q(sparse)} IS NOT NULL" if sparse else "")
                    )

    def drop_tables(self, entry: CatalogEntry, projection: Projection) -> None:
        with self.datastore.transaction(commit=True) as c:
            for table in projection.tables:
                c.execute(f"DROP TABLE IF EXISTS {_q(entry.physical(table))}")

    def switch(
        self, new: CatalogEntry, old: CatalogEntry | None, projection: Projection
    ) -> None:
        at = now_ts()
        with self.datastore.transaction(commit=True) as c:
            if old is not None:
                # The first write takes SQLite's write lock: the live runner cannot
                # commit into the old build until this switch is done (and then
                # finds it retired).
                c.execute(
                    "DELETE FROM tracking WHERE application_name = ? RETURNING notification_id",
                    (old.tracking_name,),
                )
                row = c.fetchone()
                old_position = row[0] if row else 0
                c.execute(
                    "SELECT notification_id FROM tracking WHERE application_name = ?",
                    (new.tracking_name,),
                )
                row = c.fetchone()
                behind_by = old_position - (row[0] if row else 0)
                if behind_by > 0:
                    msg = f"{new.tracking_name} is {behind_by} events behind the live build"
                    raise SwitchBehindError(msg)
            for table in projection.tables:
                c.execute(f"DROP VIEW IF EXISTS {_q(table.name)}")
                cols = ", ".join(_q(x) for x in table.column_names)
                c.execute(
                    f"CREATE VIEW {_q(table.name)} AS SELECT {cols} FROM {_q(new.physical(table))}"
                )
            if old is not None:
                c.execute(
                    f"UPDATE {CATALOG_TABLE} SET state=? WHERE name=? AND version=? AND generation=?",
                    (RETIRED, old.name, old.version, old.generation),
                )
            c.execute(
                f"UPDATE {CATALOG_TABLE} SET state=?, switched_at=? "
                "WHERE name=? AND version=? AND generation=? AND state=?",
                (LIVE, at, new.name, new.version, new.generation, BUILDING),
            )

    # ---------------------------------------------------------------- rows

    def _to_db(self, table: Table, row: dict[str, Any]) -> tuple[Any, ...]:
        out = []
        for name in table.column_names:
            value = row[name]
            kind = table.types[name]
            if value is not None:
                if kind == "json":
                    value = orjson.dumps(value).decode()
                elif kind == "bool":
                    value = int(bool(value))
            out.append(value)
        return tuple(out)

    def decode(self, table: Table, row: dict[str, Any]) -> dict[str, Any]:
        out = dict(row)
        for name, kind in table.types.items():
            value = out.get(name)
            if value is None:
                continue
            if kind == "json":
                out[name] = orjson.loads(value)
            elif kind == "bool":
                out[name] = bool(value)
            elif kind == "float":
                out[name] = float(value)
        return out

    def load(
        self, entry: CatalogEntry, table: Table, keys: Sequence[Key]
    ) -> dict[Key, dict[str, Any]]:
        if not keys:
            return {}
        (key_col,) = table.key
        found: dict[Key, dict[str, Any]] = {}
        phys = _q(entry.physical(table))
        with self.datastore.transaction(commit=False) as c:
            for i in range(0, len(keys), _CHUNK):
                chunk = [k[0] for k in keys[i : i + _CHUNK]]
                c.execute(
                    f"SELECT * FROM {phys} WHERE {_q(key_col)} IN ({','.join('?' * len(chunk))})",
                    chunk,
                )
                for r in c.fetchall():
                    row = self.decode(table, dict(r))
                    found[table.key_of(row)] = row
        return found

    def write(self, writes: Sequence[PageWrite]) -> None:
        try:
            self._write(writes)
        except OperationalError as e:
            if "no such table" not in str(e):
                raise
            # The build was switched out and dropped by a rebuild: as good as a
            # moved position; the runner reloads the catalog and carries on.
            msg = f"A build's tables are gone (switched and dropped): {e}"
            raise PositionConflictError(msg) from e

    def _write(self, writes: Sequence[PageWrite]) -> None:
        with self.datastore.transaction(commit=True) as c:
            for w in writes:
                for table in w.projection.tables:
                    upserts, deletes = w.rows.changes(table)
                    phys = _q(w.entry.physical(table))
                    if deletes:
                        where = " AND ".join(f"{_q(k)} = ?" for k in table.key)
                        c.executemany(f"DELETE FROM {phys} WHERE {where}", deletes)
                    if upserts:
                        cols = ", ".join(_q(x) for x in table.column_names)
                        marks = ",".join("?" * len(table.column_names))
                        c.executemany(
                            f"INSERT OR REPLACE INTO {phys} ({cols}) VALUES ({marks})",
                            [self._to_db(table, r) for r in upserts],
                        )
                c.execute(
                    "UPDATE tracking SET notification_id = ? "
                    "WHERE application_name = ? AND notification_id = ?",
                    (w.position, w.entry.tracking_name, w.since),
                )
                if c.sqlite_cursor.rowcount != 1:
                    msg = (
                        f"{w.entry.tracking_name} is not at position {w.since}; "
                        "another runner moved it"
                    )
                    raise PositionConflictError(msg)

    def position(self, entry: CatalogEntry) -> int:
        return self.max_tracking_id(entry.tracking_name) or 0

    # ---------------------------------------------------------------- queries

    def select(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(sql.replace("%s", "?"), list(params))
            return [dict(r) for r in c.fetchall()]

    def events_sql(self, table: str) -> str:
        return (
            "SELECT rowid AS position, originator_id, originator_version, topic, state "
            f"FROM {_q(table)}"
        )

    def uuid_param(self, value: Any) -> Any:
        return value.hex if isinstance(value, UUID) else value

    def close(self) -> None:
        self.datastore.close()
