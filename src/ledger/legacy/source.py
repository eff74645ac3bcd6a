"""The legacy ``service_tickets`` table in a PostgreSQL database: its columns, how
to name it in SQL, and reading its rows (the import's source, the rollback's target).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

#: seed 002's inline columns, in the legacy table's order.
SERVICE_TICKET_COLUMNS = (
    "id",
    "status",
    "assigned_engineer_id",
    "assigned_engineer_name",
    "assignment_tier",
    "assignment_tier_name",
    "assigned_at",
    "started_at",
    "resolved_at",
    "created_at",
    "updated_at",
)
#: Columns used when a legacy table has them.
OPTIONAL_TICKET_COLUMNS = ("title", "description", "priority", "required_skill", "equipment_id")

#: Rows fetched per round trip while streaming the legacy table.
FETCH_ROWS = 500


def split_table(table: str) -> tuple[str | None, str]:
    """``schema.name`` -> (schema, name); a bare name has no schema."""
    schema, _, name = table.rpartition(".")
    return (schema or None), name


def table_identifier(table: str) -> Any:
    """``table`` as a quoted SQL identifier (``schema.name`` or ``name``)."""
    from psycopg import sql

    schema, name = split_table(table)
    return sql.Identifier(schema, name) if schema else sql.Identifier(name)


def table_columns(conn: Any, table: str) -> list[str]:
    """The columns of a PostgreSQL table, from information_schema (empty if absent)."""
    schema, name = split_table(table)
    rows = conn.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = COALESCE(%s, current_schema()) AND table_name = %s "
        "ORDER BY ordinal_position",
        (schema, name),
    ).fetchall()
    return [r[0] for r in rows]


def read_service_tickets(source_url: str, table: str) -> tuple[int, list[str], Iterator[dict]]:
    """(row count, columns read, rows) of a legacy ``service_tickets`` table; the rows
    stream through a server-side cursor. Raises LookupError when the table is absent
    or is not seed 002's shape."""
    import psycopg
    from psycopg import sql
    from psycopg.rows import dict_row

    conn = psycopg.connect(source_url)
    try:
        present = table_columns(conn, table)
        if not present:
            raise LookupError(f"Table {table!r} does not exist in the source database.")
        missing = [c for c in ("id", "status", "assigned_engineer_id") if c not in present]
        if missing:
            raise LookupError(f"Table {table!r} has no {', '.join(missing)} column: "
                              "not seed 002's service_tickets shape.")
        wanted = [c for c in (*SERVICE_TICKET_COLUMNS, *OPTIONAL_TICKET_COLUMNS) if c in present]
        target = table_identifier(table)
        total = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(target)).fetchone()[0]
    except BaseException:
        conn.close()
        raise

    def rows() -> Iterator[dict]:
        try:
            with conn.transaction(), conn.cursor(name="ledger_import", row_factory=dict_row) as cur:
                cur.itersize = FETCH_ROWS
                cur.execute(sql.SQL("SELECT {} FROM {} ORDER BY id::text").format(
                    sql.SQL(", ").join(map(sql.Identifier, wanted)), target))
                yield from cur
        finally:
            conn.close()

    return total, wanted, rows()
