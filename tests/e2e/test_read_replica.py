"""Queries from a real PostgreSQL streaming replica (``LEDGER_READ_DATABASE_URL``):
`make test` starts one beside its throwaway primary (scripts/pg-throwaway.sh).

- GET requests are served by the replica. Proof: with the replica's replay
  paused, a ticket closed on the primary still reads as open on a plain read.
- Read-your-writes through ``min_position``: with replay paused, a read that
  names the close's position sees it closed (from the primary, after the bound);
  so does the ticket's own 404 check (a lagging replica never denies a ticket).
- Replay resumed: the replica serves again (it has the close, and counts it).
- The replica stopped: reads keep answering from the primary, never a 5xx;
  started again, it serves again.

The scenarios pause and stop the one replica of the test server, so they run in
one xdist group, one after the other.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from conftest import running_client

pytestmark = [pytest.mark.postgres, pytest.mark.xdist_group("read-replica")]

REPLICA_ENV = "LEDGER_TEST_POSTGRES_REPLICA_URL"
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "pg-throwaway.sh"
BOUND = 0.3


def _required(message: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message} (required with CI=true; run `make test`)", pytrace=False)
    pytest.skip(message)


@pytest.fixture
def replica_pair(postgres_url_factory: Callable[[], str]) -> Iterator[tuple[str, str]]:
    """(primary URL, replica URL) of a fresh database, once the replica has it."""
    replica_server = os.environ.get(REPLICA_ENV, "")
    if not replica_server:
        _required(f"no streaming replica: {REPLICA_ENV} is not set")
    primary = postgres_url_factory()
    replica = urlunsplit(urlsplit(replica_server)._replace(path=urlsplit(primary).path))
    deadline = time.monotonic() + 20
    while True:
        try:
            psycopg.connect(replica, connect_timeout=2).close()
            break
        except psycopg.Error:
            assert time.monotonic() < deadline, "the replica never got the test database"
            time.sleep(0.1)
    yield primary, replica


def on_replica(replica_url: str, statement: str) -> None:
    with psycopg.connect(replica_url, autocommit=True) as conn:
        conn.execute(statement)


@pytest.fixture
def paused(replica_pair: tuple[str, str]) -> Iterator[Callable[[bool], None]]:
    """pause(True|False): pauses or resumes the replica's replay; resumed at the end."""
    replica = replica_pair[1]

    def pause(on: bool) -> None:
        on_replica(replica, f"SELECT pg_wal_replay_{'pause' if on else 'resume'}()")

    yield pause
    pause(False)


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, (response.status_code, response.text)
    return response


def until(predicate: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


@contextmanager
def replica_client(pair: tuple[str, str]) -> Iterator[Any]:
    """The app on the primary, reading from the replica (min_position bound BOUND)."""
    with running_client(pair[0], read_database_url=pair[1], read_replica_wait=BOUND) as client:
        yield client


def served_by_replica(client: Any, path: str, params: dict[str, Any]) -> None:
    """Reads ``path`` until the replica answers it (its pool opens on first use:
    meanwhile a read with min_position goes to the primary after the bound)."""
    replica_reads = client.app.state.services.replica

    def served() -> bool:
        before = replica_reads.served
        ok(client.get(path, params=params))
        return replica_reads.served > before

    until(served, 10, f"the replica never answered {path}")


def test_reads_from_the_replica_and_read_your_writes_past_a_paused_replay(
    replica_pair: tuple[str, str], paused: Callable[[bool], None]
) -> None:
    with replica_client(replica_pair) as client:
        replica_reads = client.app.state.services.replica
        first = ok(client.post("/tickets", json={"title": "before the pause"}), 201)
        served_by_replica(client, f"/tickets/{first.json()['id']}",
                          {"min_position": first.headers["X-Ledger-Position"]})
        served = replica_reads.served

        paused(True)
        ticket_id = first.json()["id"]
        closed = ok(client.post(f"/tickets/{ticket_id}/close", json={"reason": "done"}))
        # The command's own answer is read on the primary ...
        assert closed.json()["status"] == "closed"
        # ... a plain read, served by the replica, still sees it open.
        assert ok(client.get(f"/tickets/{ticket_id}")).json()["status"] == "open"
        assert replica_reads.served > served
        # Read-your-writes: naming the position, the read is answered from the
        # primary once the replica has not reached it within the bound.
        at = {"min_position": closed.headers["X-Ledger-Position"]}
        started = time.monotonic()
        answer = ok(client.get(f"/tickets/{ticket_id}", params=at))
        assert answer.json()["status"] == "closed"
        assert "X-Ledger-Consistency" not in answer.headers
        assert time.monotonic() - started >= BOUND
        listed = ok(client.get("/tickets", params={**at, "status": "closed", "limit": 10}))
        assert ticket_id in {t["id"] for t in listed.json()["items"]}
        # A ticket the replica does not have yet is found all the same.
        second = ok(client.post("/tickets", json={"title": "while replay is paused"}), 201)
        assert ok(client.get(f"/tickets/{second.json()['id']}")).json()["title"] == \
            "while replay is paused"

        paused(False)
        until(lambda: client.get(f"/tickets/{ticket_id}").json()["status"] == "closed", 10,
              "the replica did not catch up after replay resumed")
        served = replica_reads.served
        ok(client.get(f"/tickets/{ticket_id}"))
        assert replica_reads.served == served + 1
        fast = time.monotonic()
        ok(client.get(f"/tickets/{ticket_id}", params=at))
        assert time.monotonic() - fast < BOUND, "the caught-up replica should answer at once"
        assert replica_reads.served == served + 2


def replica_ctl(action: str) -> None:
    server = os.environ.get("PG_THROWAWAY_ID", "")
    if not server:
        _required("the replica is not make test's throwaway (PG_THROWAWAY_ID is not set)")
    subprocess.run([str(SCRIPT), f"replica-{action}", server], check=True, timeout=90,
                   capture_output=True)


def test_replica_down_reads_from_the_primary_and_back_when_it_returns(
    replica_pair: tuple[str, str],
) -> None:
    with replica_client(replica_pair) as client:
        replica_reads = client.app.state.services.replica
        ticket = ok(client.post("/tickets", json={"title": "seen from both"}), 201)
        ticket_id = ticket.json()["id"]
        served_by_replica(client, f"/tickets/{ticket_id}",
                          {"min_position": ticket.headers["X-Ledger-Position"]})

        replica_ctl("stop")
        try:
            for n in range(5):
                made = ok(client.post("/tickets", json={"title": f"replica down {n}"}), 201)
                for params in ({}, {"min_position": made.headers["X-Ledger-Position"]}):
                    started = time.monotonic()
                    answer = ok(client.get(f"/tickets/{made.json()['id']}", params=params))
                    assert answer.json()["title"] == f"replica down {n}"
                    assert time.monotonic() - started < 3
                ok(client.get("/tickets", params={"limit": 5}))
                ok(client.get(f"/tickets/{ticket_id}/assignments"))
            assert replica_reads.fell_back >= 1
        finally:
            replica_ctl("start")

        served_by_replica(client, f"/tickets/{ticket_id}", {})
