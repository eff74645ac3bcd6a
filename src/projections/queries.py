"""Read queries: what the API asks of the read tables and the event store.

Every query reads the public views (the live build), uses placeholders for every
value, and returns canonical JSON-ready rows. Lists are keyset-paged with opaque
cursors.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import orjson

from ledger.domain import ACTIVE_STATUSES
from ledger.ticket_details import LOCATION_KEYS
from projections.assignments import (
    AssignmentHistoryProjection,
    CurrentAssignmentsProjection,
    EngineerAssignmentsProjection,
)
from projections.engineers import EngineersProjection
from projections.intervals import AssignmentIntervalsProjection
from projections.store import ReadStore
from projections.tables import Table
from projections.tickets import TicketsProjection

TICKETS = TicketsProjection.table
ASSIGNMENTS = EngineerAssignmentsProjection.table
CURRENT = CurrentAssignmentsProjection.table
HISTORY = AssignmentHistoryProjection.table
ENGINEERS = EngineersProjection.table
INTERVALS = AssignmentIntervalsProjection.table



class CursorError(ValueError):
    """Raised when a paging cursor was not issued by this API."""


def encode_cursor(values: Sequence[Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(list(values))).decode().rstrip("=")


def decode_cursor(cursor: str, arity: int) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = orjson.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, TypeError) as e:
        raise CursorError("cursor is not valid") from e
    if not isinstance(values, list) or len(values) != arity:
        raise CursorError("cursor is not valid")
    return values


def decode_position_cursor(cursor: str) -> int:
    """A cursor holding one position (or row id); anything else is not ours."""
    (value,) = decode_cursor(cursor, 1)
    if type(value) is not int:
        raise CursorError("cursor is not valid")
    return value


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    next_cursor: str | None


class ReadQueries:
    """Queries over the public read tables."""

    def __init__(self, store: ReadStore) -> None:
        self.store = store

    def _cols(self, table: Table) -> str:
        """The table's select list. A store may read a column through an
        expression named as the column (PostgreSQL formats times), so an ORDER BY
        on such a column names it with its table: the stored column, in its
        index's order, not the expression's output."""
        return self.store.columns_sql(table)

    def _one(self, table: Table, where: str, params: Sequence[Any]) -> dict[str, Any] | None:
        rows = self.store.rows(table, f"SELECT {self._cols(table)} FROM {table.name} WHERE {where}", params)
        return rows[0] if rows else None

    # ---------------------------------------------------------------- engineers

    def engineer(self, engineer_id: str) -> dict[str, Any] | None:
        return self._one(ENGINEERS, "id = %s", [engineer_id])

    def engineers(self, *, limit: int, cursor: str | None, active: bool | None = None) -> Page:
        where, params = ["1=1"], []
        if active is not None:
            where.append("active = %s")
            params.append(active)
        if cursor:
            (after,) = decode_cursor(cursor, 1)
            where.append("registered_position > %s")
            params.append(int(after))
        rows = self.store.rows(
            ENGINEERS,
            f"SELECT {self._cols(ENGINEERS)} FROM engineers WHERE {' AND '.join(where)} "
            "ORDER BY registered_position LIMIT %s",
            [*params, limit + 1],
        )
        return self._page(rows, limit, lambda r: [r["registered_position"]])

    @staticmethod
    def _page(rows: list[dict[str, Any]], limit: int, key: Any) -> Page:
        more = len(rows) > limit
        items = rows[:limit]
        return Page(items, encode_cursor(key(items[-1])) if more and items else None)

    # ---------------------------------------------------------------- tickets

    def ticket(self, ticket_id: UUID | str) -> dict[str, Any] | None:
        return self._one(TICKETS, "id = %s", [str(ticket_id)])

    def ticket_with_current(
        self, ticket_id: UUID | str
    ) -> tuple[dict[str, Any], dict[str, Any] | None] | None:
        """The ticket's row and its current assignment's (None without one), read
        in one statement: one snapshot, one round trip."""
        columns = (f"{self.store.columns_sql(TICKETS, 't')}, "
                   f"{self.store.columns_sql(ASSIGNMENTS, 'a', 'a__')}")
        found = self.store.select(
            f"SELECT {columns} FROM tickets t LEFT JOIN engineer_assignments a "
            "ON a.id = t.current_assignment_id WHERE t.id = %s",
            [str(ticket_id)],
        )
        if not found:
            return None
        row = found[0]
        ticket = self.store.decode(TICKETS, {c: row[c] for c in TICKETS.column_names})
        current = {c: row[f"a__{c}"] for c in ASSIGNMENTS.column_names}
        if current["id"] is None:
            return ticket, None
        return ticket, self.store.decode(ASSIGNMENTS, current)

    def assignments_by_id(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The assignments' rows, by id, in one query."""
        if not ids:
            return {}
        rows = self.store.rows(
            ASSIGNMENTS,
            f"SELECT {self._cols(ASSIGNMENTS)} FROM engineer_assignments "
            f"WHERE id IN ({', '.join(['%s'] * len(ids))})",
            [str(i) for i in ids],
        )
        return {r["id"]: r for r in rows}

    def tickets(
        self,
        *,
        limit: int,
        cursor: str | None,
        status: str | None = None,
        engineer_id: str | None = None,
        reference: str | None = None,
        territory: str | None = None,
        location: dict[str, str | None] | None = None,
        priority: str | None = None,
        required_skill: str | None = None,
        owner_team: str | None = None,
        condition: tuple[str, list[Any]] | None = None,
    ) -> Page:
        """``location``: ``{pole, pon, zone, dr}`` to match (None: any);
        ``condition``: one more SQL condition on the row and its parameters (as
        ``projections.ticket_sla.deadline_clause`` makes)."""
        where, params = ["1=1"], []
        if condition is not None:
            where.append(f"({condition[0]})")
            params.extend(condition[1])
        for column, value in (
            ("status", status), ("current_engineer_id", engineer_id), ("reference", reference),
            ("territory", territory), ("priority", priority), ("required_skill", required_skill),
            ("owner_team", owner_team),
            *((f"location_{k}", v) for k, v in (location or {}).items() if k in LOCATION_KEYS),
        ):
            if value is not None:
                where.append(f"{column} = %s")
                params.append(value)
        if cursor:
            (after,) = decode_cursor(cursor, 1)
            where.append("opened_position > %s")
            params.append(int(after))
        rows = self.store.rows(
            TICKETS,
            f"SELECT {self._cols(TICKETS)} FROM tickets WHERE {' AND '.join(where)} "
            "ORDER BY opened_position LIMIT %s",
            [*params, limit + 1],
        )
        return self._page(rows, limit, lambda r: [r["opened_position"]])

    # ---------------------------------------------------------------- assignments

    def assignment(self, assignment_id: UUID | str) -> dict[str, Any] | None:
        return self._one(ASSIGNMENTS, "id = %s", [str(assignment_id)])

    def assignments_of_ticket(self, ticket_id: UUID | str) -> list[dict[str, Any]]:
        return self.store.rows(
            ASSIGNMENTS,
            f"SELECT {self._cols(ASSIGNMENTS)} FROM engineer_assignments WHERE ticket_id = %s "
            "ORDER BY assignment_sequence",
            [str(ticket_id)],
        )

    def assignments(
        self,
        *,
        limit: int,
        cursor: str | None,
        status: str | None = None,
        engineer_id: str | None = None,
        tier: int | None = None,
        since: str | None = None,
        until: str | None = None,
    ) -> Page:
        """``since`` (inclusive) and ``until`` (exclusive) bound ``assigned_at``
        (canonical timestamps)."""
        where, params = ["1=1"], []
        if status == "active":
            where.append(f"status IN ({', '.join(['%s'] * len(ACTIVE_STATUSES))})")
            params.extend(sorted(ACTIVE_STATUSES))
        elif status is not None:
            where.append("status = %s")
            params.append(status)
        if engineer_id is not None:
            where.append("engineer_id = %s")
            params.append(engineer_id)
        if tier is not None:
            where.append("assignment_tier = %s")
            params.append(tier)
        if since is not None:
            where.append("assigned_at >= %s")
            params.append(since)
        if until is not None:
            where.append("assigned_at < %s")
            params.append(until)
        if cursor:
            at, last_id = decode_cursor(cursor, 2)
            where.append("(assigned_at > %s OR (assigned_at = %s AND id > %s))")
            params.extend([at, at, last_id])
        rows = self.store.rows(
            ASSIGNMENTS,
            f"SELECT {self._cols(ASSIGNMENTS)} FROM engineer_assignments "
            f"WHERE {' AND '.join(where)} "
            "ORDER BY engineer_assignments.assigned_at, id LIMIT %s",
            [*params, limit + 1],
        )
        return self._page(rows, limit, lambda r: [r["assigned_at"], r["id"]])

    def current_assignment(self, ticket_id: UUID | str) -> dict[str, Any] | None:
        return self._one(CURRENT, "ticket_id = %s", [str(ticket_id)])

    def history_of_ticket(self, ticket_id: UUID | str) -> list[dict[str, Any]]:
        return self.store.rows(
            HISTORY,
            f"SELECT {self._cols(HISTORY)} FROM assignment_history WHERE ticket_id = %s ORDER BY id",
            [str(ticket_id)],
        )

    def history_of_assignment(self, assignment_id: UUID | str) -> list[dict[str, Any]]:
        return self.store.rows(
            HISTORY,
            f"SELECT {self._cols(HISTORY)} FROM assignment_history WHERE assignment_id = %s ORDER BY id",
            [str(assignment_id)],
        )


    # ---------------------------------------------------------------- intervals

    def intervals_at(
        self,
        at: str,
        *,
        limit: int,
        cursor: str | None,
        engineer_id: str | None = None,
        ticket_id: UUID | str | None = None,
    ) -> Page:
        """The assignments held at ``at`` (a canonical timestamp): one indexed
        range query, keyset-paged by (valid_from, assignment_id)."""
        where = ["valid_from <= %s", "(valid_to IS NULL OR valid_to > %s)"]
        params: list[Any] = [at, at]
        if engineer_id is not None:
            where.append("engineer_id = %s")
            params.append(engineer_id)
        if ticket_id is not None:
            where.append("ticket_id = %s")
            params.append(str(ticket_id))
        if cursor:
            since, last_id = decode_cursor(cursor, 2)
            where.append("(valid_from > %s OR (valid_from = %s AND assignment_id > %s))")
            params.extend([since, since, last_id])
        rows = self.store.rows(
            INTERVALS,
            f"SELECT {self._cols(INTERVALS)} FROM assignment_intervals WHERE {' AND '.join(where)} "
            "ORDER BY assignment_intervals.valid_from, assignment_id LIMIT %s",
            [*params, limit + 1],
        )
        return self._page(rows, limit, lambda r: [r["valid_from"], r["assignment_id"]])
