"""Handovers between teams (docs/field-service.md): the allowed moves, the
snapshot frozen in the event and its hash, recomputed as an auditor would from
``GET /tickets/{id}/handovers`` alone (docs/handover_verify.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from conftest import Api

from api.routers import handovers as handovers_route
from ledger.keys import AUDITOR, DISPATCHER, ENGINEER

SCRIPT = Path(__file__).resolve().parents[2] / "docs" / "handover_verify.py"


def hand_over(api: Api, ticket_id: str, to_team: str, headers: dict[str, str] | None = None,
              **kw: Any) -> Any:
    return api.post(f"/tickets/{ticket_id}/handover", json={"to_team": to_team, **kw},
                    headers=headers)


def handovers(api: Api, ticket_id: str) -> list[dict[str, Any]]:
    return api.ok(api.get(f"/tickets/{ticket_id}/handovers"))


def moved(api: Api, ticket_id: str, *teams: str) -> None:
    for team in teams:
        api.ok(hand_over(api, ticket_id, team), 201)


def _verify(tmp_path: Path, body: Any) -> subprocess.CompletedProcess[str]:
    path = tmp_path / f"handovers-{uuid4().hex[:6]}.json"
    path.write_text(json.dumps(body), encoding="utf-8")
    return subprocess.run([sys.executable, str(SCRIPT), str(path)], capture_output=True,
                          text=True, timeout=60, check=False)


def test_build_qa_back_to_build_then_maintenance(api: Api, tmp_path: Path) -> None:
    ticket_id, engineer_id, assignment = api.assigned()
    api.accept(assignment["id"])
    api.complete(assignment["id"], "success", time_spent_hours=2.0,
                 parts_used=[{"part_number": "SPL-1", "part_name": "Splitter 1:8",
                              "quantity": 1, "cost": 12.5}])
    assert api.ticket_row(ticket_id)["owner_team"] is None

    response = hand_over(api, ticket_id, "build", notes="Duct clear, fibre blown – ready")
    first = api.ok(response, 201)
    assert api.etag(response) == api.ticket_row(ticket_id)["version"]
    assert first["from_team"] is None and first["to_team"] == "build"
    assert first["handed_over_by"] == "e2e-tester"
    assert first["notes"] == "Duct clear, fibre blown – ready"
    assert api.ticket_row(ticket_id)["owner_team"] == "build"
    # The snapshot is the ticket and its assignments as they stood just before.
    snapshot = first["snapshot"]
    assert set(snapshot) == {"ticket", "assignments"}
    assert snapshot["ticket"]["id"] == ticket_id
    assert snapshot["ticket"]["version"] == first["ticket_version"] - 1
    assert snapshot["ticket"]["status"] == "resolved"
    assert snapshot["ticket"]["owner_team"] is None
    assert [a["id"] for a in snapshot["assignments"]] == [assignment["id"]]
    held = snapshot["assignments"][0]
    assert held["engineer_id"] == engineer_id and held["status"] == "completed"
    assert held["parts_used"][0]["cost"] == 12.5
    assert held == api.assignment_row(assignment["id"])

    moved(api, ticket_id, "qa", "build", "qa", "maintenance")
    rows = handovers(api, ticket_id)
    assert [(h["from_team"], h["to_team"]) for h in rows] == [
        (None, "build"), ("build", "qa"), ("qa", "build"), ("build", "qa"), ("qa", "maintenance")]
    assert rows[0] == first
    versions = [h["ticket_version"] for h in rows]
    assert versions == sorted(versions)
    assert all(h["snapshot"]["ticket"]["owner_team"] == h["from_team"] for h in rows)
    assert api.ticket_row(ticket_id)["owner_team"] == "maintenance"
    other = api.ticket()["id"]
    moved(api, other, "build", "qa")
    for team, expected in (("maintenance", ticket_id), ("qa", other)):
        listed = api.ok(api.get("/tickets", params={"owner_team": team}))["items"]
        assert [t["id"] for t in listed] == [expected]
    api.problem(api.get("/tickets", params={"owner_team": "sales"}), 422)
    # The events carry snapshot and hash, so the hash chain covers them.
    events = api.ok(api.get(f"/tickets/{ticket_id}/events"))
    recorded = [e["data"] for e in events if e["type"] == "Ticket.HandedOver"]
    assert [(d["snapshot"], d["snapshot_hash"]) for d in recorded] == [
        (h["snapshot"], h["snapshot_hash"]) for h in rows]
    assert api.ok(api.get("/audit/verify"))["ok"] is True

    # The auditor's recipe (docs/field-service.md) on the real response.
    intact = _verify(tmp_path, rows)
    assert intact.returncode == 0, intact.stdout + intact.stderr
    assert intact.stdout.count(": OK") == 5
    rows[2]["snapshot"]["assignments"][0]["time_spent_hours"] = 1.0
    tampered = _verify(tmp_path, rows)
    assert tampered.returncode == 1
    assert f"{rows[2]['id']} qa -> build: MISMATCH" in tampered.stdout


@pytest.mark.parametrize(("path", "refused"), [
    ((), "qa"), ((), "maintenance"), (("build",), "build"), (("build",), "maintenance"),
    (("build", "qa"), "qa"), (("build", "qa", "maintenance"), "build"),
    (("build", "qa", "maintenance"), "qa"),
])
def test_moves_out_of_order_are_409_and_record_nothing(
    api: Api, path: tuple[str, ...], refused: str
) -> None:
    ticket_id = api.ticket()["id"]
    moved(api, ticket_id, *path)
    with api.records_nothing():
        body = api.problem(hand_over(api, ticket_id, refused), 409)
    assert body["type"].endswith("/handover-not-allowed")
    assert refused in body["detail"] and (path[-1] if path else "no team") in body["detail"]
    assert len(handovers(api, ticket_id)) == len(path)
    assert api.ticket_row(ticket_id)["owner_team"] == (path[-1] if path else None)


def test_bad_requests_record_nothing(api: Api) -> None:
    ticket_id = api.ticket()["id"]
    with api.records_nothing():
        api.problem(hand_over(api, ticket_id, "sales"), 422)
        api.problem(api.post(f"/tickets/{ticket_id}/handover", json={}), 422)
        api.problem(hand_over(api, ticket_id, "build", notes="x" * 4001), 422)
        api.problem(hand_over(api, ticket_id, "build", extra=1), 422)
        api.problem(hand_over(api, str(uuid4()), "build"), 404)
        api.problem(api.get(f"/tickets/{uuid4()}/handovers"), 404)
    assert handovers(api, ticket_id) == []


def test_if_match_and_a_closed_ticket(api: Api) -> None:
    ticket_id = api.ticket()["id"]
    with api.records_nothing():
        api.problem(api.post(f"/tickets/{ticket_id}/handover", json={"to_team": "build"},
                             headers={"If-Match": '"7"'}), 412)
    response = api.post(f"/tickets/{ticket_id}/handover", json={"to_team": "build"},
                        headers={"If-Match": '"1"'})
    assert api.ok(response, 201)["ticket_version"] == 2
    api.close(ticket_id)
    with api.records_nothing():
        body = api.problem(hand_over(api, ticket_id, "qa"), 409)
    assert "closed" in body["detail"]


def test_only_dispatchers_and_admins_hand_over(api: Api, client: Any) -> None:
    services = client.app.state.services
    tokens = {}
    for role in (DISPATCHER, ENGINEER, AUDITOR):
        result, token = services.ledger.create_api_key(
            name=f"{role}-{uuid4().hex[:6]}", role=role, actor="test").result()
        services.read_side.wait_for(result.position, 5)
        tokens[role] = {"Authorization": f"Bearer {token}"}
    ticket_id = api.ticket()["id"]
    for role in (ENGINEER, AUDITOR):
        with api.records_nothing():
            api.problem(hand_over(api, ticket_id, "build", headers=tokens[role]), 403)
        assert api.ok(api.get(f"/tickets/{ticket_id}/handovers", headers=tokens[role])) == []
    done = api.ok(hand_over(api, ticket_id, "build", headers=tokens[DISPATCHER]), 201)
    assert done["handed_over_by"].startswith(DISPATCHER)


def test_a_snapshot_outdated_by_a_concurrent_command_is_taken_again(
    api: Api, client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ticket changes between the snapshot and the command: the route takes
    the snapshot again, so the recorded one is of the version the handover follows."""
    ticket_id, _engineer, assignment = api.assigned()
    taken = []
    original = handovers_route._snapshot

    def racing(services: Any, tid: Any) -> Any:
        version, snapshot = original(services, tid)
        taken.append(version)
        if len(taken) == 1:  # another dispatcher acts right after this snapshot
            client.app.state.services.ledger.accept(
                tid, UUID(assignment["id"]), actor="other-dispatcher").result()
        return version, snapshot

    monkeypatch.setattr(handovers_route, "_snapshot", racing)
    done = api.ok(hand_over(api, ticket_id, "build"), 201)
    assert taken == [2, 3]
    assert done["snapshot"]["ticket"]["version"] == 3 == done["ticket_version"] - 1
    assert done["snapshot"]["assignments"][0]["status"] == "accepted"


def test_a_snapshot_that_keeps_going_stale_is_409(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    ticket_id = api.ticket()["id"]
    original = handovers_route._snapshot
    monkeypatch.setattr(handovers_route, "_snapshot",
                        lambda s, t: (original(s, t)[0] - 1, original(s, t)[1]))
    with api.records_nothing():
        body = api.problem(hand_over(api, ticket_id, "build"), 409)
    assert body["type"].endswith("/concurrent-update")


def test_the_answer_comes_from_the_event_when_the_read_side_lags(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read side too far behind to have the row yet: the 201 is built from the
    recorded event, and is what the table then shows."""
    ticket_id = api.ticket()["id"]
    monkeypatch.setattr(handovers_route, "handover", lambda store, handover_id: None)
    answered = api.ok(hand_over(api, ticket_id, "build", notes="from the event"), 201)
    monkeypatch.undo()
    assert handovers(api, ticket_id) == [answered]
