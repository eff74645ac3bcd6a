"""Assignment commands on assignments another process committed: the assignment's
row is looked up on the lookup thread (``projections.lookup``), batched with the
other requests', before the command runs."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import uuid4

import httpx

from conftest import Api


def _staged(open_client: Any, count: int) -> tuple[list[str], list[str], str]:
    """``count`` tickets assigned to one engineer, by one app (closed again):
    (ticket ids, assignment ids, engineer id)."""
    with open_client() as first:
        api = Api(first)
        eng = api.engineer(capacity=count + 1)["id"]
        tickets = [api.ticket()["id"] for _ in range(count)]
        assignments = [api.assign(t, eng)["id"] for t in tickets]
    return tickets, assignments, eng


def test_commands_on_assignments_committed_elsewhere(open_client):
    tickets, (aid,), eng = _staged(open_client, 1)
    with open_client() as client:
        api = Api(client)
        services = client.app.state.services
        before = services.assignments.keys
        accepted = api.accept(aid)
        assert (accepted["id"], accepted["status"]) == (aid, "accepted")
        assert accepted["ticket_id"] == tickets[0] and accepted["engineer_id"] == eng
        # Looked up by the lookup thread, not found among this process's commits.
        assert services.assignments.keys == before + 1
        metrics = api.get("/metrics").text
        assert f"\nledger_assignment_lookups_total {before + 1}.0\n" in metrics
        assert api.start(aid)["status"] == "in_progress"
        assert api.complete(aid)["status"] == "completed"
        assert api.ticket_row(tickets[0])["status"] == "resolved"
        # An unknown assignment: looked up, not found, 404 (and nothing recorded).
        with api.records_nothing():
            problem = api.problem(api.post(f"/assignments/{uuid4()}/accept"), 404)
        assert "does not exist" in problem["detail"]


def test_concurrent_lookups_each_get_their_own_assignment(open_client):
    tickets, assignments, _ = _staged(open_client, 12)
    with open_client() as client:
        services = client.app.state.services
        before = (services.assignments.queries, services.assignments.keys)

        async def accept_all() -> list[httpx.Response]:
            transport = httpx.ASGITransport(app=client.app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://test", headers=client.headers
            ) as c:
                return await asyncio.gather(
                    *(c.post(f"/assignments/{aid}/accept") for aid in assignments))

        responses = asyncio.run(accept_all())
        assert [r.status_code for r in responses] == [200] * len(assignments)
        assert [(r.json()["id"], r.json()["ticket_id"]) for r in responses] == list(
            zip(assignments, tickets, strict=True))
        queries = services.assignments.queries - before[0]
        assert services.assignments.keys - before[1] == len(assignments)
        assert 1 <= queries <= len(assignments)
        api = Api(client)
        assert {api.assignment_row(a)["status"] for a in assignments} == {"accepted"}
