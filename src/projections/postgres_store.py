"""The read side on PostgreSQL: COPY into a staging table, then one
``INSERT … ON CONFLICT`` per table per page, position in the same transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.persistence import ProgrammingError
from eventsourcing.postgres import PostgresTrackingRecorder
from psycopg import sql
from psycopg.errors import UndefinedTable
from psycopg.types.string import TextLoader

from projections.base import Key, Projection
from projections.postgres_reads import CanonicalTimeLoader, columns_sql
from projections.postgres_sql import COLUMN_SQL_TYPES, Statements
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
from projections.tables import Table, ts

#: Below this many rows a plain multi-row upsert beats COPY + merge.
COPY_THRESHOLD = 64


def _ident(name: str) -> sql.Identifier:
    return sql.Identifier(name)


def _plain(value: Any) -> Any:
    """A value of a column no table declares, as folded rows hold it."""
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime):
        return ts(value)
    if isinstance(value, Decimal):
        return float(value)
    return value


def _track_params(writes: Sequence[PageWrite]) -> list[Any]:
    return [x for w in writes for x in (w.entry.tracking_name, w.since, w.position)]


class PostgresReadStore(PostgresTrackingRecorder, ReadStore):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._statements = Statements(self.tracking_table_name)
        #: table name -> (the table, (its columns, the conversions of its uuid/ts columns))
        self._decodings: dict[str, tuple[Table, tuple[frozenset[str], list[tuple[str, Any]]]]] = {}

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
            self._ensure_position(c, entry)

    def ensure_position(self, *entries: CatalogEntry) -> None:
        with self.datastore.transaction(commit=True) as c:
            for entry in entries:
                self._ensure_position(c, entry)

    def _ensure_position(self, c: Any, entry: CatalogEntry) -> None:
        # Every build starts with a position row at 0, so each page can move it
        # by compare-and-set.
        c.execute(
            sql.SQL(
                "INSERT INTO {} (application_name, notification_id) VALUES (%s, 0) "
                "ON CONFLICT (application_name) DO NOTHING"
            ).format(_ident(self.tracking_table_name)),
            (entry.tracking_name,),
        )

    def create_tables(
        self, entry: CatalogEntry, projection: Projection, *, indexes: bool = True
    ) -> None:
        with self.datastore.transaction(commit=True) as c:
            for table in projection.tables:
                phys = entry.physical(table)
                cols = sql.SQL(", ").join(
                    sql.SQL("{} {}{}").format(
                        _ident(col.name),
                        sql.SQL(COLUMN_SQL_TYPES[col.type]),
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
        if indexes:
            self.create_indexes(entry, projection)

    def create_indexes(self, entry: CatalogEntry, projection: Projection) -> None:
        with self.datastore.transaction(commit=True) as c:
            for table in projection.tables:
                phys = entry.physical(table)
                for index in table.indexes:
                    sparse = table.partial(index)
                    c.execute(
                        sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} ({}){}").format(
                            _ident(f"{phys}_{'_'.join(index)}_idx"[:63]),
                            _ident(phys),
                            sql.SQL(", ").join(_ident(x) for x in index),
                            sql.SQL(" WHERE {} IS NOT NULL").format(_ident(sparse))
                            if sparse else sql.SQL(""),
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
            if old is not None:
                # Hold both positions: the live runner cannot commit into the old
                # build until this switch is done (and then finds it retired).
                c.execute(
                    sql.SQL(
                        "SELECT application_name, notification_id FROM {} "
                        "WHERE application_name = ANY(%s) FOR UPDATE"
                    ).format(_ident(self.tracking_table_name)),
                    ([old.tracking_name, new.tracking_name],),
                )
                held = {r["application_name"]: r["notification_id"] for r in c.fetchall()}
                behind_by = held.get(old.tracking_name, 0) - held.get(new.tracking_name, 0)
                if behind_by > 0:
                    msg = f"{new.tracking_name} is {behind_by} events behind the live build"
                    raise SwitchBehindError(msg)
                c.execute(
                    sql.SQL("DELETE FROM {} WHERE application_name = %s").format(
                        _ident(self.tracking_table_name)
                    ),
                    (old.tracking_name,),
                )
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
        values = tuple(map(row.__getitem__, table.column_names))
        json_columns = table.json_positions
        if not json_columns:
            return values
        out = list(values)
        for i in json_columns:
            if out[i] is not None:
                out[i] = orjson.dumps(out[i]).decode()
        return tuple(out)

    def decode(self, table: Table, row: dict[str, Any]) -> dict[str, Any]:
        """A row as folded (ids and times as text): only the table's uuid and ts
        columns are converted; columns it does not declare (computed ones) by
        their value's type."""
        out = dict(row)
        names, conversions = self._decoding(table)
        for name, convert in conversions:
            value = out.get(name)
            if value is not None and type(value) is not str:  # ``rows`` reads text
                out[name] = convert(value)
        if not names.issuperset(out):
            for name in out.keys() - names:
                out[name] = _plain(out[name])
        return out

    def _decoding(self, table: Table) -> tuple[frozenset[str], list[tuple[str, Any]]]:
        plan = self._decodings.get(table.name)
        if plan is None or plan[0] is not table:
            by_type = {"uuid": str, "ts": ts}
            conversions = [(c.name, by_type[c.type]) for c in table.columns if c.type in by_type]
            plan = self._decodings[table.name] = (
                table, (frozenset(table.column_names), conversions)
            )
        return plan[1]

    def load(
        self, entry: CatalogEntry, table: Table, keys: Sequence[Key]
    ) -> dict[Key, dict[str, Any]]:
        if not keys:
            return {}
        # One statement on the pool's autocommit connection (see ``select``).
        with self.datastore.get_connection() as conn, conn.cursor() as c:
            c.execute(self._statements.rows("load", table, entry.physical(table)),
                      ([k[0] for k in keys],), prepare=True)
            return self._by_key(table, c.fetchall())

    def _by_key(self, table: Table, rows: Sequence[Any]) -> dict[Key, dict[str, Any]]:
        found = {}
        for r in rows:
            row = self.decode(table, r)
            found[table.key_of(row)] = row
        return found

    def load_many(
        self, requests: Sequence[tuple[CatalogEntry, Table, Sequence[Key]]]
    ) -> list[dict[Key, dict[str, Any]]]:
        """Every request's SELECT sent at once (pipeline mode), then all read:
        one round trip for the misses of a whole page."""
        if len(requests) <= 1:
            return [self.load(*r) for r in requests]
        with self.datastore.get_connection() as conn, conn.pipeline():
            return self.fetch_loads(self.send_loads(conn, requests), requests)

    def send_loads(
        self, conn: Any, requests: Sequence[tuple[CatalogEntry, Table, Sequence[Key]]]
    ) -> list[Any]:
        """Queues the SELECTs of ``requests`` on ``conn`` (in pipeline mode:
        nothing waits); ``fetch_loads`` reads their rows later."""
        cursors = []
        try:
            for entry, table, keys in requests:
                c = conn.cursor()
                cursors.append(c)
                statement = self._statements.rows("load", table, entry.physical(table))
                c.execute(statement, ([k[0] for k in keys],), prepare=True)
        except BaseException:
            for c in cursors:
                c.close()
            raise
        return cursors

    def fetch_loads(
        self, cursors: Sequence[Any], requests: Sequence[tuple[CatalogEntry, Table, Sequence[Key]]]
    ) -> list[dict[Key, dict[str, Any]]]:
        out = []
        try:
            for c, (_entry, table, _keys) in zip(cursors, requests, strict=True):
                out.append(self._by_key(table, c.fetchall()))
        finally:
            for c in cursors:
                c.close()
        return out

    def write(self, writes: Sequence[PageWrite]) -> None:
        """One transaction: every table's deletes and upserts, then all positions.

        Small pages (live updates) go in pipeline mode: one round trip. Large
        pages (catch-up, rebuilds) use COPY into a staging table and one merge.
        """
        if not writes:
            return
        changes, bulk = self._changes(writes)
        try:
            self._write(changes, writes, bulk=bulk)
        except ProgrammingError as e:
            if not isinstance(e.__cause__, UndefinedTable):
                raise
            # The build was switched out and dropped by a rebuild: as good as a
            # moved position; the runner reloads the catalog and carries on.
            msg = f"A build's tables are gone (switched and dropped): {e}"
            raise PositionConflictError(msg) from e

    def write_on(self, cursor: Any, writes: Sequence[PageWrite]) -> None:
        """``write()`` queued inside someone else's transaction (the events'
        insert, in pipeline mode; see projections.inline), nothing awaited: if
        a position moved (compare-and-set) or a row cannot be written, the
        statement fails, and with it that transaction at its COMMIT."""
        if not writes:
            return
        changes, _bulk = self._changes(writes)
        c = cursor.connection.cursor()
        try:
            self._apply(c, changes, copy=False)
            c.execute(
                self._statements.track(len(writes), or_fail=True), _track_params(writes),
                prepare=True,
            )
        finally:
            c.close()

    @staticmethod
    def _changes(writes: Sequence[PageWrite]) -> tuple[list[Any], bool]:
        changes = []
        bulk = False
        for w in writes:
            for table in w.projection.tables:
                inserts, upserts, deletes = w.rows.split_changes(table)
                if inserts or upserts or deletes:
                    changes.append((table, w.entry.physical(table), inserts, upserts, deletes))
                    bulk = bulk or len(inserts) + len(upserts) >= COPY_THRESHOLD
        return changes, bulk

    def _write(self, changes: list[Any], writes: Sequence[PageWrite], *, bulk: bool) -> None:
        with self.datastore.get_connection() as conn:
            if bulk:
                with conn.transaction(), conn.cursor() as c:
                    self._apply(c, changes, copy=True)
                    self._track(c, writes)
            else:
                with conn.pipeline() as pipeline, conn.transaction(), conn.cursor() as c:
                    self._apply(c, changes, copy=False)
                    self._track(c, writes, pipeline)

    def _apply(self, c: Any, changes: list[Any], *, copy: bool) -> None:
        for table, phys, inserts, upserts, deletes in changes:
            if deletes:
                c.execute(self._statements.rows("delete", table, phys),
                          [[k[i] for k in deletes] for i in range(len(table.key))])
            if copy and len(inserts) >= COPY_THRESHOLD:
                # Rows created in this page: straight into the table, no merge.
                with c.copy(self._statements.rows("copy_direct", table, phys)) as cp:
                    for row in inserts:
                        cp.write_row(self._to_db(table, row))
            else:
                upserts = inserts + upserts
            if not upserts:
                continue
            if copy and len(upserts) >= COPY_THRESHOLD:
                c.execute(self._statements.rows("stage", table, phys))
                with c.copy(self._statements.rows("copy", table, phys)) as cp:
                    for row in upserts:
                        cp.write_row(self._to_db(table, row))
                c.execute(self._statements.rows("merge", table, phys))
            else:
                # One statement whatever the row count: the rows as one JSON
                # document (they are folded JSON-ready: ids and times as strings),
                # turned back into the table's row type by the server. One
                # parameter, dumped at C speed; one result to process.
                c.execute(
                    self._statements.rows("upsert_json", table, phys),
                    (orjson.dumps(upserts).decode(),),
                    prepare=True,
                )

    def _track(self, c: Any, writes: Sequence[PageWrite], pipeline: Any = None) -> None:
        """Moves every position by compare-and-set in one statement; if any build
        is not where its page was folded from, the whole transaction is refused."""
        c.execute(self._statements.track(len(writes), or_fail=False), _track_params(writes))
        if pipeline is not None:
            pipeline.sync()
        moved = len(c.fetchall())
        if moved != len(writes):
            names = ", ".join(f"{w.entry.tracking_name}@{w.since}" for w in writes)
            msg = f"Positions moved under this write ({moved}/{len(writes)}): {names}"
            raise PositionConflictError(msg)

    def position(self, entry: CatalogEntry) -> int:
        return self.max_tracking_id(entry.tracking_name) or 0

    def positions(self, entries: Sequence[CatalogEntry]) -> list[int]:
        with self.datastore.get_connection() as conn:
            return self.fetch_positions(self.send_positions(conn, entries), entries)

    def send_positions(self, conn: Any, entries: Sequence[CatalogEntry]) -> Any:
        """Queues the read of ``entries``' positions on ``conn`` (in pipeline
        mode: nothing waits); ``fetch_positions`` reads them later."""
        statement = self._statements.positions()
        c = conn.cursor()
        try:
            c.execute(statement, ([e.tracking_name for e in entries],), prepare=True)
        except BaseException:
            c.close()
            raise
        return c

    @staticmethod
    def fetch_positions(cursor: Any, entries: Sequence[CatalogEntry]) -> list[int]:
        try:
            found = {r["application_name"]: r["notification_id"] for r in cursor.fetchall()}
        finally:
            cursor.close()
        return [found.get(e.tracking_name) or 0 for e in entries]

    # ---------------------------------------------------------------- queries

    def select(self, statement: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        # One statement on the pool's autocommit connection is a transaction of
        # its own (one snapshot); BEGIN and ROLLBACK around it cost two more
        # round trips on every read.
        with self.datastore.get_connection() as conn, conn.cursor() as c:
            c.execute(statement.encode(), list(params))
            return list(c.fetchall())

    def rows(self, table: Table, statement: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """``select`` with ids and times read as the text the folded rows hold
        (this cursor's loaders), so the table's own columns need no decoding:
        only a statement that reads other columns has its rows decoded."""
        with self.datastore.get_connection() as conn, conn.cursor() as c:
            c.adapters.register_loader("uuid", TextLoader)
            c.adapters.register_loader("timestamptz", CanonicalTimeLoader)
            c.execute(statement.encode(), list(params))
            found = c.fetchall()
            names = [d.name for d in c.description or ()]
        if self._decoding(table)[0].issuperset(names):
            return found
        return [self.decode(table, r) for r in found]

    def columns_sql(self, table: Table, alias: str | None = None, prefix: str = "") -> str:
        return columns_sql(table, alias, prefix)

    def events_sql(self, table: str) -> str:
        name = sql.Identifier(table).as_string(None)
        return (
            "SELECT notification_id AS position, originator_id, originator_version, topic, state "
            f"FROM {name}"
        )

    def uuid_param(self, value: Any) -> Any:
        return value

    def close(self) -> None:
        self.datastore.close()
