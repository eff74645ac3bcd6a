"""The PostgreSQL read store's statements, composed once and kept.

A page writes to the same few tables over and over: each statement is composed
once per table build (``psycopg.sql``, identifiers quoted) and its bytes kept,
so a page costs no composing, and the server can prepare them.
"""

from __future__ import annotations

from psycopg import sql

from projections.tables import Table

#: Logical column types -> PostgreSQL's.
COLUMN_SQL_TYPES = {
    "text": "text", "uuid": "uuid", "int": "bigint", "float": "double precision",
    "ts": "timestamptz", "json": "jsonb", "bool": "boolean",
}
#: In the error of a transaction whose inline read rows found the positions moved.
POSITIONS_MOVED = "ledger: read positions moved"
#: Composed statements kept at most (more: tables of many dropped builds).
KEPT = 512


class Statements:
    """Every statement of the row writes, the loads and the positions, by what
    it does and for which physical table."""

    def __init__(self, tracking_table: str) -> None:
        self.tracking_table = sql.Identifier(tracking_table)
        self._kept: dict[tuple[str, ...] | tuple[str, int], bytes] = {}

    def _keep(self, key: tuple[str, ...] | tuple[str, int], statement: sql.Composable) -> bytes:
        if len(self._kept) > KEPT:
            self._kept.clear()
        composed = self._kept[key] = statement.as_bytes(None)
        return composed

    def rows(self, kind: str, table: Table, phys: str) -> bytes:
        """The statement of ``kind`` on the build table ``phys`` of ``table``:
        delete, upsert_json, load, stage, copy, copy_direct or merge."""
        key = (kind, phys)
        kept = self._kept.get(key)
        if kept is not None:
            return kept
        ident = sql.Identifier
        cols = sql.SQL(", ").join(ident(x) for x in table.column_names)
        keys = sql.SQL(", ").join(ident(k) for k in table.key)
        updates = sql.SQL(", ").join(
            sql.SQL("{0} = EXCLUDED.{0}").format(ident(x))
            for x in table.column_names
            if x not in table.key
        )
        # A table of key columns only (engineer_skills ...) has nothing to update.
        on_conflict = (sql.SQL("DO UPDATE SET {}").format(updates)
                       if len(table.column_names) > len(table.key) else sql.SQL("DO NOTHING"))
        stage = ident(f"_stage_{phys}"[:63])
        statement: sql.Composable
        if kind == "delete" and len(table.key) > 1:
            # Composite keys (engineer_territories ...): one array per key column.
            statement = sql.SQL("DELETE FROM {} WHERE ({}) IN (SELECT * FROM unnest({}))").format(
                ident(phys), keys, sql.SQL(", ").join(
                    sql.SQL("%s::{}[]").format(sql.SQL(COLUMN_SQL_TYPES[table.types[k]]))
                    for k in table.key
                ),
            )
        elif kind in ("delete", "load"):
            (key_col,) = table.key
            verb = "DELETE" if kind == "delete" else "SELECT *"
            statement = sql.SQL(verb + " FROM {} WHERE {} = ANY(%s::{}[])").format(
                ident(phys), ident(key_col), sql.SQL(COLUMN_SQL_TYPES[table.types[key_col]])
            )
        elif kind == "upsert_json":
            statement = sql.SQL(
                "INSERT INTO {0} ({1}) SELECT {1} "
                "FROM jsonb_populate_recordset(NULL::{0}, %s::jsonb) "
                "ON CONFLICT ({2}) {3}"
            ).format(ident(phys), cols, keys, on_conflict)
        elif kind == "stage":
            statement = sql.SQL(
                "CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {} INCLUDING DEFAULTS) "
                "ON COMMIT DELETE ROWS"
            ).format(stage, ident(phys))
        elif kind == "copy":
            statement = sql.SQL("COPY {} ({}) FROM STDIN").format(stage, cols)
        elif kind == "copy_direct":
            statement = sql.SQL("COPY {} ({}) FROM STDIN").format(ident(phys), cols)
        elif kind == "merge":
            statement = sql.SQL(
                "INSERT INTO {} ({}) SELECT {} FROM {} ON CONFLICT ({}) {}"
            ).format(ident(phys), cols, cols, stage, keys, on_conflict)
        else:
            msg = f"unknown statement kind {kind!r}"
            raise ValueError(msg)
        return self._keep(key, statement)

    def track(self, n: int, *, or_fail: bool) -> bytes:
        """The compare-and-set of ``n`` builds' positions. It returns the builds
        it moved; ``or_fail``: it returns nothing and fails (22P02, with
        POSITIONS_MOVED in the error) unless all moved."""
        key = ("track_or_fail" if or_fail else "track", n)
        kept = self._kept.get(key)
        if kept is not None:
            return kept
        values = sql.SQL(", ").join(sql.SQL("(%s, %s::bigint, %s::bigint)") for _ in range(n))
        update = sql.SQL(
            "UPDATE {0} AS t SET notification_id = v.position "
            "FROM (VALUES {1}) AS v(name, since, position) "
            "WHERE t.application_name = v.name AND t.notification_id = v.since"
        ).format(self.tracking_table, values)
        if or_fail:
            statement = sql.SQL(
                "WITH moved AS ({0} RETURNING 1) "
                "SELECT ({1} || count(*))::int FROM moved HAVING count(*) <> {2}"
            ).format(update, sql.Literal(f"{POSITIONS_MOVED} of {n}: "), sql.Literal(n))
        else:
            statement = sql.SQL("{0} RETURNING t.application_name").format(update)
        return self._keep(key, statement)

    def positions(self) -> bytes:
        """The stored positions of the builds named in one array parameter."""
        key = ("positions",)
        kept = self._kept.get(key)
        if kept is not None:
            return kept
        return self._keep(key, sql.SQL(
            "SELECT application_name, notification_id FROM {} "
            "WHERE application_name = ANY(%s)"
        ).format(self.tracking_table))
