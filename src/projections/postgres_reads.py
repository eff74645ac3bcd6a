"""How the PostgreSQL read store reads rows as the folded rows hold them (ids and
times as text) with as little Python per value as it can: a loader for the
server's timestamptz text, and select lists whose times the server formats."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any

from psycopg.adapt import Loader

from projections.tables import Table, ts


class CanonicalTimeLoader(Loader):
    """timestamptz read straight into the folded rows' text (``tables.ts``:
    ``2026-12-07T11:20:09.930090Z``) from the server's ISO output, without a
    ``datetime`` in between; any offset but UTC goes through one."""

    def load(self, data: Any) -> str:
        text = bytes(data).decode()
        if text.endswith("+00") and text[10:11] == " ":
            moment, _, fraction = text[:-3].partition(".")
            return f"{moment[:10]}T{moment[11:]}.{fraction:0<6}Z"
        if text[-3:-2] in "+-":  # "+01": Python 3.11 wants "+01:00"
            text += ":00"
        return ts(datetime.fromisoformat(text))  # type: ignore[return-value]


@cache
def columns_sql(table: Table, alias: str | None, prefix: str) -> str:
    """The table's select list with its times formatted by the server as the
    folded rows' text (``tables.ts``): the server's C formatting costs the API
    process, whose one interpreter serves every request, less than the time
    loader's Python for each value."""
    out = []
    for c in table.columns:
        column = f"{alias}.{c.name}" if alias else c.name
        if c.type == "ts":
            column = f"""to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""
        out.append(f"{column} AS {prefix}{c.name}" if column != c.name or prefix else column)
    return ", ".join(out)
