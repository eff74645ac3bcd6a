"""``ledger export service-tickets --follow`` with real processes: ``ledger serve``
takes commands over REST while the follower keeps the legacy ``service_tickets``
table current (a row changes within a second of the command); killed with SIGKILL
and restarted, it resumes from the position kept in the legacy database, and the
table then equals a one-shot export of the same ledger (nothing missed, nothing
doubled); SIGTERM stops it cleanly (exit 0, position kept). The ledger on SQLite
and on PostgreSQL; the legacy database on PostgreSQL."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest
from typer.testing import CliRunner

from api.cli import app as cli
from live_ledger import LEDGER, LiveLedger, serving_ledger

pytestmark = [pytest.mark.postgres, pytest.mark.slow]  # the legacy database is PostgreSQL

#: What the seed 001 transition asks: the old application sees a command within this.
WITHIN = 1.0


@contextmanager
def following(database_url: str, target: str, workdir: Path) -> Iterator[subprocess.Popen]:
    """The follower process; the test stops it (or it is killed on the way out)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    env.update({"PYTHONUNBUFFERED": "1", "COLUMNS": "200"})
    output = workdir / f"follow-{uuid4().hex[:8]}.log"
    with output.open("w") as sink:
        process = subprocess.Popen(
            [str(LEDGER), "export", "service-tickets", "--to", target, "--follow",
             "--database-url", database_url],
            cwd=workdir, env=env, stdout=sink, stderr=subprocess.STDOUT)
    process.output = output  # type: ignore[attr-defined]
    try:
        wait_until(lambda: "Following the ledger" in output.read_text(), 30,
                   lambda: output.read_text())
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def wait_until(condition: Callable[[], Any], seconds: float,
               explain: Callable[[], str] = lambda: "") -> float:
    """Seconds until ``condition()`` held; fails after ``seconds``."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > seconds:
            raise AssertionError(f"not within {seconds} s: {explain()}")
        time.sleep(0.01)
    return time.monotonic() - started


def legacy(url: str) -> dict[str, dict[str, Any]]:
    import psycopg
    from psycopg.rows import dict_row

    with psycopg.connect(url, row_factory=dict_row) as conn:
        return {r["id"]: r for r in conn.execute("SELECT * FROM service_tickets")}


def stored_position(url: str) -> int | None:
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT position FROM ledger_export_positions "
                           "WHERE legacy_table = 'service_tickets'").fetchone()
    return None if row is None else row[0]


class Rest:
    def __init__(self, live: LiveLedger) -> None:
        self.client = httpx.Client(base_url=live.base, timeout=10,
                                   headers={"Authorization": f"Bearer {live.token}"})

    def call(self, method: str, path: str, status: int = 200, **kw: Any) -> dict[str, Any]:
        response = self.client.request(method, path, **kw)
        assert response.status_code == status, response.text
        return response.json()

    def engineer(self, name: str) -> str:
        engineer_id = f"{name.lower()}-{uuid4().hex[:6]}"
        self.call("POST", "/engineers", 201, json={
            "id": engineer_id, "name": name, "skills": ["fibre"], "tier": 2, "capacity": 5,
            "availability": 1})
        return engineer_id

    def ticket(self, title: str) -> str:
        return self.call("POST", "/tickets", 201, json={"title": title})["id"]

    def assign(self, ticket_id: str, engineer_id: str) -> str:
        return self.call("POST", "/assignments", 201, json={
            "ticket_id": ticket_id, "engineer_id": engineer_id, "tier": 1,
            "tier_name": "L1 Field"})["id"]


def test_follow_keeps_the_legacy_table_current_and_resumes_after_a_kill(
    database_url: str, postgres_url_factory: Callable[[], str], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    target = postgres_url_factory()
    with serving_ledger(database_url, tmp_path) as live:
        rest = Rest(live)
        ada = rest.engineer("Ada")
        before = rest.ticket("Recorded before the follower started")
        with following(database_url, target, tmp_path) as follower:
            # The first step exports every ticket.
            wait_until(lambda: before in legacy(target), 10, lambda: str(legacy(target)))
            assert legacy(target)[before]["status"] == "open"

            fault = rest.ticket("Fibre cut at pole 17")
            took = [wait_until(lambda: fault in legacy(target), WITHIN,
                               lambda: str(legacy(target)))]
            assignment = rest.assign(fault, ada)
            took.append(wait_until(
                lambda: legacy(target)[fault]["assigned_engineer_id"] == ada, WITHIN))
            row = legacy(target)[fault]
            assert (row["status"], row["assigned_engineer_name"], row["assignment_tier"],
                    row["assignment_tier_name"]) == ("assigned", "Ada", 1, "L1 Field")
            rest.call("POST", f"/assignments/{assignment}/accept")
            rest.call("POST", f"/assignments/{assignment}/start")
            took.append(wait_until(
                lambda: legacy(target)[fault]["status"] == "in_progress", WITHIN))
            assert legacy(target)[fault]["started_at"] is not None

            follower.send_signal(signal.SIGKILL)
            follower.wait(10)
            killed_at = stored_position(target)
            assert killed_at is not None and killed_at <= live.head()

            # Commands while no follower runs: each must reach the table once restarted.
            rest.call("POST", f"/assignments/{assignment}/complete",
                      json={"completion_status": "success", "time_spent_hours": 1.5})
            second = rest.ticket("Drop cable down")
            bob = rest.engineer("Bob")
            rest.assign(second, bob)
            rest.call("PATCH", f"/engineers/{bob}", json={"name": "Robert"})
            third = rest.ticket("Closed without work")
            rest.call("POST", f"/tickets/{third}/close", json={"reason": "duplicate"})
            head = live.head()

        with following(database_url, target, tmp_path) as follower:
            assert f"from position {killed_at}" in follower.output.read_text()
            wait_until(lambda: stored_position(target) == head, 10)
            rows = legacy(target)
            assert rows[fault]["status"] == "resolved" and rows[fault]["resolved_at"]
            assert rows[second]["assigned_engineer_name"] == "Robert"  # the rename reached it
            assert rows[third]["status"] == "closed"
            follower.send_signal(signal.SIGTERM)
            assert follower.wait(10) == 0
            assert f"Stopped at position {head}" in follower.output.read_text()
        assert stored_position(target) == head

        # Nothing missed, nothing doubled: the table is a one-shot export of the ledger.
        oneshot = postgres_url_factory()
        monkeypatch.setenv("COLUMNS", "200")
        result = CliRunner().invoke(cli, ["export", "service-tickets", "--to", oneshot,
                                          "--database-url", database_url],
                                    catch_exceptions=False)
        assert result.exit_code == 0, result.output
        assert legacy(target) == legacy(oneshot)
        assert len(legacy(target)) == 4
    assert max(took) < WITHIN, took


def test_follow_refuses_a_legacy_table_without_an_id(
    database_url: str, postgres_url_factory: Callable[[], str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import psycopg

    target = postgres_url_factory()
    with psycopg.connect(target) as conn:
        conn.execute("CREATE TABLE service_tickets (code TEXT)")
    monkeypatch.setenv("COLUMNS", "200")
    result = CliRunner().invoke(cli, ["export", "service-tickets", "--to", target, "--follow",
                                      "--database-url", database_url], catch_exceptions=False)
    assert result.exit_code == 2, result.output
    assert re.search(r"has no id column", result.output), result.output
    unreachable = target.rsplit("/", 1)[0] + "/no_such_database_" + uuid4().hex[:8]
    result = CliRunner().invoke(cli, ["export", "service-tickets", "--to", unreachable,
                                      "--follow", "--database-url", database_url],
                                catch_exceptions=False)
    assert result.exit_code == 2 and "Cannot export to" in result.output, result.output
