"""Reads of ``repeat_faults``."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from projections.queries import Page, decode_position_cursor, encode_cursor
from projections.repeat_faults import RepeatFaultsProjection
from projections.store import ReadStore

FAULTS = RepeatFaultsProjection.table
_COLUMNS = ", ".join(FAULTS.column_names)


class RepeatFaultQueries:
    def __init__(self, store: ReadStore) -> None:
        self.store = store

    def fault(self, fault_id: UUID | str) -> dict[str, Any] | None:
        rows = self.store.rows(FAULTS, f"SELECT {_COLUMNS} FROM repeat_faults WHERE id = %s",
                               [str(fault_id)])
        return rows[0] if rows else None

    def faults(
        self, *, limit: int, cursor: str | None, scope: str | None = None,
        status: str | None = None, value: str | None = None,
    ) -> Page:
        """Newest first (by when they were raised)."""
        where, params = ["1=1"], []
        for column, wanted in (("scope", scope), ("status", status), ("value", value)):
            if wanted is not None:
                where.append(f"{column} = %s")
                params.append(wanted)
        if cursor:
            where.append("raised_position < %s")
            params.append(decode_position_cursor(cursor))
        rows = self.store.rows(
            FAULTS,
            f"SELECT {_COLUMNS} FROM repeat_faults WHERE {' AND '.join(where)} "
            "ORDER BY raised_position DESC LIMIT %s",
            [*params, limit + 1],
        )
        more = len(rows) > limit
        items = rows[:limit]
        after = encode_cursor([items[-1]["raised_position"]]) if more and items else None
        return Page(items, after)
