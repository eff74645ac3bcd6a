"""Two ``ledger worker`` processes and a ``ledger serve --api-only`` under a steady
load of commands: the leading worker is killed (SIGKILL); the other takes every
background job over within 10 s; afterwards the read tables equal a clean
rebuild row for row (no event folded twice or skipped) and the signed checkpoints
cover the log in contiguous ranges, none sealed twice (docs/deploy.md)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from ledger.application import Ledger
from ledger_processes import LEDGER, Cluster, Load
from projections.backend import build_store
from projections.registry import ALL_PROJECTIONS
from projections.runner import ReadSide
from projections.store import ReadStore

# Several processes each: one after the other, on one xdist worker.
pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.xdist_group("ledger-processes")]

JOBS = ("projection-runner", "checkpoint-sealer")
TAKEOVER_BOUND = 10.0


def read_tables(store: ReadStore) -> dict[str, list[dict[str, Any]]]:
    """Every row of every public view, in key order."""
    tables = [t for p in ALL_PROJECTIONS for t in p().tables]
    return {
        t.name: store.select(f"SELECT * FROM {t.name} ORDER BY {', '.join(t.key)}")
        for t in tables
    }


def caught_up(base: str, token: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while True:
        rows = httpx.get(f"{base}/projections", headers={"Authorization": f"Bearer {token}"},
                         timeout=10).json()
        if all(r["lag"] == 0 for r in rows if r["state"] == "live"):
            return
        assert time.monotonic() < deadline, f"the read tables did not catch up: {rows}"
        time.sleep(0.1)


def test_killed_leader_is_replaced_and_nothing_is_folded_twice_or_skipped(
    postgres_url_factory: Any, tmp_path: Path
) -> None:
    url = postgres_url_factory()
    # Saves leave their rows to the runner, so the workers' runner does all the
    # folding; commands wait for it through the takeover (the answer to a
    # registration that gives up waiting is a 404: api/routers/engineers.py reads
    # the row); checkpoints every 25 events and every second.
    cluster = Cluster(url, tmp_path, LEDGER_INLINE_PROJECTIONS="false",
                      LEDGER_READ_YOUR_WRITES_TIMEOUT="15",
                      LEDGER_CHECKPOINT_EVERY="25", LEDGER_CHECKPOINT_INTERVAL="1")
    load = None
    try:
        first = cluster.worker("worker-1")
        base = cluster.api()
        leader = cluster.wait_for_leader("projection-runner", {first.pid}, 90)
        second = cluster.worker("worker-2")
        cluster.wait_for_leader("checkpoint-sealer", {first.pid}, 30)
        auth = {"Authorization": f"Bearer {cluster.token}"}
        engineers = []
        for n in range(3):
            response = httpx.post(f"{base}/engineers", headers=auth, timeout=30, json={
                "id": f"failover-{n}", "name": "F", "skills": ["mri"], "tier": 1,
                "capacity": 100, "availability": 1.0})
            assert response.status_code == 201, response.text
            engineers.append(f"failover-{n}")

        load = Load(base, cluster.token, engineers).start()
        time.sleep(3)
        before_kill = load.commands
        assert before_kill > 5, f"too little load before the kill: {load.failures}"

        cluster.kill(leader)
        killed_at = time.monotonic()
        for job in JOBS:
            cluster.wait_for_leader(job, {second.pid}, TAKEOVER_BOUND)
            assert time.monotonic() - killed_at < TAKEOVER_BOUND
        # The new leader projects what is recorded from now on.
        position = load.last_position
        deadline = killed_at + TAKEOVER_BOUND
        while True:
            rows = httpx.get(f"{base}/projections", headers=auth, timeout=10).json()
            if min(r["position"] for r in rows if r["state"] == "live") > position:
                break
            assert time.monotonic() < deadline, f"nothing projected after the kill: {rows}"
            time.sleep(0.05)
        time.sleep(2)
        load.stop()
        assert load.failures == [], load.failures[:3]
        assert load.commands > before_kill + 5, "the load did not go on after the kill"
        caught_up(base, cluster.token, 20)
        # What the sealer had not sealed yet it seals within its interval.
        time.sleep(1.5)
    finally:
        try:
            if load is not None:
                load.stop()
        finally:
            cluster.stop()

    ledger = Ledger(url)
    store = build_store(ledger.store, pool_size=2)
    try:
        head = ledger.head()
        served = read_tables(store)
        assert sum(len(rows) for rows in served.values()) > 0
        read_side = ReadSide(ledger, store)
        read_side.setup()
        assert all(r["position"] == head for r in read_side.status()), read_side.status()
        read_side.rebuild()
        rebuilt = read_tables(store)
        for table, rows in rebuilt.items():
            assert served[table] == rows, f"{table}: served rows differ from a clean rebuild"

        checkpoints = store.select("SELECT position, events FROM ledger_checkpoints "
                                   "ORDER BY position")
        assert len(checkpoints) >= 3
        counts = store.select(
            f"SELECT count(*) AS n FROM {ledger.recorder.events_table_name} "
            "WHERE notification_id <= %s", (checkpoints[-1]["position"],))
        assert checkpoints[-1]["events"] == counts[0]["n"]
        previous = (0, 0)
        for checkpoint in checkpoints:
            # Each covers the events after the one before: strictly increasing,
            # and its count is the log's count up to its position.
            assert checkpoint["position"] > previous[0]
            assert checkpoint["events"] > previous[1]
            previous = (checkpoint["position"], checkpoint["events"])
    finally:
        store.close()
        ledger.close()

    verified = subprocess.run([str(LEDGER), "verify", "--database-url", url], cwd=tmp_path,
                              env=cluster.env, capture_output=True, text=True, timeout=120)
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_api_only_process_reads_its_writes_with_the_runner_in_a_worker(
    postgres_url_factory: Any, tmp_path: Path
) -> None:
    """Commands on an API-only process are answered once the read tables have
    them, though the projection runner lives in another process: its saves
    project themselves (inline), and what stands aside (Engineer events, on a
    process that does not lead) waits for the worker's runner."""
    url = postgres_url_factory()
    cluster = Cluster(url, tmp_path)
    checked: list[str] = []

    def reads_back(client: httpx.Client, completed: dict[str, Any]) -> None:
        row = client.get(f"/assignments/{completed['id']}").json()
        assert row["status"] == "completed", row
        checked.append(row["id"])

    try:
        worker = cluster.worker()
        base = cluster.api()
        cluster.wait_for_leader("projection-runner", {worker.pid}, 90)
        assert cluster.leader_pids("projection-runner") == {worker.pid}
        load = Load(base, cluster.token, ["rw-0"], check=reads_back)
        load.send("POST", "/engineers", {"id": "rw-0", "name": "R", "skills": ["mri"],
                                         "tier": 1, "capacity": 100, "availability": 1.0})
        load.start()
        time.sleep(4)
        load.stop()
        assert load.failures == [], load.failures[:3]
        assert len(checked) >= 3 and load.stale == 0, (len(checked), load.stale)
        registered = [e for e in load.engineers if e.startswith("load-")]
        assert registered, "no engineer registered under load"
    finally:
        cluster.stop()
