"""Capacity is never exceeded, under concurrency too: 32 concurrent auto-assigns
and proposal approvals aimed at engineers whose free capacity is K in all ->
exactly K succeed, every other one is a 409 problem saying why, and no engineer
holds more open assignments than their capacity in the write model (the
tickets' streams and the engineers' workloads), nor in the read table.

In one process (32 threads over the app), on SQLite and PostgreSQL; and across
two server processes on one PostgreSQL, where only the event store's
optimistic concurrency can decide.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from conftest import PROBLEM_TYPE, Api, running_client
from ledger.application import Ledger
from ledger.workload import workload_id
from uvicorn_live import serving

CLIENTS = 32
#: Capacities of the four engineers; the last one holds one assignment made by
#: hand, which counts toward load: free capacity K = 1 + 2 + 3 + 1.
CAPACITIES = (1, 2, 3, 2)
K = 7


def race(send: Callable[[int], Any]) -> list[Any]:
    """``send(i)`` for i in 0..31 at once (released together by a barrier)."""
    barrier = threading.Barrier(CLIENTS)
    answers: list[Any] = [None] * CLIENTS

    def run(i: int) -> None:
        barrier.wait(timeout=60)
        try:
            answers[i] = send(i)
        except Exception as e:  # noqa: BLE001 - reported below
            answers[i] = e

    threads = [threading.Thread(target=run, args=(i,)) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=180)
    failed = [a for a in answers if isinstance(a, Exception) or a is None]
    assert not failed, failed[:3]
    return answers


def exactly_k_won(responses: list[Any]) -> list[Any]:
    """Exactly K answers 201; every other a 409 problem+json with its reason."""
    statuses = Counter(r.status_code for r in responses)
    assert statuses == Counter({201: K, 409: CLIENTS - K}), statuses
    for r in responses:
        if r.status_code == 409:
            assert r.headers["content-type"].startswith(PROBLEM_TYPE)
            body = r.json()
            assert body["type"].rsplit("/", 1)[1] in {
                "no-eligible-engineer", "capacity-reached"}, body
            assert "capacity" in body["detail"] or any(
                "at capacity" in " ".join(c["reasons"]) for c in body.get("candidates", [])
            ), body
    return [r.json() for r in responses if r.status_code == 201]


def roster(api: Api) -> tuple[list[str], str]:
    """The four engineers (the last holding a manual assignment) and that
    assignment's ticket."""
    engineers = [api.engineer(capacity=c)["id"] for c in CAPACITIES]
    manual = api.ticket()["id"]
    api.assign(manual, engineers[-1])
    return engineers, manual


def nobody_over_capacity(ledger: Ledger, engineers: list[str], tickets: list[str]) -> None:
    """From the write model: the tickets' streams (every open assignment, by
    engineer) and each engineer's workload (the slots reserved)."""
    from uuid import UUID

    open_by: Counter[str] = Counter()
    active: set[UUID] = set()
    for ticket_id in tickets:
        for a in ledger.get_ticket(UUID(ticket_id)).assignments.values():
            if a.is_active:
                open_by[a.engineer_id] += 1
                active.add(a.id)
    for engineer_id, capacity in zip(engineers, CAPACITIES, strict=True):
        assert open_by[engineer_id] == capacity, (engineer_id, open_by)
        assert ledger.get_engineer(engineer_id).capacity == capacity
        held = ledger.repository.get(workload_id(engineer_id)).held
        reserved = [a for a in held if a in active]
        manual = 1 if engineer_id == engineers[-1] else 0
        assert len(reserved) + manual == capacity, (engineer_id, held)


def test_32_concurrent_auto_assigns_take_exactly_the_free_capacity(api: Api) -> None:
    engineers, manual = roster(api)
    tickets = [api.ticket()["id"] for _ in range(CLIENTS)]

    won = exactly_k_won(race(lambda i: api.post(f"/tickets/{tickets[i]}/auto-assign")))

    assert Counter(a["engineer_id"] for a in won) == Counter(
        dict(zip(engineers, (1, 2, 3, 1), strict=True)))
    nobody_over_capacity(api.client.app.state.services.ledger, engineers, [*tickets, manual])
    for engineer_id, capacity in zip(engineers, CAPACITIES, strict=True):
        assert api.engineer_row(engineer_id)["open_assignments"] == capacity
    # An auditor sees each slot taken, beside the assignment it was taken for.
    reserved = api.events(type="Workload.Reserved")
    assert sorted(e["data"]["assignment_id"] for e in reserved) == sorted(a["id"] for a in won)
    # The workloads' streams are chained and verified like every other.
    verified = api.ok(api.get("/audit/verify"))
    assert verified["ok"] is True and verified["first_broken"] is None


def test_32_concurrent_approvals_and_auto_assigns_take_exactly_the_free_capacity(
    api: Api,
) -> None:
    engineers, manual = roster(api)
    tickets = [api.ticket()["id"] for _ in range(CLIENTS)]
    proposals: dict[str, str] = {}
    # Four batches of eight: each plans within capacity, together far beyond it.
    for start in range(0, CLIENTS, 8):
        made = api.ok(api.post("/proposals", json={"ticket_ids": tickets[start:start + 8]}), 201)
        proposals.update({p["ticket_id"]: p["id"] for p in made["items"]})
    assert len(proposals) == 4 * K

    def decide(i: int) -> Any:
        proposal = proposals.get(tickets[i])
        if proposal is None:
            return api.post(f"/tickets/{tickets[i]}/auto-assign")
        return api.post(f"/proposals/{proposal}/approve")

    won = exactly_k_won(race(decide))

    assert len(won) == K
    nobody_over_capacity(api.client.app.state.services.ledger, engineers, [*tickets, manual])
    refused = [p for p in api.ok(api.get("/proposals", params={"limit": 100}))["items"]
               if p["status"] == "pending"]
    approved = [p for p in api.ok(api.get("/proposals", params={"status": "approved"}))["items"]]
    assert len(refused) + len(approved) == 4 * K  # a refused approval leaves it pending


@pytest.mark.slow
@pytest.mark.postgres
def test_two_processes_never_exceed_capacity_together(
    database_url: str, backend: str, tmp_path: Any
) -> None:
    """This test's process serves half the requests (the app over TestClient),
    a uvicorn process the other half, on one PostgreSQL."""
    if backend != "postgres":
        pytest.skip("several processes share one store on PostgreSQL")
    with running_client(database_url) as here, serving(database_url, tmp_path) as (base, token):
        api = Api(here)
        engineers, manual = roster(api)
        tickets = [api.ticket()["id"] for _ in range(CLIENTS)]
        there = httpx.Client(base_url=base, timeout=120,
                             headers={"Authorization": f"Bearer {token}"})
        there.get("/healthz")

        def auto_assign(i: int) -> Any:
            client = here if i % 2 else there
            return client.post(f"/tickets/{tickets[i]}/auto-assign")

        won = exactly_k_won(race(auto_assign))

        assert len(won) == K
        assert {a["engineer_id"] for a in won} == set(engineers)
        there.close()
        nobody_over_capacity(here.app.state.services.ledger, engineers, [*tickets, manual])
