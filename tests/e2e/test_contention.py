"""32 concurrent clients race conflicting commands on ONE ticket, against a live
server (uvicorn, real sockets, the app's thread pool and connection pools):
exactly one of them wins each state change, every other gets 409 or 412
problem+json, the ticket's stream holds exactly the winning events with
contiguous versions, nothing else is recorded, and the read tables equal a
rebuild from the events. On SQLite and PostgreSQL (``database_url``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any
from uuid import uuid4

import httpx
import pytest

from ledger.application import Ledger
from projections.runner import ReadSide
from projections.backend import build_store
from projections.store import ReadStore
from uvicorn_live import serving

pytestmark = pytest.mark.slow

CLIENTS = 32
PROBLEM = "application/problem+json"
#: The public read tables and their keys (as tests/integration/projection_checks.py).
PUBLIC = {
    "tickets": "id",
    "engineer_assignments": "id",
    "current_ticket_assignments": "ticket_id",
    "assignment_history": "id",
    "engineers": "id",
}


def race(
    base: str, token: str, request: Callable[[httpx.Client, int], httpx.Response]
) -> list[httpx.Response]:
    """Runs ``request(client, i)`` for i in 0..31 at once, each on its own client
    (its own connection), released together by a barrier."""
    barrier = threading.Barrier(CLIENTS)
    responses: list[Any] = [None] * CLIENTS

    def run(i: int) -> None:
        with httpx.Client(base_url=base, timeout=60,
                          headers={"Authorization": f"Bearer {token}"}) as client:
            client.get("/healthz")  # connect before the barrier
            barrier.wait(timeout=60)
            try:
                responses[i] = request(client, i)
            except Exception as e:  # noqa: BLE001 - reported below
                responses[i] = e

    threads = [threading.Thread(target=run, args=(i,)) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    failed = [r for r in responses if not isinstance(r, httpx.Response)]
    assert not failed, failed[:3]
    return responses


def one_winner(
    responses: list[httpx.Response], success: int, losers: set[int]
) -> httpx.Response:
    """Exactly one ``success``; every other answer a problem+json in ``losers``."""
    statuses = sorted(r.status_code for r in responses)
    winners = [r for r in responses if r.status_code == success]
    assert len(winners) == 1, statuses
    for r in responses:
        if r is winners[0]:
            continue
        assert r.status_code in losers, (r.status_code, r.text)
        assert r.headers["content-type"].startswith(PROBLEM), r.headers
        body = r.json()
        assert body["status"] == r.status_code and body["type"] and body["detail"]
    return winners[0]


def snapshot(store: ReadStore) -> dict[str, list[Any]]:
    return {
        table: [tuple(sorted(row.items())) for row in
                store.select(f"SELECT * FROM {table} ORDER BY {key}")]
        for table, key in PUBLIC.items()
    }


def test_32_clients_race_conflicting_commands_on_one_ticket(database_url, tmp_path):
    with serving(database_url, tmp_path) as (base, token):
        http = httpx.Client(base_url=base, timeout=60,
                            headers={"Authorization": f"Bearer {token}"})
        engineers = []
        for i in range(CLIENTS):
            eid = f"race-{i}-{uuid4().hex[:8]}"
            created = http.post("/engineers", json={"id": eid, "name": f"E{i}", "tier": 1})
            assert created.status_code == 201, created.text
            engineers.append(eid)
        opened = http.post("/tickets", json={"title": "contended"})
        assert opened.status_code == 201, opened.text
        ticket_id = opened.json()["id"]
        head_before = http.get("/readyz").json()["head"]

        # Only one active assignment per ticket: 32 dispatchers assign at once.
        won = one_winner(race(base, token, lambda c, i: c.post(
            "/assignments", json={"ticket_id": ticket_id, "engineer_id": engineers[i],
                                  "tier": 1})), 201, {409})
        aid = won.json()["id"]

        # 32 accept the same assignment.
        one_winner(race(base, token, lambda c, i: c.post(f"/assignments/{aid}/accept")),
                   200, {409})

        # 32 start it, all conditional on the version they read: one wins, the rest
        # are stale.
        version = http.get(f"/tickets/{ticket_id}").json()["version"]
        one_winner(race(base, token, lambda c, i: c.post(
            f"/assignments/{aid}/start", headers={"If-Match": f'"{version}"'})), 200, {412})

        # 32 complete it, unconditionally.
        one_winner(race(base, token, lambda c, i: c.post(
            f"/assignments/{aid}/complete",
            json={"completion_status": "success", "time_spent_hours": i / 10})), 200, {409})

        # 32 close the ticket with the same If-Match: half conditionally, half not.
        version = http.get(f"/tickets/{ticket_id}").json()["version"]

        def close(c: httpx.Client, i: int) -> httpx.Response:
            headers = {"If-Match": f'"{version}"'} if i % 2 else {}
            return c.post(f"/tickets/{ticket_id}/close", json={"reason": f"client {i}"},
                          headers=headers)

        one_winner(race(base, token, close), 200, {409, 412})

        # The stream: exactly the winning events, versions contiguous.
        events = http.get(f"/tickets/{ticket_id}/events").json()
        assert [e["type"] for e in events] == [
            "Ticket.Opened", "Ticket.Assigned", "Ticket.Accepted", "Ticket.Started",
            "Ticket.Completed", "Ticket.Closed"]
        assert [e["version"] for e in events] == list(range(1, 7))
        positions = [e["position"] for e in events]
        assert positions == sorted(set(positions))
        # Nothing else was recorded anywhere (PostgreSQL positions may have gaps:
        # a refused insert still draws from the sequence).
        ready = http.get("/readyz").json()
        assert ready["head"] == positions[-1]
        assert ready["lag"] == 0
        feed = http.get("/events", params={"after": head_before, "limit": 100}).json()
        assert [e["ticket_id"] for e in feed["items"]] == [ticket_id] * 5
        ticket = http.get(f"/tickets/{ticket_id}").json()
        assert (ticket["status"], ticket["version"], ticket["assignment_count"]) == (
            "closed", 6, 1)
        history = http.get(f"/tickets/{ticket_id}/history").json()
        assert [h["action"] for h in history] == ["created", "accepted", "started",
                                                  "completed"]
        http.close()

    # The read tables the live runner built equal a rebuild from the events.
    ledger = Ledger(database_url)
    store = build_store(ledger.store, pool_size=2)
    try:
        live = snapshot(store)
        assert len(live["engineers"]) == CLIENTS
        read_side = ReadSide(ledger, store)
        read_side.setup()
        read_side.rebuild()
        assert snapshot(store) == live
    finally:
        store.close()
        ledger.close()
