"""The read side on PostgreSQL: COPY into a staging table, then one
``INSERT … ON CONFLICT`` per table per page, position in the same transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresTrackingRecorder
from psycopg import sql

from projections.folds import Key, Projection
from projections.store import (
    BUILDING,
    CATALOG_TABLE,
    LIVE,
    RETIRED,
    CatalogEntry,
    PageWrite,
    ReadStore,
    now_ts,
)
from projections.tables import Table, ts

_TYPES = {
    "text": "text", "uuid": "uuid", "int": "bigint", "float": "double precision",
    "ts": "timestamptz", "json": "jsonb", "bool": "boolean",
}
#: Below this many rows a plain multi-row upsert beats COPY + merge.
COPY_THRESHOLD = 64


def _ident(name: str) -> sql.Identifier:
    return sql.Identifier(name)


class PostgresReadStore(PostgresTrackingRecorder, ReadStore):
    def setup(self) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} ("
                    "name text NOT NULL, version int NOT NULL, generation int NOT NULL, "
                    "state text NOT NULL, created_at text NOT NULL, switched_at text, "
                    "PRIMARY KEY (name, version, generation))"
                ).format(_ident(CATALOG_TABLE))
            )

    # ---------------------------------------------------------------- catalog

    def catalog(self) -> list[CatalogEntry]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                sql.SQL(
                    "SELECT name, version, generation, state, created_at, switched_at "
                    "FROM {} ORDER BY name, version, generation"
                ).format(_ident(CATALOG_TABLE))
            )
            return [CatalogEntry(**r) for r in c.fetchall()]

    def add_entry(self, entry: CatalogEntry) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute(
                sql.SQL("INSERT INTO {} VALUES (%s,%s,%s,%s,%s,%s)").format(
                    _ident(CATALOG_TABLE)
                ),
                (entry.name, entry.version, entry.generation, entry.state,
                 entry.created_at, entry.switched_at),
            )

    def create_tables(self, entry: CatalogEntry, projection: Projection) -> None:
        with self.datastore.transaction(commit=True) as c:
            for table in projection.tables:
                phys = entry.physical(table)
                cols = sql.SQL(", ").join(
                    sql.SQL("{} {}{}").format(
                        _ident(col.name),
                        sql.SQL(_TYPES[col.type]),
                        sql.SQL(" NOT NULL" if col.not_null else ""),
                    )
                    for col in table.columns
                )
                key = sql.SQL(", ").join(_ident(k) for k in table.key)
                c.execute(
                    sql.SQL("CREATE TABLE IF NOT EXISTS {} ({}, PRIMARY KEY ({}))").format(
                        _ident(phys), cols, key
                    )
                )
                for index in table.indexes:
                    c.execute(
                        sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} ({})").format(
                            _ident(f"{phys}_{'_'.join(index)}_idx"[:63]),
                            _ident(phys),
                            sql.SQL(", ").join(_ident(x) for x in index),
                        )
                    )

    def drop_tables(self, entry: CatalogEntry, projection: Projection) -> None:
        with self.datastore.transaction(commit=True) as c:
            for table in projection.tables:
                c.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(_ident(entry.physical(table))))

    def switch(
        self, new: CatalogEntry, old: CatalogEntry | None, projection: Projection
    ) -> None:
        at = now_ts()
        with self.datastore.transaction(commit=True) as c:
            for table in projection.tables:
                c.execute(sql.SQL("DROP VIEW IF EXISTS {}").format(_ident(table.name)))
                c.execute(
                    sql.SQL("CREATE VIEW {} AS SELECT {} FROM {}").format(
                        _ident(table.name),
                        sql.SQL(", ").join(_ident(x) for x in table.column_names),
                        _ident(new.physical(table)),
                    )
                )
            if old is not None:
                c.execute(
                    sql.SQL(
                        "UPDATE {} SET state=%s WHERE name=%s AND version=%s AND generation=%s"
                    ).format(_ident(CATALOG_TABLE)),
                    (RETIRED, old.name, old.version, old.generation),
                )
            c.execute(
                sql.SQL(
                    "UPDATE {} SET state=%s, switched_at=%s "
                    "WHERE name=%s AND version=%s AND generation=%s AND state=%s"
                ).format(_ident(CATALOG_TABLE)),
                (LIVE, at, new.name, new.version, new.generation, BUILDING),
            )

    # ---------------------------------------------------------------- rows

    @staticmethod
    def _to_db(table: Table, row: dict[str, Any]) -> tuple[Any, ...]:
        out = []
        for name in table.column_names:
            value = row[name]
            if value is not None and table.types[name] == "json":
                value = orjson.dumps(value).decode()
            out.append(value)
        return tuple(out)

    def decode(self, table: Table, row: dict[str, Any]) -> dict[str, Any]:
        out = dict(row)
        for name, value in out.items():
            if isinstance(value, UUID):
                out[name] = str(value)
            elif isinstance(value, datetime):
                out[name] = ts(value)
            elif isinstance(value, Decimal):
                out[name] = float(value)
        return out

    def load(
        self, entry: CatalogEntry, table: Table, keys: Sequence[Key]
    ) -> dict[Key, dict[str, Any]]:
        if not keys:
            return {}
        (key_col,) = table.key
        statement = sql.SQL("SELECT * FROM {} WHERE {} = ANY(%s::{}[])").format(
            _ident(entry.physical(table)), _ident(key_col), sql.SQL(_TYPES[table.types[key_col]])
        )
        with self.datastore.transaction(commit=False) as c:
            c.execute(statement, ([k[0] for k in keys],))
            found = {}
            for r in c.fetchall():
                row = self.decode(table, r)
                found[table.key_of(row)] = row
            return found

    def write(self, writes: Sequence[PageWrite]) -> None:
        with self.datastore.transaction(commit=True) as c:
            for w in writes:
                for table in w.projection.tables:
                    upserts, deletes = w.rows.changes(table)
                    phys = w.entry.physical(table)
                    if deletes:
                        (key_col,) = table.key
                        c.execute(
                            sql.SQL("DELETE FROM {} WHERE {} = ANY(%s::{}[])").format(
                                _ident(phys), _ident(key_col),
                                sql.SQL(_TYPES[table.types[key_col]]),
                            ),
                            ([k[0] for k in deletes],),
                        )
                    if upserts:
                        self._upsert(c, table, phys, upserts)
                self._insert_tracking(c, Tracking(w.entry.tracking_name, w.position))

    def _upsert(self, c: Any, table: Table, phys: str, rows: list[dict[str, Any]]) -> None:
        cols = sql.SQL(", ").join(_ident(x) for x in table.column_names)
        key = sql.SQL(", ").join(_ident(k) for k in table.key)
        updates = sql.SQL(", ").join(
            sql.SQL("{0} = EXCLUDED.{0}").format(_ident(x))
            for x in table.column_names
            if x not in table.key
        )
        values = [self._to_db(table, r) for r in rows]
        if len(rows) < COPY_THRESHOLD:
            marks = sql.SQL(", ").join(sql.Placeholder() * len(table.column_names))
            c.executemany(
                sql.SQL("INSERT INTO {} ({}) VALUES ({}) ON CONFLICT ({}) DO UPDATE SET {}").format(
                    _ident(phys), cols, marks, key, updates
                ),
                values,
            )
            return
        stage = f"_stage_{phys}"[:63]
        c.execute(
            sql.SQL(
                "CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {} INCLUDING DEFAULTS) "
                "ON COMMIT DELETE ROWS"
            ).format(_ident(stage), _ident(phys))
        )
        with c.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(_ident(stage), cols)) as copy:
            for value in values:
                copy.write_row(value)
        c.execute(
            sql.SQL(
                "INSERT INTO {} ({}) SELECT {} FROM {} ON CONFLICT ({}) DO UPDATE SET {}"
            ).format(_ident(phys), cols, cols, _ident(stage), key, updates)
        )

    def position(self, entry: CatalogEntry) -> int:
        return self.max_tracking_id(entry.tracking_name) or 0

    # ---------------------------------------------------------------- queries

    def select(self, statement: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(statement.encode(), list(params))
            return list(c.fetchall())

    def events_sql(self) -> str:
        return (
            "SELECT notification_id AS position, originator_id, originator_version, topic, state "
            "FROM stored_events"
        )

    def uuid_param(self, value: Any) -> Any:
        return value

    def close(self) -> None:
        self.datastore.close()
