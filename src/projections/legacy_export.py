"""The rollback to a legacy system (seed 002's down migration), a read-side job:
every ticket's read rows -> the legacy ``service_tickets`` inline columns, upserted
into a PostgreSQL table by legacy id.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from ledger.domain import ACTIVE_STATUSES, COMPLETED
from ledger.legacy.ids import legacy_id_of
from ledger.legacy.source import table_columns, table_identifier
from projections.queries import ASSIGNMENTS, ReadQueries

#: Tickets per page read from the read tables.
PAGE_TICKETS = 500

LEGACY_TABLE_DDL = """
CREATE TABLE IF NOT EXISTS {} (
    id TEXT PRIMARY KEY,
    title TEXT,
    description TEXT,
    priority TEXT,
    status TEXT,
    assigned_engineer_id VARCHAR,
    assigned_engineer_name VARCHAR,
    assignment_tier INT,
    assignment_tier_name TEXT,
    assigned_at TIMESTAMPTZ,
    started_at TIMESTAMPTZ,
    resolved_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ,
    updated_at TIMESTAMPTZ
)"""

#: Columns an export overwrites on an existing legacy row (the rest it sets only
#: when it inserts the row).
UPDATED_COLUMNS = (
    "status", "assigned_engineer_id", "assigned_engineer_name", "assignment_tier",
    "assignment_tier_name", "assigned_at", "started_at", "resolved_at", "updated_at",
)


def legacy_columns(
    ticket: Mapping[str, Any],
    assignment: Mapping[str, Any] | None,
    engineer_name: str | None,
) -> dict[str, Any]:
    """A ticket's read rows -> seed 002's inline columns.

    ``ticket`` is its ``tickets`` row; ``assignment`` its active assignment, or for a
    resolved or closed ticket the assignment that completed it (else None). Times
    are the read tables' canonical UTC text, turned back into datetimes."""
    from_ts = _from_canonical
    status = ticket["status"]
    row: dict[str, Any] = {
        "id": legacy_id_of(ticket["id"], ticket.get("reference")),
        "status": status,
        "title": ticket.get("title"),
        "description": ticket.get("description"),
        "priority": ticket.get("priority"),
        "assigned_engineer_id": None,
        "assigned_engineer_name": None,
        "assignment_tier": None,
        "assignment_tier_name": None,
        "assigned_at": None,
        "started_at": None,
        "resolved_at": from_ts(ticket.get("resolved_at")),
        "created_at": from_ts(ticket["created_at"]),
        "updated_at": from_ts(ticket["updated_at"]),
    }
    if assignment is not None:
        row.update(
            assigned_engineer_id=assignment["engineer_id"],
            assigned_engineer_name=engineer_name or assignment["engineer_id"],
            assignment_tier=assignment["assignment_tier"],
            assignment_tier_name=assignment.get("assignment_tier_name"),
            assigned_at=from_ts(assignment["assigned_at"]),
            started_at=from_ts(assignment.get("started_at")),
        )
        if status in ("resolved", "closed") and row["resolved_at"] is None:
            row["resolved_at"] = from_ts(assignment.get("completed_at"))
    return row


def _from_canonical(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def exported_assignment(
    status: str, assignments: Sequence[Mapping[str, Any]]
) -> Mapping[str, Any] | None:
    """Which of a ticket's assignments (any order) goes into the inline columns: the
    active one; for a resolved or closed ticket, the last completed one; else none."""
    ordered = sorted(assignments, key=lambda a: a["assignment_sequence"])
    active = [a for a in ordered if a["status"] in ACTIVE_STATUSES]
    if active:
        return active[-1]
    if status in ("resolved", "closed"):
        completed = [a for a in ordered if a["status"] == COMPLETED]
        if completed:
            return completed[-1]
    return None


def legacy_rows(queries: ReadQueries) -> Iterator[dict[str, Any]]:
    """Every ticket of the ledger as a legacy ``service_tickets`` row, from the read
    tables (the caller catches them up first), a page of tickets at a time."""
    store = queries.store
    names = {r["id"]: r["name"] for r in store.select("SELECT id, name FROM engineers")}
    columns = ", ".join(ASSIGNMENTS.column_names)
    cursor = None
    while True:
        page = queries.tickets(limit=PAGE_TICKETS, cursor=cursor)
        ids = [str(t["id"]) for t in page.items]
        by_ticket: dict[str, list[dict[str, Any]]] = {}
        if ids:
            marks = ", ".join(["%s"] * len(ids))
            for a in store.rows(ASSIGNMENTS,
                                f"SELECT {columns} FROM engineer_assignments "
                                f"WHERE ticket_id IN ({marks})", ids):
                by_ticket.setdefault(str(a["ticket_id"]), []).append(a)
        for ticket in page.items:
            chosen = exported_assignment(ticket["status"], by_ticket.get(str(ticket["id"]), []))
            yield legacy_columns(ticket, chosen,
                                 names.get(chosen["engineer_id"]) if chosen else None)
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


def write_legacy_rows(conn: Any, table: str, rows: Iterable[Mapping[str, Any]],
                      advance: Callable[[], None] = lambda: None) -> Counter[str]:
    """Upserts by legacy id into ``table`` (created when absent), writing only the
    columns the table has. Returns counts of ``inserted`` and ``updated``. Raises
    LookupError when the table has no ``id`` column."""
    from psycopg import sql

    target = table_identifier(table)
    conn.execute(sql.SQL(LEGACY_TABLE_DDL).format(target))
    present = set(table_columns(conn, table))
    if "id" not in present:
        raise LookupError(f"Table {table!r} has no id column.")
    updated = [c for c in UPDATED_COLUMNS if c in present]
    update = sql.SQL("UPDATE {} SET {} WHERE id::text = %s").format(
        target, sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(c)) for c in updated))
    counts: Counter[str] = Counter()
    for row in rows:
        cursor = conn.execute(update, [*(row[c] for c in updated), row["id"]])
        if cursor.rowcount:
            counts["updated"] += 1
        else:
            inserted = [c for c in row if c in present]
            conn.execute(sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
                target, sql.SQL(", ").join(map(sql.Identifier, inserted)),
                sql.SQL(", ").join(sql.Placeholder() * len(inserted))),
                [row[c] for c in inserted])
            counts["inserted"] += 1
        advance()
    return counts
