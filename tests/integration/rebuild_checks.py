"""Helpers of the rebuild tests: stores opened for a test, snapshots of the public
tables, the catalog's entries and positions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import util as importlib_util
from pathlib import Path
from typing import Any


from ledger.application import Ledger
from projections.assignments import (
    AssignmentHistoryProjection,
    CurrentAssignmentsProjection,
    EngineerAssignmentsProjection,
)
from projections.backend import build_store
from projections.engineers import EngineersProjection
from projections.registry import ALL_PROJECTIONS
from projections.store import BUILDING, LIVE, CatalogEntry, ReadStore
from projections.tables import Table
from projections.tickets import TicketsProjection


ROOT = Path(__file__).resolve().parents[2]

PUBLIC_TABLES: tuple[Table, ...] = tuple(t for cls in ALL_PROJECTIONS for t in cls.tables)
#: Each public table's projection version today.
NAMES = tuple(cls.name for cls in ALL_PROJECTIONS)
#: Each projection's code version, by projection name and by table name.
VERSION = {cls.name: cls.version for cls in ALL_PROJECTIONS}
TABLE_VERSION = {t.name: cls.version for cls in ALL_PROJECTIONS for t in cls.tables}
#: The projections of tickets and engineers: the fills below give them rows.
CORE = (TicketsProjection, EngineerAssignmentsProjection, CurrentAssignmentsProjection,
        AssignmentHistoryProjection, EngineersProjection)
#: The admin token the test apps accept (ignored by an app without authentication).
ADMIN_TOKEN = "rebuild-resilience-admin-token-0123456789abcdef"


# ---------------------------------------------------------------------- helpers


def load_fill() -> Callable[..., dict[str, Any]]:
    """benchmarks/replay.py's fast ``fill`` (the module is not a package)."""
    path = ROOT / "benchmarks" / "replay.py"
    spec = importlib_util.spec_from_file_location("_ledger_bench_replay", path)
    assert spec is not None and spec.loader is not None
    module = importlib_util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.fill


@contextmanager
def opened(database_url: str, pool_size: int = 4) -> Iterator[tuple[Ledger, ReadStore]]:
    ledger = Ledger(database_url, pool_size=pool_size)
    store = build_store(ledger.store, pool_size=pool_size)
    try:
        yield ledger, store
    finally:
        store.close()
        ledger.close()


def snapshot(store: ReadStore, tables: tuple[Table, ...] = PUBLIC_TABLES) -> dict[str, list[dict]]:
    """Every row of every public view, in key order, in canonical form."""
    out = {}
    for table in tables:
        cols = ", ".join(table.column_names)
        order = ", ".join(table.key)
        out[table.name] = store.rows(table, f"SELECT {cols} FROM {table.name} ORDER BY {order}")
    return out


def base_tables(store: ReadStore) -> set[str]:
    """The names of the real (non-view) tables of the read side and event store."""
    if store.placeholder == "?":
        rows = store.select(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
        return {r["name"] for r in rows}
    rows = store.select(
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
    )
    return {r["table_name"] for r in rows}


def projection_tables(store: ReadStore) -> set[str]:
    """The physical tables of projections (``<table>_v<n>[_g<m>]``)."""
    prefixes = tuple(f"{t.name}_v" for t in PUBLIC_TABLES)
    return {
        name for name in base_tables(store)
        if name.startswith(prefixes) and not name.startswith("_stage_")
    }


def view_columns(store: ReadStore, name: str) -> list[str]:
    if store.placeholder == "?":
        return [r["name"] for r in store.select(f'PRAGMA table_info("{name}")')]
    rows = store.select(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = %s ORDER BY ordinal_position",
        [name],
    )
    return [r["column_name"] for r in rows]


def entries_of(store: ReadStore, name: str) -> list[CatalogEntry]:
    return [e for e in store.catalog() if e.name == name]


def live_entry(store: ReadStore, name: str) -> CatalogEntry:
    live = [e for e in entries_of(store, name) if e.state == LIVE]
    assert len(live) == 1, f"{name}: expected exactly one live build, catalog: {live}"
    return live[0]


def empty_projections(rows: dict[str, list[dict]]) -> set[str]:
    """The projections with no rows in ``rows`` (a snapshot): the fill records
    none of their events."""
    return {cls.name for cls in ALL_PROJECTIONS if not any(rows[t.name] for t in cls.tables)}


def building_positions(store: ReadStore) -> dict[CatalogEntry, int]:
    return {e: store.position(e) for e in store.catalog() if e.state == BUILDING}


