"""The reads' own handler (``api.read_route``) answers every request as FastAPI's
own handler does: the same status, headers and body for refused and invalid
requests and for answered ones; and, unlike FastAPI's, it keeps the headers the
``min_position`` wait sets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
from fastapi.routing import APIRoute

from test_command_route import answer, standard_handlers

Api = Any

#: The routes served by the read handler: the hottest reads.
READS = {
    ("GET", "/tickets/{ticket_id}"),
    ("GET", "/tickets/{ticket_id}/current-assignment"),
    ("GET", "/tickets/{ticket_id}/assignments"),
    ("GET", "/assignments"),
    ("GET", "/events"),
}


def test_the_hottest_reads_and_only_those_have_the_read_handler(api: Api) -> None:
    routes = [r for r in api.client.app.router.routes if isinstance(r, APIRoute)]
    served = {(m, r.path) for r in routes if getattr(r, "reads", False) for m in r.methods}
    assert served == READS


def requests(api: Api) -> list[tuple[str, dict[str, Any]]]:
    """(path, httpx arguments) of reads, answered or refused."""
    ticket_id, engineer_id, _assignment = api.assigned()
    opened = api.ticket()["id"]
    unknown = str(uuid4())
    t = f"/tickets/{ticket_id}"
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    stranger = {"Authorization": "Bearer nope"}
    return [
        (t, {}),
        (t, {"params": {"min_position": 0}}),
        (t, {"params": {"version": 1}}),
        (t, {"params": {"as_of": later}}),
        (t, {"params": {"as_of": "2020-01-01T00:00:00Z"}}),
        (t, {"params": {"as_of": "2020-01-01T00:00:00"}}),
        (t, {"params": {"version": 0}}),
        (t, {"params": {"version": "two"}}),
        (t, {"params": {"version": ""}}),
        (t, {"params": [("version", "1"), ("version", "x")]}),
        (t, {"params": {"min_position": -1}}),
        (t, {"params": {"min_position": "soon", "version": 0}}),
        (t, {"headers": stranger}),
        ("/tickets/not-a-uuid", {"params": {"min_position": -1}}),
        (f"/tickets/{unknown}", {}),
        (f"{t}/current-assignment", {}),
        (f"/tickets/{opened}/current-assignment", {}),
        (f"/tickets/{unknown}/current-assignment", {}),
        ("/tickets/not-a-uuid/current-assignment", {}),
        (f"{t}/assignments", {}),
        (f"/tickets/{opened}/assignments", {}),
        (f"/tickets/{unknown}/assignments", {}),
        ("/assignments", {"params": {"engineer_id": engineer_id, "status": "active"}}),
        ("/assignments", {"params": {"engineer_id": engineer_id, "limit": 1}}),
        ("/assignments", {"params": {"status": "everything"}}),
        ("/assignments", {"params": {"engineer_id": "x" * 65, "tier": 0, "limit": 0}}),
        ("/assignments", {"params": {"since": later, "until": "2020-01-01"}}),
        ("/assignments", {"params": {"cursor": "not-a-cursor"}}),
        ("/events", {"params": {"ticket_id": ticket_id}}),
        ("/events", {"params": {"ticket_id": ticket_id, "limit": 1}}),
        ("/events", {"params": [("type", "Ticket.Opened"), ("type", "Assigned"),
                                ("ticket_id", ticket_id)]}),
        ("/events", {"params": {"type": "Nothing.Happened"}}),
        ("/events", {"params": [("type", "Opened")] * 21}),
        ("/events", {"params": {"ticket_id": "nope", "since": "2020-01-01T00:00:00",
                                "after": -1}}),
        ("/events", {"params": {"cursor": "not-a-cursor"}}),
        ("/events", {"headers": stranger}),
    ]


def test_reads_are_answered_as_fastapi_answers_them(api: Api) -> None:
    asked = requests(api)
    statuses = set()
    with api.records_nothing():
        for path, kwargs in asked:
            lean = answer(api.client.get(path, **kwargs))
            with standard_handlers(api):
                standard = answer(api.client.get(path, **kwargs))
            assert lean == standard, (path, kwargs)
            statuses.add(lean[0])
    assert statuses >= {200, 400, 401, 404, 422}


def test_a_read_whose_wait_times_out_is_marked_stale(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    ticket_id = api.ticket()["id"]
    services = api.client.app.state.services
    monkeypatch.setattr(services.settings, "min_position_timeout", 0.05)
    ahead = services.ledger.head() + 1000
    response = api.client.get(f"/tickets/{ticket_id}", params={"min_position": ahead})
    assert api.ok(response)["id"] == ticket_id
    assert response.headers["X-Ledger-Consistency"] == "stale"
    assert response.headers["ETag"] == '"1"'
    caught_up = api.client.get(f"/tickets/{ticket_id}", params={"min_position": 0})
    assert "X-Ledger-Consistency" not in caught_up.headers
