"""The read routes that serialise their rows once (``api.row_json``) answer the JSON
the pydantic models gave: compared, value type and key order included, with the
same rows answered by the command routes (which still go through the models) and
with the models' own serialisation of the body."""

from __future__ import annotations

import json
from typing import Any

from pydantic import TypeAdapter

from api.schemas import CurrentAssignment, EngineerAssignment, Event, Page, Ticket


#: Fields holding stored JSON: PostgreSQL's jsonb keeps its objects' keys in an
#: order of its own, whichever way the row is answered.
STORED_JSON = {"parts_used", "data"}


def typed(value: Any, ordered: bool = True) -> Any:
    """The JSON value with every scalar's JSON type and every object's key order
    (but within stored JSON)."""
    if isinstance(value, dict):
        keys = list(value) if ordered else sorted(value)
        return [("{}", keys)] + [(k, typed(value[k], ordered and k not in STORED_JSON))
                                 for k in keys]
    if isinstance(value, list):
        return ["[]"] + [typed(v, ordered) for v in value]
    return (type(value).__name__, value)


def as_the_model_writes_it(model: Any, body: bytes) -> Any:
    adapter = TypeAdapter(model)
    return json.loads(adapter.dump_json(adapter.validate_json(body)))


def test_the_read_routes_answer_the_models_json(api):
    ticket_id, engineer_id, _assigned = api.assigned()
    parts = [{"part_number": "SC-12", "part_name": "Closure", "quantity": 1, "cost": 42}]
    first = api.assign(api.ticket()["id"], engineer_id)  # stays active
    done_id = api.assignment_row(_assigned["id"])["id"]
    api.accept(done_id)
    api.start(done_id)
    completed = api.post(f"/assignments/{done_id}/complete", json={
        "completion_status": "parts_required", "time_spent_hours": 2, "parts_used": parts,
        "customer_rating": 4, "diagnosis": "Wet — résumé",
    })
    api.ok(completed)
    again = api.assign(ticket_id, engineer_id)

    # The assignments of the ticket, as the command routes answered them.
    listed = api.get(f"/tickets/{ticket_id}/assignments")
    answered = [json.loads(completed.content), api.ok(api.get(f"/assignments/{again['id']}"))]
    for row, before in zip(json.loads(listed.content), answered, strict=True):
        assert list(row) == list(before)
        assert typed(row) == typed(before), {
            k: (v, before[k]) for k, v in row.items() if typed(v, k not in STORED_JSON)
            != typed(before[k], k not in STORED_JSON)}
    assert json.loads(listed.content)[0]["time_spent_hours"] == 2.0
    assert b'"time_spent_hours":2.0' in listed.content

    # The engineer's active page: both active assignments, oldest first.
    page = api.get("/assignments", params={"engineer_id": engineer_id, "status": "active"})
    assert [a["id"] for a in json.loads(page.content)["items"]] == [first["id"], again["id"]]
    assert typed(json.loads(page.content)) == typed(
        as_the_model_writes_it(Page[EngineerAssignment], page.content))
    assert typed(json.loads(page.content)["items"][1]) == typed(
        api.ok(api.get(f"/assignments/{again['id']}")))

    # The ticket with its current assignment, as a PATCH that changes nothing answers it.
    got = api.get(f"/tickets/{ticket_id}")
    patched = api.client.patch(f"/tickets/{ticket_id}", json={"title": got.json()["title"]})
    assert typed(json.loads(got.content)) == typed(api.ok(patched))
    assert got.headers["etag"] == patched.headers["etag"] == f'"{got.json()["version"]}"'
    assert got.headers["content-type"] == "application/json"
    assert typed(json.loads(got.content)) == typed(as_the_model_writes_it(Ticket, got.content))

    current = api.get(f"/tickets/{ticket_id}/current-assignment")
    assert typed(json.loads(current.content)) == typed(
        as_the_model_writes_it(CurrentAssignment, current.content))
    assert current.json()["assignment_sequence"] == 2

    events = api.get("/events", params={"ticket_id": ticket_id})
    body = json.loads(events.content)
    assert typed(body) == typed(as_the_model_writes_it(Page[Event], events.content))
    # The ticket's own stream, answered through the model.
    stream = api.get(f"/tickets/{ticket_id}/events")
    assert typed(body["items"]) == typed(json.loads(stream.content))
    assert [e["type"] for e in body["items"]][0] == "Ticket.Opened"
    assert len(body["items"]) == 6 and body["next_cursor"] is None


def test_a_ticket_as_it_stood_is_answered_as_the_model_writes_it(api):
    ticket_id, _engineer, _assignment = api.assigned()
    past = api.get(f"/tickets/{ticket_id}", params={"version": 1})
    body = api.ok(past)
    assert body["status"] == "open" and body["current_assignment"] is None
    assert past.headers["etag"] == '"1"'
    assert typed(body) == typed(as_the_model_writes_it(Ticket, past.content))


def test_the_openapi_document_still_describes_the_read_routes(api):
    """Their bodies are made by the routes, their documentation still by the
    response models and the one read dependency (permission and ``min_position``)."""
    document = api.ok(api.get("/openapi.json"))
    reads = {
        "/tickets/{ticket_id}": ("#/components/schemas/Ticket", True),
        "/tickets/{ticket_id}/current-assignment": ("#/components/schemas/CurrentAssignment", True),
        "/tickets/{ticket_id}/assignments": ("EngineerAssignment", True),
        "/assignments": ("#/components/schemas/Page_EngineerAssignment_", True),
        "/events": ("#/components/schemas/Page_Event_", False),
    }
    for path, (schema, waits) in reads.items():
        operation = document["paths"][path]["get"]
        body = operation["responses"]["200"]["content"]["application/json"]["schema"]
        assert schema in json.dumps(body), path
        names = [p["name"] for p in operation["parameters"]]
        assert ("min_position" in names) is waits, path
        assert operation["security"], path
    params = document["paths"]["/tickets/{ticket_id}"]["get"]["parameters"]
    assert [p["name"] for p in params] == ["ticket_id", "as_of", "version", "min_position"]
