"""The tickets' indexes led by a column most tickets leave empty (place,
territory, team, outside reference) hold only the rows that have a value, and
the ticket list's filters still look rows up through them."""

from __future__ import annotations

from ledger.application import Ledger
from projections.runner import ReadSide
from projections.store import ReadStore
from projections.tickets import TicketsProjection


def _fetch(store: ReadStore, statement: str) -> list[tuple]:
    with store.datastore.transaction(commit=False) as c:  # type: ignore[attr-defined]
        c.execute(statement)
        return [tuple(r.values()) if isinstance(r, dict) else tuple(r) for r in c.fetchall()]


def test_sparse_columns_index_only_the_rows_that_have_them(
    ledger: Ledger, store: ReadStore, read_side: ReadSide,
) -> None:
    table = TicketsProjection.table
    assert set(table.sparse) >= {"reference", "territory", "location_pole", "owner_team"}
    for n in range(30):
        ledger.open_ticket(title=f"t{n}", actor="desk",
                           location={"pole": "P-1"} if n == 0 else None).result()
    read_side.catch_up()
    postgres = store.placeholder == "%s"
    if postgres:
        definitions = {name: sql for name, sql in _fetch(
            store, "SELECT indexname, indexdef FROM pg_indexes WHERE indexname LIKE 'tickets_v%'")}
    else:
        definitions = {name: sql for name, sql in _fetch(
            store, "SELECT name, sql FROM sqlite_master WHERE type = 'index' "
                   "AND name LIKE 'tickets_v%'")}
    partial = {n for n, sql in definitions.items() if "IS NOT NULL" in sql}
    full = {n for n, sql in definitions.items() if sql and "IS NOT NULL" not in sql}
    physical = f"tickets_v{TicketsProjection.version}"
    for index in table.indexes:
        name = f"{physical}_{'_'.join(index)}_idx"[:63]
        assert (name in partial) == (index[0] in table.sparse), (index, definitions[name])
    assert full  # status, position, engineer, need: every row

    lookup = "SELECT id FROM tickets WHERE location_pole = 'P-1' ORDER BY opened_position"
    if postgres:
        with store.datastore.transaction(commit=False) as c:  # type: ignore[attr-defined]
            c.execute("SET LOCAL enable_seqscan = off")
            c.execute(f"EXPLAIN {lookup}")
            plan = " ".join(str(next(iter(r.values())) if isinstance(r, dict) else r[0])
                            for r in c.fetchall())
    else:
        plan = " ".join(str(r[-1]) for r in _fetch(store, f"EXPLAIN QUERY PLAN {lookup}"))
    assert "location_pole_opened_position_idx" in plan, plan
    assert len(_fetch(store, lookup)) == 1
