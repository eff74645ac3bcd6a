"""Rebuilds survive being killed.

``ledger projections rebuild`` is SIGKILLed at (seeded) random points, several
times, then run to completion: the public tables equal what the live runner had
built, row for row; while it lay dead the public views served the old data
unchanged; the resumed build is the same build (not restarted) and the catalog
ends with exactly one live build per projection and no leftover tables. Killing
the command alone (not its worker processes) stops the rebuild too.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


from projections.bulk import FLUSH_PAGES
from projections.runner import ReadSide
from projections.store import BUILDING, LIVE, RETIRED, CatalogEntry, ReadStore
from projections.tables import physical_name

from rebuild_checks import (
    CORE,
    NAMES,
    PUBLIC_TABLES,
    TABLE_VERSION,
    VERSION,
    building_positions,
    empty_projections,
    entries_of,
    live_entry,
    load_fill,
    opened,
    projection_tables,
    snapshot,
    view_columns,
)

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
#: Small pages, so that a new build writes (and shows its progress) several times
#: before its end: it writes every ``FLUSH_PAGES`` pages.
PAGE_SIZE = 250
KILLS = 3
#: Events between two of a build's writes.
STRIDE = PAGE_SIZE * FLUSH_PAGES


def _spawn_rebuild(database_url: str, cwd: Path, log: Any) -> subprocess.Popen[bytes]:
    """``ledger projections rebuild`` in its own session (process group), so that
    it and any worker processes it starts can be killed together."""
    return subprocess.Popen(
        _rebuild_cmd(PAGE_SIZE), env=_cli_env(database_url), cwd=cwd, stdout=log, stderr=log,
        start_new_session=True,
    )


def _group_alive(pgid: int) -> bool:
    """Whether a process of the group ``pgid`` still runs (zombies don't count: an
    orphan's parent here may be slow to reap it)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def _wait_for_group_exit(pgid: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while _group_alive(pgid):
        assert time.monotonic() < deadline, f"processes of group {pgid} still run"
        time.sleep(0.05)


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
    two writes of the end: the projections are built in two processes at their
    own pace, and one that finished and switched would not be killed mid-build."""
    deadline = time.monotonic() + seconds
    near_end = FILL_EVENTS - 2 * STRIDE
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
    fill = load_fill()
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
    fill = load_fill()
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
                # Its workers notice between pages and let a write in flight land;
                # on a loaded machine that can take longer than the settling below.
                _wait_for_group_exit(proc.pid)
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


