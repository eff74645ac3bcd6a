"""The rollback to a legacy system (seed 002's down migration), a read-side job:
a ticket's read rows -> the legacy ``service_tickets`` inline columns, upserted
into a PostgreSQL table by legacy id: every ticket at once (``ledger export
service-tickets``), or the tickets that events touched (``--follow``, see
``projections.legacy_follow``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ledger.domain import ACTIVE_STATUSES, COMPLETED
from ledger.legacy.ids import legacy_id_of
from ledger.legacy.source import table_columns, table_identifier
from projections.queries import ASSIGNMENTS, TICKETS, ReadQueries

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


def _legacy_rows(store: Any, tickets: Sequence[Mapping[str, Any]]) -> Iterator[dict[str, Any]]:
    """``tickets`` (rows of ``tickets``) as legacy rows, their assignments and their
    engineers' names read in one query each."""
    ids = [str(t["id"]) for t in tickets]
    if not ids:
        return
    marks = ", ".join(["%s"] * len(ids))
    columns = ", ".join(ASSIGNMENTS.column_names)
    by_ticket: dict[str, list[dict[str, Any]]] = {}
    for a in store.rows(ASSIGNMENTS, f"SELECT {columns} FROM engineer_assignments "
                                     f"WHERE ticket_id IN ({marks})", ids):
        by_ticket.setdefault(str(a["ticket_id"]), []).append(a)
    chosen = {t: exported_assignment(ticket["status"], by_ticket.get(t, []))
              for t, ticket in zip(ids, tickets, strict=True)}
    engineers = sorted({a["engineer_id"] for a in chosen.values() if a is not None})
    names: dict[str, str] = {}
    if engineers:
        names = {r["id"]: r["name"] for r in store.select(
            f"SELECT id, name FROM engineers WHERE id IN ({', '.join(['%s'] * len(engineers))})",
            engineers)}
    for t, ticket in zip(ids, tickets, strict=True):
        assignment = chosen[t]
        yield legacy_columns(ticket, assignment,
                             names.get(assignment["engineer_id"]) if assignment else None)


def legacy_rows(queries: ReadQueries) -> Iterator[dict[str, Any]]:
    """Every ticket of the ledger as a legacy ``service_tickets`` row, from the read
    tables (the caller catches them up first), a page of tickets at a time."""
    cursor = None
    while True:
        page = queries.tickets(limit=PAGE_TICKETS, cursor=cursor)
        yield from _legacy_rows(queries.store, page.items)
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


def legacy_rows_of(queries: ReadQueries, ticket_ids: Iterable[str]) -> Iterator[dict[str, Any]]:
    """These tickets (ledger ids) as legacy rows, from the read tables; an id the
    tickets table does not have is skipped."""
    ids = sorted(set(ticket_ids))
    for start in range(0, len(ids), PAGE_TICKETS):
        chunk = ids[start:start + PAGE_TICKETS]
        tickets = queries.store.rows(
            TICKETS, f"SELECT {', '.join(TICKETS.column_names)} FROM tickets "
                     f"WHERE id IN ({', '.join(['%s'] * len(chunk))})", chunk)
        yield from _legacy_rows(queries.store, tickets)


@dataclass(frozen=True)
class LegacyTable:
    """A legacy table ready for upserts: its SQL name, and which of the export's
    columns it has."""

    name: str
    target: Any
    present: frozenset[str]

    @property
    def updated(self) -> list[str]:
        return [c for c in UPDATED_COLUMNS if c in self.present]


def prepare_legacy_table(conn: Any, table: str) -> LegacyTable:
    """Creates ``table`` when absent and reads its columns. Raises LookupError when
    the table has no ``id`` column."""
    from psycopg import sql

    target = table_identifier(table)
    conn.execute(sql.SQL(LEGACY_TABLE_DDL).format(target))
    present = frozenset(table_columns(conn, table))
    if "id" not in present:
        raise LookupError(f"Table {table!r} has no id column.")
    return LegacyTable(table, target, present)


def upsert_legacy_rows(conn: Any, table: LegacyTable, rows: Iterable[Mapping[str, Any]],
                       advance: Callable[[], None] = lambda: None) -> Counter[str]:
    """Upserts by legacy id, writing only the columns the table has. Returns counts
    of ``inserted`` and ``updated``."""
    from psycopg import sql

    update = sql.SQL("UPDATE {} SET {} WHERE id::text = %s").format(
        table.target, sql.SQL(", ").join(
            sql.SQL("{} = %s").format(sql.Identifier(c)) for c in table.updated))
    counts: Counter[str] = Counter()
    for row in rows:
        cursor = conn.execute(update, [*(row[c] for c in table.updated), row["id"]])
        if cursor.rowcount:
            counts["updated"] += 1
        else:
            inserted = [c for c in row if c in table.present]
            conn.execute(sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
                table.target, sql.SQL(", ").join(map(sql.Identifier, inserted)),
                sql.SQL(", ").join(sql.Placeholder() * len(inserted))),
                [row[c] for c in inserted])
            counts["inserted"] += 1
        advance()
    return counts


def write_legacy_rows(conn: Any, table: str, rows: Iterable[Mapping[str, Any]],
                      advance: Callable[[], None] = lambda: None) -> Counter[str]:
    """Upserts by legacy id into ``table`` (created when absent), writing only the
    columns the table has. Returns counts of ``inserted`` and ``updated``. Raises
    LookupError when the table has no ``id`` column."""
    return upsert_legacy_rows(conn, prepare_legacy_table(conn, table), rows, advance)
