"""Repeat faults over HTTP (contract: Field service, Repeat faults): raised by
the app's own background policy, listed, read, acknowledged and resolved."""

from __future__ import annotations

import time
from typing import Any
from uuid import UUID, uuid4

from conftest import E2E_ACTOR, Api


def open_at(api: Api, **location: str) -> str:
    """A ticket opened at ``location`` through the API."""
    return api.ticket(title="LOS", location=location)["id"]


def wait_for_faults(api: Api, count: int, **params: Any) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 10
    while True:
        items = api.ok(api.get("/repeat-faults", params=params))["items"]
        if len(items) >= count or time.monotonic() > deadline:
            return items
        time.sleep(0.05)


def notes_of(api: Api, ticket_id: str) -> list[dict[str, Any]]:
    """The ticket's notes once it has any (the policy notes after it raises)."""
    deadline = time.monotonic() + 10
    while True:
        notes = api.ok(api.get(f"/tickets/{ticket_id}/notes"))
        if notes or time.monotonic() > deadline:
            return notes
        time.sleep(0.05)


def key(api: Api, role: str) -> dict[str, str]:
    services = api.client.app.state.services
    result, token = services.ledger.create_api_key(
        name=f"{role}-{uuid4().hex[:6]}", role=role, actor="test").result()
    services.read_side.wait_for(result.position, 5)
    return {"Authorization": f"Bearer {token}"}


def test_the_policy_raises_a_fault_and_its_tickets_get_a_system_note(api: Api) -> None:
    pole = f"P-{uuid4().hex[:6]}"
    tickets = [open_at(api, pole=pole, zone="Z-1") for _ in range(3)]
    (fault,) = wait_for_faults(api, 1, scope="pole", value=pole)
    assert fault["ticket_ids"] == tickets and fault["count"] == 3
    assert (fault["status"], fault["acknowledged_by"], fault["resolution"]) == (
        "open", None, None)
    assert fault["first_opened_at"] <= fault["last_opened_at"] <= fault["raised_at"]
    assert api.ok(api.get(f"/repeat-faults/{fault['id']}")) == fault
    for ticket_id in tickets:
        notes = notes_of(api, ticket_id)
        assert [(n["kind"], n["author"]) for n in notes] == [("system", "system")]
        assert pole in notes[0]["text"]
    # A later ticket at the place joins it.
    later = open_at(api, pole=pole)
    deadline = time.monotonic() + 10
    while api.ok(api.get(f"/repeat-faults/{fault['id']}"))["count"] < 4:
        assert time.monotonic() < deadline, "the fourth ticket never joined"
        time.sleep(0.05)
    assert api.ok(api.get(f"/repeat-faults/{fault['id']}"))["ticket_ids"][-1] == later
    raised = [e for e in api.events(type="RepeatFault.Raised") if e["aggregate_id"] == fault["id"]]
    assert [e["actor"] for e in raised] == ["system"]


def test_acknowledge_then_resolve(api: Api) -> None:
    pole = f"P-{uuid4().hex[:6]}"
    tickets = [open_at(api, pole=pole) for _ in range(3)]
    (fault,) = wait_for_faults(api, 1, value=pole)
    fid = fault["id"]
    assert all(notes_of(api, t) for t in tickets)  # the policy is done
    engineer = key(api, "engineer")
    with api.records_nothing():
        api.problem(api.post(f"/repeat-faults/{fid}/resolve", json={}), 422)
        api.problem(api.post(f"/repeat-faults/{fid}/resolve", json={"resolution": ""}), 422)
        api.problem(api.post(f"/repeat-faults/{fid}/acknowledge", json={"note": "x"},
                             headers=engineer), 403)
        api.problem(api.post(f"/repeat-faults/{uuid4()}/acknowledge"), 404)
        api.problem(api.get(f"/repeat-faults/{uuid4()}"), 404)
    acked = api.post(f"/repeat-faults/{fid}/acknowledge", json={"note": "Crew booked"})
    body = api.ok(acked)
    assert (body["status"], body["acknowledged_by"]) == ("acknowledged", E2E_ACTOR)
    assert body["acknowledged_at"] is not None and api.etag(acked) == 2
    api.problem(api.post(f"/repeat-faults/{fid}/acknowledge"), 409)
    api.problem(api.post(f"/repeat-faults/{fid}/resolve", json={"resolution": "x"},
                         headers={"If-Match": '"1"'}), 412)
    done = api.ok(api.post(f"/repeat-faults/{fid}/resolve",
                           json={"resolution": "Pole replaced"}))
    assert (done["status"], done["resolution"], done["resolved_by"]) == (
        "resolved", "Pole replaced", E2E_ACTOR)
    api.problem(api.post(f"/repeat-faults/{fid}/resolve", json={"resolution": "again"}), 409)
    assert [f["id"] for f in api.ok(api.get("/repeat-faults", params={
        "status": "resolved", "value": pole}))["items"]] == [fid]
    assert api.ok(api.get("/repeat-faults", params={"status": "open", "value": pole}))[
        "items"] == []


def test_list_filters_page_and_refuses_bad_filters(api: Api) -> None:
    places = [f"P-{uuid4().hex[:6]}" for _ in range(3)]
    for pole in places:
        for _ in range(3):
            open_at(api, pole=pole)
    wait_for_faults(api, 3, scope="pole")
    pages = api.paged("/repeat-faults", 2, scope="pole")
    ids = [f["id"] for page in pages for f in page]
    assert len(ids) == len(set(ids)) == 3
    values = [f["value"] for page in pages for f in page]
    assert values == list(reversed(places))  # newest first
    auditor = key(api, "auditor")
    assert len(api.ok(api.get("/repeat-faults", headers=auditor))["items"]) == 3
    api.problem(api.get("/repeat-faults", params={"scope": "street"}), 422)
    api.problem(api.get("/repeat-faults", params={"status": "closed"}), 422)
    api.problem(api.get("/repeat-faults", params={"cursor": "nope"}), 400)
    assert UUID(ids[0])
