"""Versions and positions: ETag and X-Ledger-Position on every command, If-Match,
and read-your-writes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


# Each builder prepares a ticket and returns (ticket id, method, path, body) of a
# command that is valid on it right now.
Builder = Callable[[Any], tuple[str, str, str, Any]]


def _assign(api):
    eng = api.engineer()["id"]
    ticket_id = api.ticket()["id"]
    return ticket_id, "POST", "/assignments", {"ticket_id": ticket_id, "engineer_id": eng,
                                                "tier": 1}


def _escalate(api):
    ticket_id, _eng, _a = api.assigned()
    nxt = api.engineer()["id"]
    return ticket_id, "POST", "/assignments/escalate", {
        "ticket_id": ticket_id, "next_engineer_id": nxt, "reason": "r"}


def _on(state: str, method: str, command: str, body: Any = None) -> Builder:
    def build(api):
        ticket_id, aid = api.assignment_in(state)
        path = f"/assignments/{aid}" + (f"/{command}" if command else "")
        return ticket_id, method, path, body
    return build


def _reassign(api):
    ticket_id, aid = api.assignment_in("accepted")
    other = api.engineer()["id"]
    return ticket_id, "PUT", f"/assignments/{aid}/reassign", {"new_engineer_id": other}


def _close(api):
    ticket_id = api.ticket()["id"]
    return ticket_id, "POST", f"/tickets/{ticket_id}/close", {"reason": "done"}


def _reopen(api):
    ticket_id = api.ticket()["id"]
    api.close(ticket_id)
    return ticket_id, "POST", f"/tickets/{ticket_id}/reopen", {"reason": "back"}


TICKET_COMMANDS: dict[str, Builder] = {
    "assign": _assign,
    "escalate": _escalate,
    "accept": _on("assigned", "POST", "accept"),
    "reject": _on("assigned", "POST", "reject", {"reason": "no"}),
    "start": _on("accepted", "POST", "start"),
    "complete": _on("in_progress", "POST", "complete",
                    {"completion_status": "success", "time_spent_hours": 1}),
    "reassign": _reassign,
    "remove": _on("assigned", "DELETE", ""),
    "remove-with-body": _on("accepted", "DELETE", "", {"reason": "gone"}),
    "close": _close,
    "reopen": _reopen,
}


def test_every_ticket_command_carries_etag_and_position(api):
    for name, build in TICKET_COMMANDS.items():
        ticket_id, method, path, body = build(api)
        version = api.ticket_row(ticket_id)["version"]
        response = api.client.request(method, path, json=body)
        assert response.status_code in (200, 201), (name, response.text)
        etag = api.etag(response)
        assert etag == version + 1, name
        assert etag == api.ticket_row(ticket_id)["version"], name
        assert api.position(response) == api.head(), name
        # The ticket's newest event is at that position.
        assert api.ok(api.get(f"/tickets/{ticket_id}"))["version"] == etag


def test_if_match_stale_is_412_and_records_nothing_current_succeeds(api):
    for name, build in TICKET_COMMANDS.items():
        ticket_id, method, path, body = build(api)
        before = api.ticket_row(ticket_id)
        version = before["version"]
        for stale in (f'"{version - 1}"', f'"{version + 1}"', f'W/"{version - 1}"'):
            with api.records_nothing():
                response = api.client.request(method, path, json=body,
                                              headers={"If-Match": stale})
                problem = api.problem(response, 412)
            assert problem["type"].endswith("/stale-version"), name
            assert str(version) in problem["detail"], name
            assert api.etag(response) == version, f"{name}: a 412 tells the current version"
        assert api.ticket_row(ticket_id) == before, name
        response = api.client.request(method, path, json=body,
                                      headers={"If-Match": f'"{version}"'})
        assert response.status_code in (200, 201), (name, response.text)
        assert api.etag(response) == version + 1, name
        assert api.ticket_row(ticket_id)["version"] == version + 1, name


def test_if_match_star_and_bare_number(api):
    ticket_id = api.ticket()["id"]
    response = api.post(f"/tickets/{ticket_id}/close", headers={"If-Match": "*"})
    assert response.status_code == 200 and api.etag(response) == 2
    response = api.post(f"/tickets/{ticket_id}/reopen", json={"reason": "x"},
                        headers={"If-Match": "2"})
    assert response.status_code == 200 and api.etag(response) == 3


def test_if_match_garbage_is_400_and_records_nothing(api):
    ticket_id = api.ticket()["id"]
    with api.records_nothing():
        body = api.problem(api.post(f"/tickets/{ticket_id}/close",
                                    headers={"If-Match": "banana"}), 400)
    assert "If-Match" in body["detail"]


def test_if_match_on_unknown_ticket_is_404(api):
    from uuid import uuid4

    with api.records_nothing():
        api.problem(api.post(f"/tickets/{uuid4()}/close", headers={"If-Match": '"1"'}), 404)


def test_engineer_commands_carry_etag_and_position(api):
    response = api.post("/engineers", json={"id": "etag-eng", "name": "E"})
    assert api.etag(response) == 1
    assert api.position(response) == api.head()
    response = api.client.patch("/engineers/etag-eng", json={"tier": 2})
    assert api.etag(response) == 2
    assert api.position(response) == api.head()


def test_noop_patch_still_carries_etag_and_position(api):
    api.post("/engineers", json={"id": "noop-eng", "name": "Same"})
    response = api.client.patch("/engineers/noop-eng", json={"name": "Same"})
    assert response.status_code == 200
    assert api.etag(response) == 1
    assert api.position(response) == 1


def test_read_your_writes_after_every_command(api):
    """Right after each command, without min_position, every read table already
    includes the command's position."""
    e1, e2, e3 = api.engineers(3)

    def check(response) -> None:
        assert response.status_code in (200, 201), response.text
        position = api.position(response)
        assert api.readyz()["position"] >= position
        for row in api.ok(api.get("/projections")):
            assert row["position"] >= position, row

    response = api.post("/tickets", json={"title": "ryw"})
    check(response)
    ticket_id = response.json()["id"]
    assert api.ticket_row(ticket_id)["status"] == "open"

    response = api.post("/assignments", json={"ticket_id": ticket_id, "engineer_id": e1,
                                              "tier": 1})
    check(response)
    a1 = response.json()["id"]
    assert api.ok(api.get(f"/tickets/{ticket_id}/current-assignment"))["engineer_id"] == e1
    assert api.engineer_row(e1)["open_assignments"] == 1
    assert [h["action"] for h in api.ok(api.get(f"/tickets/{ticket_id}/history"))] == [
        "created"]

    response = api.post(f"/assignments/{a1}/accept")
    check(response)
    assert api.ok(api.get("/assignments", params={"status": "accepted"}))["items"][0]["id"] == a1

    response = api.post("/assignments/escalate", json={
        "ticket_id": ticket_id, "next_engineer_id": e2, "reason": "r"})
    check(response)
    a2 = response.json()["id"]
    assert api.assignment_row(a1)["status"] == "escalated"
    assert api.ok(api.get("/tickets", params={"engineer_id": e2}))["items"][0]["id"] == ticket_id
    assert (api.engineer_row(e1)["open_assignments"],
            api.engineer_row(e2)["open_assignments"]) == (0, 1)

    response = api.client.put(f"/assignments/{a2}/reassign", json={"new_engineer_id": e3})
    check(response)
    a3 = response.json()["id"]
    assert api.ok(api.get(f"/tickets/{ticket_id}/current-assignment"))["engineer_id"] == e3

    response = api.post(f"/assignments/{a3}/accept")
    check(response)
    response = api.post(f"/assignments/{a3}/start")
    check(response)
    assert api.ticket_row(ticket_id)["status"] == "in_progress"

    response = api.post(f"/assignments/{a3}/complete",
                        json={"completion_status": "success", "time_spent_hours": 1})
    check(response)
    assert api.ticket_row(ticket_id)["status"] == "resolved"
    assert api.get(f"/tickets/{ticket_id}/current-assignment").status_code == 404

    response = api.post(f"/tickets/{ticket_id}/reopen", json={"reason": "r"})
    check(response)
    assert api.ok(api.get("/tickets", params={"status": "open"}))["items"][0]["id"] == ticket_id

    response = api.post(f"/tickets/{ticket_id}/close")
    check(response)
    assert api.ticket_row(ticket_id)["status"] == "closed"

    response = api.client.patch(f"/engineers/{e1}", json={"active": False})
    check(response)
    assert api.ok(api.get("/engineers", params={"active": "false"}))["items"][0]["id"] == e1


def test_min_position_on_queries(api):
    response = api.post("/tickets", json={"title": "mp"})
    position = api.position(response)
    ticket_id = response.json()["id"]
    for path in ("/tickets", f"/tickets/{ticket_id}", "/assignments", "/engineers",
                 f"/tickets/{ticket_id}/assignments", f"/tickets/{ticket_id}/history"):
        reached = api.get(path, params={"min_position": position})
        assert reached.status_code == 200, path
        assert "x-ledger-consistency" not in reached.headers
    api.problem(api.get("/tickets", params={"min_position": -1}), 422)
