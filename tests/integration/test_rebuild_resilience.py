"""Rebuilds survive being killed, and a projection version bump reaches the views.

* ``ledger projections rebuild`` is SIGKILLed at (seeded) random points, several
  times, then run to completion: the public tables equal what the live runner
  had built, row for row; while it lay dead the public views served the old data
  unchanged; the resumed build is the same build (not restarted) and the catalog
  ends with exactly one live build per projection and no leftover tables.
  Killing the command alone (not its worker processes) stops the rebuild too.
* A projection whose code version is bumped (a table with one more column) is
  rebuilt beside the old one and switched in: the column appears in the public
  view only after the switch, filled by the new fold; old tables are dropped (or
  kept with ``keep=True``); ``status()`` tells the story throughout.
* The same, through the API: an app started with the new code rebuilds the
  pending projection in the background and its answers stay the same.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import util as importlib_util
from pathlib import Path
from typing import Any

import pytest

import projections.bulk
import projections.registry
import projections.runner
from api.demo import seed_demo
from ledger.application import Ledger
from projections.assignments import (
    ASSIGNMENT_COLUMNS,
    AssignmentHistoryProjection,
    CurrentAssignmentsProjection,
    EngineerAssignmentsProjection,
)
from projections.backend import build_store
from projections.base import Projection, Rows
from projections.engineers import EngineersProjection
from projections.registry import ALL_PROJECTIONS
from projections.runner import ReadSide
from projections.store import BUILDING, LIVE, RETIRED, CatalogEntry, ReadStore
from projections.tables import Column, Table, physical_name, sid
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


def _load_fill() -> Callable[..., dict[str, Any]]:
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


# ---------------------------------------------------------------------- SIGKILL


def _cli_env(database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    env["LEDGER_DATABASE_URL"] = database_url
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _rebuild_cmd(page_size: int) -> list[str]:
    return [
        sys.executable, "-c", "from api.cli import main; main()",
        "projections", "rebuild", "--page-size", str(page_size),
    ]


FILL_EVENTS = 16_000
PAGE_SIZE = 500
KILLS = 3


def _spawn_rebuild(database_url: str, cwd: Path, log: Any) -> subprocess.Popen[bytes]:
    """``ledger projections rebuild`` in its own session (process group), so that
    it and any worker processes it starts can be killed together."""
    return subprocess.Popen(
        _rebuild_cmd(PAGE_SIZE), env=_cli_env(database_url), cwd=cwd, stdout=log, stderr=log,
        start_new_session=True,
    )


def _kill_session(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=30)


def _wait_for_progress(
    proc: subprocess.Popen[bytes], store: ReadStore, last: dict[str, int], what: str,
    empty: set[str],
) -> dict[str, int]:
    """Until every projection's build is past where it was at the last kill
    (those of ``empty``, which the fill gives no events, have nothing to pass)."""
    deadline = time.monotonic() + 90
    while True:
        assert proc.poll() is None, (
            f"{what}: the rebuild ended (rc={proc.returncode}) before it could be killed"
        )
        positions = {e.name: p for e, p in building_positions(store).items()}
        if set(positions) == set(NAMES) and all(
            positions[n] > last.get(n, 0) for n in NAMES if n not in empty
        ):
            return positions
        assert time.monotonic() < deadline, f"{what}: no progress: {positions}"
        time.sleep(0.01)


def _run_on_before_the_end(store: ReadStore, seconds: float, empty: set[str]) -> None:
    """Lets the rebuild run on for ``seconds``, or less if a build comes within
    two pages of the end: the projections are built in two processes at their
    own pace, and one that finished and switched would not be killed mid-build."""
    deadline = time.monotonic() + seconds
    near_end = FILL_EVENTS - 2 * PAGE_SIZE
    while time.monotonic() < deadline:
        positions = {e.name: p for e, p in building_positions(store).items()}
        if any(p >= near_end for n, p in positions.items() if n not in empty):
            return
        time.sleep(0.01)


def _settled_positions(store: ReadStore) -> dict[CatalogEntry, int]:
    """Building positions once they stop moving (a commit sent just before a kill
    may still land); fails if they keep moving: something is still rebuilding."""
    time.sleep(0.3)
    positions = building_positions(store)
    time.sleep(0.7)
    again = building_positions(store)
    before = {e.name: p for e, p in positions.items()}
    after = {e.name: p for e, p in again.items()}
    assert after == before, f"the rebuild went on after it was killed: {before} -> {after}"
    return positions


def test_sigkilled_rebuild_resumes_to_the_same_tables(
    database_url: str, backend: str, tmp_path: Path
) -> None:
    """The rebuild and all its processes are SIGKILLed together (an OOM kill, a
    host crash) at seeded random points, three times, then run to completion."""
    fill = _load_fill()
    assert fill(database_url, FILL_EVENTS, seed=11)["events"] == FILL_EVENTS
    rng = random.Random(f"sigkill-{backend}")

    with opened(database_url) as (ledger, store):
        side = ReadSide(ledger, store)
        side.setup()
        assert side.catch_up() == FILL_EVENTS
        baseline = snapshot(store)
        assert all(baseline[cls.table.name] for cls in CORE), "the core tables have rows"
        empty = empty_projections(baseline)
        before_catalog = store.catalog()
        assert {(e.name, e.generation, e.state) for e in before_catalog} == {
            (n, 1, LIVE) for n in NAMES
        }
        tables_before = projection_tables(store)
        assert tables_before == {
            physical_name(t.name, TABLE_VERSION[t.name], 1) for t in PUBLIC_TABLES}

        log = (tmp_path / "rebuild.log").open("ab")
        last: dict[str, int] = {}
        first_build: dict[str, CatalogEntry] = {}
        for round_ in range(KILLS):
            proc = _spawn_rebuild(database_url, tmp_path, log)
            try:
                # Once this run has committed pages past the last kill, let it run
                # on for a random while and kill it mid-stride.
                _wait_for_progress(proc, store, last, f"round {round_}", empty)
                _run_on_before_the_end(store, rng.uniform(0.0, 0.5), empty)
                assert proc.poll() is None, f"round {round_}: the rebuild ended before the kill"
            finally:
                _kill_session(proc)
            assert proc.returncode == -signal.SIGKILL

            positions = _settled_positions(store)
            by_name = {e.name: (e, p) for e, p in positions.items()}
            assert set(by_name) == set(NAMES), f"round {round_}: killed after a switch: {by_name}"
            for name, (entry, position) in by_name.items():
                assert entry.version == VERSION[name]
                # Resumed, not restarted: the same build every round.
                assert first_build.setdefault(name, entry) == entry
                assert entry.generation == 2
                assert name in empty or position > last.get(name, 0), (
                    f"{name}: no progress in round {round_}")
            last = {name: p for name, (_e, p) in by_name.items()}

            # Killed mid-build: the public views still show the old build, unchanged.
            assert snapshot(store) == baseline
            for name in NAMES:
                assert live_entry(store, name).generation == 1
            assert projection_tables(store) == tables_before | {
                physical_name(t.name, TABLE_VERSION[t.name], 2) for t in PUBLIC_TABLES
            }

        done = subprocess.run(
            _rebuild_cmd(PAGE_SIZE), env=_cli_env(database_url), cwd=tmp_path, stdout=log,
            stderr=log, timeout=180,
        )
        log.close()
        assert done.returncode == 0, (tmp_path / "rebuild.log").read_text(errors="replace")[-3000:]

        assert snapshot(store) == baseline
        catalog = store.catalog()
        assert not [e for e in catalog if e.state == BUILDING], catalog
        for name in NAMES:
            entries = {(e.version, e.generation): e.state for e in entries_of(store, name)}
            v = VERSION[name]
            assert entries == {(v, 1): RETIRED, (v, 2): LIVE}, (name, entries)
            assert store.position(live_entry(store, name)) == FILL_EVENTS
        # Old tables dropped, nothing left over from the killed runs.
        assert projection_tables(store) == {
            physical_name(t.name, TABLE_VERSION[t.name], 2) for t in PUBLIC_TABLES}
        for table in PUBLIC_TABLES:
            assert view_columns(store, table.name) == list(table.column_names)

        # A fresh process agrees: every projection live at the head.
        fresh = ReadSide(ledger, store)
        fresh.setup()
        assert fresh.pending_builds == []
        statuses = fresh.status()
        assert sorted(s["name"] for s in statuses) == sorted(NAMES)
        assert {(s["state"], s["status"], s["lag"], s["generation"]) for s in statuses} == {
            (LIVE, "live", 0, 2)
        }


def test_sigkilling_the_rebuild_command_stops_the_rebuild(
    database_url: str, tmp_path: Path
) -> None:
    """SIGKILL of the command alone (``kill -9 <pid>``): nothing goes on rebuilding,
    not even the worker processes it started (PostgreSQL rebuilds in two)."""
    fill = _load_fill()
    events = fill(database_url, FILL_EVENTS // 2, seed=12)["events"]
    with opened(database_url) as (ledger, store):
        side = ReadSide(ledger, store)
        side.setup()
        side.catch_up()
        baseline = snapshot(store)
        with (tmp_path / "rebuild.log").open("ab") as log:
            proc = _spawn_rebuild(database_url, tmp_path, log)
            try:
                _wait_for_progress(proc, store, {}, "the command", empty_projections(baseline))
                os.kill(proc.pid, signal.SIGKILL)  # the command's own pid only
                assert proc.wait(timeout=30) == -signal.SIGKILL
                _settled_positions(store)
                assert snapshot(store) == baseline
                assert {e.generation for e in side.live_entries()} == {1}
            finally:
                _kill_session(proc)  # whatever it left behind
            # And the same command resumes it to the end.
            done = subprocess.run(
                _rebuild_cmd(PAGE_SIZE), env=_cli_env(database_url), cwd=tmp_path, stdout=log,
                stderr=log, timeout=180,
            )
        assert done.returncode == 0, (tmp_path / "rebuild.log").read_text(errors="replace")[-3000:]
        assert snapshot(store) == baseline
        for name in NAMES:
            assert live_entry(store, name).generation == 2
            assert store.position(live_entry(store, name)) == events


# ---------------------------------------------------------------------- version bump


#: ``engineer_assignments``' version today, and the one the bump below makes.
OLD = EngineerAssignmentsProjection.version
NEW = OLD + 1
OLD_TABLE = physical_name("engineer_assignments", OLD, 1)
NEW_TABLE = physical_name("engineer_assignments", NEW, 1)


class EngineerAssignmentsV2(EngineerAssignmentsProjection):
    """The next version of ``engineer_assignments``: one more column,
    ``last_changed_position`` (the position of the last event that changed the row)."""

    version = NEW
    table = Table(
        "engineer_assignments",
        (*ASSIGNMENT_COLUMNS, Column("last_changed_position", "int", True)),
        key=("id",),
        indexes=(*EngineerAssignmentsProjection.table.indexes, ("last_changed_position",)),
    )
    tables = (table,)

    def handlers(self) -> dict[type, Any]:
        def stamped(handler: Any) -> Any:
            def fold(e: Any, position: int, rows: Rows) -> None:
                handler(e, position, rows)
                for attribute in ("assignment_id", "new_assignment_id"):
                    value = getattr(e, attribute, None)
                    if value is not None:
                        rows.patch(self.table, (sid(value),), last_changed_position=position)

            return fold

        return {cls: stamped(h) for cls, h in super().handlers().items()}


NEW_COLUMN = "last_changed_position"


def upgraded_projections() -> tuple[type[Projection], ...]:
    """Today's projections, with ``engineer_assignments`` at v2."""
    return tuple(
        EngineerAssignmentsV2 if cls is EngineerAssignmentsProjection else cls
        for cls in ALL_PROJECTIONS
    )


def v2_projections() -> list[Projection]:
    return [cls() for cls in upgraded_projections()]


def expected_last_changed(ledger: Ledger) -> dict[str, int]:
    """From the event store itself: assignment id -> position of its last event."""
    out: dict[str, int] = {}
    start = 0
    while True:
        page = ledger.recorder.select_notifications(
            start=start, limit=1000, inclusive_of_start=False
        )
        if not page:
            return out
        for n in page:
            event = ledger.mapper.to_domain_event(n)
            for attribute in ("assignment_id", "new_assignment_id"):
                value = getattr(event, attribute, None)
                if value is not None:
                    out[str(value)] = n.id
        start = page[-1].id


ASSIGNMENTS_V1 = EngineerAssignmentsProjection.table
ASSIGNMENT_COLUMNS_NAMES = list(ASSIGNMENTS_V1.column_names)
#: The upgrade's physical tables: today's version and the test's next one.


@pytest.mark.parametrize("keep", [False, True], ids=["drop-old", "keep-old"])
def test_version_bump_adds_a_column_at_the_switch(
    database_url: str, keep: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A write (and its progress report) every page: several reports while the build fills.
    monkeypatch.setattr(projections.bulk, "FLUSH_PAGES", 1)
    with opened(database_url) as (ledger, store):
        v1 = ReadSide(ledger, store)
        v1.setup()
        assert v1.pending_builds == []
        seed_demo(ledger, tickets=60, seed=3)
        v1.catch_up()
        before = snapshot(store)
        assert before["engineer_assignments"]
        assert NEW_COLUMN not in view_columns(store, "engineer_assignments")

        side = ReadSide(ledger, store, projections=v2_projections(), page_size=40)
        side.setup()
        assert side.pending_builds == ["engineer_assignments"]
        statuses = {s["name"]: s for s in side.status()}
        assert statuses["engineer_assignments"]["version"] == OLD
        assert statuses["engineer_assignments"]["status"] == "stale_version"
        assert {s["status"] for n, s in statuses.items() if n != "engineer_assignments"} == {
            "live"
        }
        # Pending: nothing changed in the public views yet.
        assert NEW_COLUMN not in view_columns(store, "engineer_assignments")
        assert side.catch_up() == 0
        assert snapshot(store) == before

        seen_during: list[dict[str, dict[str, Any]]] = []

        def progress(position: int, head: int) -> None:
            if len(seen_during) < 3:
                seen_during.append({
                    f"{s['name']}:v{s['version']}": s for s in side.status()
                })
                # Still the v1 view while the v2 build fills.
                assert NEW_COLUMN not in view_columns(store, "engineer_assignments")

        switched = side.rebuild(["engineer_assignments"], keep=keep, progress=progress)

        head = ledger.head()
        assert [(e.name, e.version, e.generation) for e in switched] == [
            ("engineer_assignments", NEW, 1)
        ]
        assert len(seen_during) >= 2, "the rebuild reported no progress"
        during = seen_during[1]
        assert during[f"engineer_assignments:v{NEW}"]["state"] == BUILDING
        assert during[f"engineer_assignments:v{NEW}"]["status"] == "building"
        assert during[f"engineer_assignments:v{OLD}"]["state"] == LIVE
        assert during[f"engineer_assignments:v{OLD}"]["status"] == "stale_version"
        assert during[f"engineer_assignments:v{NEW}"]["head"] == head

        # Switched: the view has the column, filled from the events.
        cols = view_columns(store, "engineer_assignments")
        assert cols == [*ASSIGNMENT_COLUMNS_NAMES, NEW_COLUMN]
        after = snapshot(store, (EngineerAssignmentsV2.table,))["engineer_assignments"]
        expected = expected_last_changed(ledger)
        assert {r["id"]: r[NEW_COLUMN] for r in after} == expected
        old_cols = [{c: r[c] for c in ASSIGNMENT_COLUMNS_NAMES} for r in after]
        assert old_cols == before["engineer_assignments"]
        # The other projections were not touched.
        now = snapshot(store)
        for table in PUBLIC_TABLES:
            if table.name != "engineer_assignments":
                assert now[table.name] == before[table.name]

        entries = {
            (e.version, e.generation): e.state for e in entries_of(store, "engineer_assignments")
        }
        assert entries == {(OLD, 1): RETIRED, (NEW, 1): LIVE}
        tables = projection_tables(store)
        assert NEW_TABLE in tables
        if keep:
            assert OLD_TABLE in tables
            kept = store.rows(
                ASSIGNMENTS_V1,
                f"SELECT {', '.join(ASSIGNMENT_COLUMNS_NAMES)} FROM {OLD_TABLE} "
                "ORDER BY id",
            )
            assert kept == before["engineer_assignments"]
        else:
            assert OLD_TABLE not in tables

        assert side.pending_builds == []
        statuses = {s["name"]: s for s in side.status()}
        assert len(statuses) == len(NAMES), side.status()  # retired builds are not listed
        assert statuses["engineer_assignments"]["version"] == NEW
        assert {(s["status"], s["lag"]) for s in statuses.values()} == {("live", 0)}

        # The live runner maintains v2 from now on, new column included.
        seed_demo(ledger, tickets=8, seed=4)
        assert side.catch_up() > 0
        rows = snapshot(store, (EngineerAssignmentsV2.table,))["engineer_assignments"]
        assert len(rows) > len(after)
        assert {r["id"]: r[NEW_COLUMN] for r in rows} == expected_last_changed(ledger)

        # A process with the new code starting now has nothing pending.
        again = ReadSide(ledger, store, projections=v2_projections())
        again.setup()
        assert again.pending_builds == []


# ---------------------------------------------------------------------- through the API


def _settings(database_url: str, **overrides: Any) -> Any:
    from api.settings import Settings

    values: dict[str, Any] = {
        "database_url": database_url, "actor": "rebuild-tester", "demo_on_empty": False,
        "admin_token": ADMIN_TOKEN,
        "run_projections": True, "read_your_writes_timeout": 10.0,
        "min_position_timeout": 10.0, "pool_size": 4,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@contextmanager
def running(database_url: str, **overrides: Any) -> Iterator[Any]:
    from api.app import create_app

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from fastapi.testclient import TestClient

    app = create_app(_settings(database_url, **overrides))
    with TestClient(app, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as client:
        yield client


def _ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, (
        f"{response.request.method} {response.request.url} -> {response.status_code}: "
        f"{response.text}"
    )
    return response.json()


def _all(client: Any, path: str, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    query = {"limit": 100, **params}
    while True:
        page = _ok(client.get(path, params=query))
        items.extend(page["items"])
        if page["next_cursor"] is None:
            return items
        query["cursor"] = page["next_cursor"]


def api_answers(client: Any, min_position: int) -> dict[str, Any]:
    tickets = _all(client, "/tickets", min_position=min_position)
    return {
        "tickets": tickets,
        "assignments": _all(client, "/assignments"),
        "active": _all(client, "/assignments", status="active"),
        "engineers": _all(client, "/engineers"),
        "per_ticket": {
            t["id"]: _ok(client.get(f"/tickets/{t['id']}/assignments")) for t in tickets
        },
        "one": {t["id"]: _ok(client.get(f"/tickets/{t['id']}")) for t in tickets[::7]},
    }


def _status_of(client: Any, name: str) -> list[dict[str, Any]]:
    return [s for s in _ok(client.get("/projections")) if s["name"] == name]


def test_app_with_new_projection_version_rebuilds_on_start(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with running(database_url) as client:
        services = client.app.state.services
        seed_demo(services.ledger, tickets=50, seed=5)
        engineer = _ok(client.post("/engineers", json={
            "id": "api.v1", "name": "Api One", "skills": ["fibre"], "tier": 1, "capacity": 3,
        }), 201)
        ticket = _ok(client.post("/tickets", json={"title": "Before the upgrade"}), 201)
        assigned = client.post("/assignments", json={
            "ticket_id": ticket["id"], "engineer_id": engineer["id"], "tier": 1,
        })
        first_assignment = _ok(assigned, 201)
        head = int(assigned.headers["x-ledger-position"])
        v1_answers = api_answers(client, head)
        statuses = _status_of(client, "engineer_assignments")
        assert [(s["version"], s["status"]) for s in statuses] == [(OLD, "live")]

    with opened(database_url) as (_ledger, store):
        assert NEW_COLUMN not in view_columns(store, "engineer_assignments")

    # The runner's default and the app's list (registry.with_plugins) alike.
    monkeypatch.setattr(projections.runner, "ALL_PROJECTIONS", upgraded_projections())
    monkeypatch.setattr(projections.registry, "ALL_PROJECTIONS", upgraded_projections())

    with running(database_url, page_size=25) as client:
        read_side = client.app.state.services.read_side
        assert isinstance(read_side.projections["engineer_assignments"], EngineerAssignmentsV2)
        observed = set()
        deadline = time.monotonic() + 60
        while True:
            statuses = _status_of(client, "engineer_assignments")
            observed.update((s["version"], s["state"], s["status"]) for s in statuses)
            # Before, during and after the switch the API answers the same.
            assert api_answers(client, head) == v1_answers
            if (
                [(s["version"], s["state"], s["status"]) for s in statuses]
                == [(NEW, LIVE, "live")]
                and not read_side.pending_builds
            ):
                break
            assert time.monotonic() < deadline, f"the background rebuild did not finish: {statuses}"
            time.sleep(0.05)
        assert (NEW, LIVE, "live") in observed
        assert read_side.last_error is None
        assert {(s["version"], s["status"]) for s in _ok(client.get("/projections"))} <= {
            (v, "live") for v in {*VERSION.values(), NEW}
        }

        with opened(database_url) as (ledger, store):
            assert view_columns(store, "engineer_assignments")[-1] == NEW_COLUMN
            rows = snapshot(store, (EngineerAssignmentsV2.table,))["engineer_assignments"]
            assert {r["id"]: r[NEW_COLUMN] for r in rows} == expected_last_changed(ledger)
            assert projection_tables(store) >= {NEW_TABLE}
            assert OLD_TABLE not in projection_tables(store)

        # New commands are answered from (and maintained in) the v2 build.
        accepted = client.post(f"/assignments/{first_assignment['id']}/accept")
        assert _ok(accepted)["status"] == "accepted"
        later = _ok(client.post("/tickets", json={"title": "After the upgrade"}), 201)
        created = client.post("/assignments", json={
            "ticket_id": later["id"], "engineer_id": "thandi.n", "tier": 1,
        })
        new_assignment = _ok(created, 201)
        position = int(created.headers["x-ledger-position"])
        listed = _ok(client.get(f"/tickets/{later['id']}/assignments",
                                params={"min_position": position}))
        assert [a["id"] for a in listed] == [new_assignment["id"]]
        with opened(database_url) as (ledger, store):
            rows = snapshot(store, (EngineerAssignmentsV2.table,))["engineer_assignments"]
            by_id = {r["id"]: r for r in rows}
            assert by_id[new_assignment["id"]][NEW_COLUMN] == position
            assert by_id[first_assignment["id"]]["status"] == "accepted"
            assert {r["id"]: r[NEW_COLUMN] for r in rows} == expected_last_changed(ledger)
