"""Notes on tickets, and the notes of accept, start and complete (contract:
Field service, Notes)."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from conftest import E2E_ACTOR, Api


def key(api: Api, name: str, role: str) -> dict[str, str]:
    services = api.client.app.state.services
    result, token = services.ledger.create_api_key(name=name, role=role, actor="test").result()
    services.read_side.wait_for(result.position, 5)
    return {"Authorization": f"Bearer {token}"}


def post_note(api: Api, ticket_id: str, headers: dict[str, str] | None = None,
              **body: Any) -> Any:
    return api.post(f"/tickets/{ticket_id}/notes", json={"kind": "internal", "text": "x", **body},
                    headers=headers or {})


def test_notes_are_added_and_listed_oldest_first(api: Api) -> None:
    ticket_id = api.ticket()["id"]
    first = api.ok(post_note(api, ticket_id, kind="internal", text="Gate code 4711"), 201)
    second = api.ok(post_note(api, ticket_id, kind="client", text="On our way"), 201)
    assert first["kind"] == "internal" and first["text"] == "Gate code 4711"
    assert first["ticket_id"] == ticket_id and first["author"] == E2E_ACTOR
    assert first["created_at"].endswith("Z")
    listed = api.ok(api.get(f"/tickets/{ticket_id}/notes"))
    assert [n["id"] for n in listed] == [first["id"], second["id"]]
    assert [n["kind"] for n in listed] == ["internal", "client"]
    (event,) = [e for e in api.events(type="Ticket.NoteAdded") if e["ticket_id"] == ticket_id][:1]
    assert event["data"]["note_id"] == first["id"] and event["actor"] == E2E_ACTOR


def test_bad_notes_are_refused_and_record_nothing(api: Api) -> None:
    ticket_id = api.ticket()["id"]
    with api.records_nothing():
        for body in ({"kind": "system", "text": "forged"}, {"kind": "internal", "text": ""},
                     {"kind": "internal", "text": "x" * 4001}, {"kind": "memo", "text": "x"},
                     {"text": "no kind"}):
            api.problem(api.post(f"/tickets/{ticket_id}/notes", json=body), 422)
        api.problem(post_note(api, str(uuid4())), 404)
    assert api.ok(api.get(f"/tickets/{ticket_id}/notes")) == []
    api.problem(api.get(f"/tickets/{uuid4()}/notes"), 404)


def test_engineers_note_only_tickets_they_hold_or_held(api: Api) -> None:
    ticket_id, engineer_id, assignment = api.assigned()
    other_ticket = api.ticket()["id"]
    engineer = key(api, engineer_id, "engineer")
    stranger = key(api, f"eng-{uuid4().hex[:8]}", "engineer")
    assert api.ok(post_note(api, ticket_id, engineer, text="mine"), 201)["author"] == engineer_id
    with api.records_nothing():
        problem = api.problem(post_note(api, other_ticket, engineer), 403)
        assert "hold or held" in problem["detail"]
        api.problem(post_note(api, ticket_id, stranger), 403)
    # Held: the assignment ended (and the ticket closed) -- still theirs to note.
    api.remove(assignment["id"])
    api.close(ticket_id)
    assert api.ok(post_note(api, ticket_id, engineer, text="after"), 201)["text"] == "after"


def test_auditors_read_notes_but_do_not_write_them(api: Api) -> None:
    ticket_id = api.ticket()["id"]
    api.ok(post_note(api, ticket_id, text="seen"), 201)
    auditor = key(api, f"aud-{uuid4().hex[:8]}", "auditor")
    dispatcher = key(api, f"desk-{uuid4().hex[:8]}", "dispatcher")
    with api.records_nothing():
        api.problem(post_note(api, ticket_id, auditor), 403)
    assert [n["text"] for n in api.ok(api.get(f"/tickets/{ticket_id}/notes",
                                              headers=auditor))] == ["seen"]
    assert api.ok(post_note(api, ticket_id, dispatcher, text="desk"), 201)["author"].startswith(
        "desk-")


def test_accept_start_complete_notes_join_in_order(api: Api) -> None:
    _ticket, _engineer, assignment = api.assigned()
    aid = assignment["id"]
    assert assignment["notes"] is None
    accepted = api.ok(api.post(f"/assignments/{aid}/accept", json={"notes": "On my way"}))
    assert accepted["notes"] == "On my way"
    started = api.ok(api.post(f"/assignments/{aid}/start", json={"notes": "On site"}))
    assert started["notes"] == "On my way\nOn site"
    done = api.complete(aid, notes="Resealed the closure")
    assert done["notes"] == "On my way\nOn site\nResealed the closure"
    assert api.assignment_row(aid)["notes"] == "On my way\nOn site\nResealed the closure"
    # Without a body (or notes), nothing is added.
    _ticket, _engineer, other = api.assigned()
    api.ok(api.post(f"/assignments/{other['id']}/accept"))
    assert api.ok(api.post(f"/assignments/{other['id']}/start"))["notes"] is None
    api.problem(api.post(f"/assignments/{aid}/accept", json={"notes": 5}), (409, 422))


def test_a_note_moves_the_tickets_version_so_if_match_stays_true(api: Api) -> None:
    ticket = api.ticket()
    assert ticket["version"] == 1
    api.ok(post_note(api, ticket["id"], text="before closing"), 201)
    row = api.ticket_row(ticket["id"])
    assert row["version"] == 2 and row["updated_at"] >= ticket["updated_at"]
    api.problem(api.post(f"/tickets/{ticket['id']}/close", json={},
                         headers={"If-Match": '"1"'}), 412)
    closed = api.ok(api.post(f"/tickets/{ticket['id']}/close", json={},
                             headers={"If-Match": '"2"'}))
    assert closed["status"] == "closed"
