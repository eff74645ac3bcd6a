"""A rolling deploy that changes a projection's version, with real processes
under a steady load of commands (docs/deploy.md, "Rolling deploy"):

old code (``deploy_probe`` v1) runs a worker and an API-only process; a worker of
the new code (v2) starts beside them, builds v2 while v1 stays live and served,
switches, and maintains v2 at once; the old API process keeps answering its
commands at read-your-writes throughout, on v1 and then on v2, with no restart.

A sampler reads the live build every 50 ms: the table never lags the log by
more than LAG_BOUND, every row counts exactly the ticket's events up to its
last position (no event missed or folded twice, by either version), and the
version only ever goes from 1 to 2.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from deploy_probe import PLUGIN, VERSION_ENV, ticket_events
from ledger_processes import Cluster, Load

# Several processes each: one after the other, on one xdist worker.
pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.xdist_group("ledger-processes")]

#: The longest a read may find the live table behind the log (the usual lag of
#: a follower's look at the catalog is the poll interval, 1 s).
LAG_BOUND = 1.5
HERE = Path(__file__).resolve().parent


class Sampler:
    """Reads the live ``deploy_probe`` build in one snapshot every 50 ms."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.topics = [cls.TOPIC for cls in ticket_events()]
        self.samples: list[tuple[float, int, int, int]] = []  # (time, head, position, version)
        self.miscounted: list[Any] = []
        self.mixed: list[Any] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)

    def _sample(self, conn: psycopg.Connection[Any]) -> None:
        # The view's definition is looked up in the latest catalog, not the
        # snapshot: which version it shows is read from its rows (folded_by).
        with conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            shown = [v for (v,) in conn.execute(
                "SELECT DISTINCT folded_by FROM deploy_probe").fetchall()]
            if len(shown) != 1:
                self.mixed += [] if not shown else [shown]
                return
            version = shown[0]
            position = conn.execute(
                "SELECT t.notification_id FROM projections_tracking t "
                "JOIN ledger_projections c ON t.application_name = "
                "  'projection:deploy_probe:v' || c.version || ':g' || c.generation "
                "WHERE c.name = 'deploy_probe' AND c.version = %s "
                "ORDER BY c.generation DESC LIMIT 1", (version,)).fetchone()
            head = conn.execute("SELECT coalesce(max(notification_id), 0) "
                                "FROM ledger_events").fetchone()[0]
            self.miscounted += conn.execute(
                "SELECT p.ticket_id, p.events, p.folded_by FROM deploy_probe p "
                "WHERE p.events <> (SELECT count(*) FROM ledger_events e "
                "  WHERE e.originator_id = p.ticket_id AND e.topic = ANY(%s) "
                "  AND e.notification_id <= p.last_position)", (self.topics,)).fetchall()
        self.samples.append((time.monotonic(), head, position[0] if position else 0, version))

    def _run(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self._stop.wait(0.05):
                try:
                    self._sample(conn)
                except psycopg.Error as e:  # a table dropped under the snapshot
                    self.errors.append(f"{type(e).__name__}: {e}")

    def versions(self) -> list[int]:
        return [v for *_, v in self.samples]

    def worst_lag(self) -> float:
        """The longest time any sample's live position trailed a head seen earlier."""
        worst = 0.0
        for at, _head, position, _v in self.samples:
            behind = [t for t, head, *_ in self.samples if t <= at and head > position]
            if behind:
                worst = max(worst, at - min(behind))
        return worst

    def start(self) -> Sampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)


def test_new_workers_build_and_switch_while_old_processes_serve(
    postgres_url_factory: Any, tmp_path: Path
) -> None:
    url = postgres_url_factory()
    path = os.pathsep.join(p for p in (str(HERE), os.environ.get("PYTHONPATH", "")) if p)
    cluster = Cluster(url, tmp_path, LEDGER_PROJECTION_PLUGINS=PLUGIN, PYTHONPATH=path)
    sampler = Sampler(url)
    load = None
    unread: list[str] = []

    def reads_its_write(_client: httpx.Client, completed: dict[str, Any]) -> None:
        # The command's answer came after the read tables had it: the probe too,
        # whichever version is live.
        with psycopg.connect(url, autocommit=True) as conn:
            row = conn.execute("SELECT last_position FROM deploy_probe WHERE ticket_id = %s",
                               (completed["ticket_id"],)).fetchone()
        if row is None or row[0] < load.last_position:
            unread.append(f"{completed['ticket_id']}: {row} < {load.last_position}")

    try:
        old_worker = cluster.worker("worker-v1", **{VERSION_ENV: "1"})
        base = cluster.api("api-v1", **{VERSION_ENV: "1"})
        cluster.wait_for_leader("projection-runner", {old_worker.pid}, 90)
        auth = {"Authorization": f"Bearer {cluster.token}"}
        for n in range(2):
            assert httpx.post(f"{base}/engineers", headers=auth, timeout=30, json={
                "id": f"deploy-{n}", "name": "D", "skills": ["mri"], "tier": 1,
                "capacity": 100, "availability": 1.0}).status_code == 201
        sampler.start()
        load = Load(base, cluster.token, ["deploy-0", "deploy-1"],
                    check=reads_its_write).start()
        time.sleep(2)
        assert set(sampler.versions()) == {1}

        new_worker = cluster.worker("worker-v2", **{VERSION_ENV: "2"})
        deadline = time.monotonic() + 90
        while 2 not in sampler.versions():
            assert new_worker.poll() is None, cluster.log("worker-v2")
            assert time.monotonic() < deadline, f"v2 never went live:\n{cluster.log('worker-v2')}"
            time.sleep(0.1)
        # Both generations lead their own runner meanwhile.
        assert {old_worker.pid, new_worker.pid} <= cluster.leader_pids("projection-runner")
        time.sleep(2.5)
        load.stop()
        sampler.stop()
    finally:
        try:
            if load is not None:
                load.stop()
            sampler.stop()
        finally:
            cluster.stop()

    versions = sampler.versions()
    assert versions == sorted(versions) and versions[0] == 1 and versions[-1] == 2
    assert sum(1 for v in versions if v == 2) > 10, "too little served after the switch"
    assert load.failures == [], load.failures[:3]
    assert load.commands > 40 and load.stale == 0, (load.commands, load.stale)
    assert unread == [], unread[:3]
    assert sampler.mixed == [], sampler.mixed[:3]
    assert sampler.miscounted == [], sampler.miscounted[:3]
    assert sampler.worst_lag() <= LAG_BOUND, sampler.worst_lag()
