"""Tickets: open, read (with current_assignment and ETag), list with filters and
paging, close and reopen."""

from __future__ import annotations

from uuid import uuid4

#: The fields the contract and the seeds name (more may be added).
TICKET_FIELDS = {
    "id", "title", "description", "priority", "required_skill", "equipment_id", "reference",
    "status", "version", "current_assignment",
}


def test_open_returns_201_open_at_version_1(api):
    response = api.post("/tickets", json={
        "title": "MRI coil fault", "description": "Artefacts on every scan",
        "priority": "critical", "required_skill": "mri", "equipment_id": "EQ-7",
        "reference": "CASE-1",
    })
    body = api.ok(response, 201)
    assert set(body) >= TICKET_FIELDS
    assert body["status"] == "open"
    assert body["version"] == 1
    assert body["current_assignment"] is None
    assert body["assignment_count"] == 0
    assert (body["title"], body["description"], body["priority"]) == (
        "MRI coil fault", "Artefacts on every scan", "critical")
    assert (body["required_skill"], body["equipment_id"], body["reference"]) == (
        "mri", "EQ-7", "CASE-1")
    assert body["resolved_at"] is None and body["closed_at"] is None
    assert str(body["id"]) and len(body["id"]) == 36
    assert response.headers["location"] == f"/tickets/{body['id']}"
    assert api.etag(response) == 1
    assert api.position(response) == api.head()
    assert api.ticket_row(body["id"]) == body


def test_open_defaults_priority_to_medium(api):
    body = api.ticket(title="Just a title")
    assert body["priority"] == "medium"
    assert body["description"] is None and body["reference"] is None


def test_open_with_client_chosen_id_and_taken_id_is_409(api):
    chosen = str(uuid4())
    body = api.ticket(id=chosen, title="Chosen")
    assert body["id"] == chosen
    with api.records_nothing():
        problem = api.problem(api.post("/tickets", json={"id": chosen, "title": "Again"}), 409)
    assert chosen in problem["detail"]
    assert api.ticket_row(chosen)["title"] == "Chosen"
    assert api.ticket_row(chosen)["version"] == 1


def test_get_shows_current_assignment_and_etag(api):
    ticket_id, _eng, assignment = api.assigned(equipment_id="EQ-9")
    response = api.get(f"/tickets/{ticket_id}")
    body = api.ok(response)
    assert body["status"] == "assigned"
    assert body["version"] == 2
    assert api.etag(response) == body["version"]
    assert body["current_assignment"] == assignment
    assert body["current_assignment"]["equipment_id"] == "EQ-9", "inherited from the ticket"
    assert body["assignment_count"] == 1
    api.accept(assignment["id"])
    api.start(assignment["id"])
    response = api.get(f"/tickets/{ticket_id}")
    body = api.ok(response)
    assert (body["status"], body["version"], api.etag(response)) == ("in_progress", 4, 4)
    assert body["current_assignment"]["status"] == "in_progress"
    api.complete(assignment["id"], "success")
    body = api.ticket_row(ticket_id)
    assert body["status"] == "resolved"
    assert body["current_assignment"] is None
    assert body["resolved_at"] is not None


def test_get_unknown_ticket_is_404(api):
    body = api.problem(api.get(f"/tickets/{uuid4()}"), 404)
    assert "does not exist" in body["detail"]


def test_list_filters_by_status_engineer_and_reference(api):
    eng1, eng2 = api.engineers(2)
    ref = "REF-" + uuid4().hex[:8]
    open_ = api.ticket(reference=ref)["id"]
    assigned = api.ticket(reference=ref)["id"]
    api.assign(assigned, eng1)
    progressing = api.ticket()["id"]
    a = api.assign(progressing, eng2)
    api.accept(a["id"])
    api.start(a["id"])
    resolved = api.ticket()["id"]
    b = api.assign(resolved, eng2)
    api.accept(b["id"])
    api.complete(b["id"], "success")
    closed = api.ticket(reference=ref)["id"]
    api.close(closed, "duplicate")

    def ids(**params):
        return [t["id"] for t in api.ok(api.get("/tickets", params=params))["items"]]

    assert ids() == [open_, assigned, progressing, resolved, closed]
    assert ids(status="open") == [open_]
    assert ids(status="assigned") == [assigned]
    assert ids(status="in_progress") == [progressing]
    assert ids(status="resolved") == [resolved]
    assert ids(status="closed") == [closed]
    assert ids(engineer_id=eng1) == [assigned]
    assert ids(engineer_id=eng2) == [progressing], "only tickets the engineer holds now"
    assert ids(engineer_id="nobody") == []
    assert ids(reference=ref) == [open_, assigned, closed]
    assert ids(reference=ref, status="closed") == [closed]
    assert ids(reference="REF-none") == []
    # Every listed ticket is rendered like GET /tickets/{id}.
    for item in api.ok(api.get("/tickets"))["items"]:
        assert item == api.ticket_row(item["id"])


def test_list_engineer_filter_follows_escalation(api):
    eng1, eng2 = api.engineers(2)
    ticket_id = api.ticket()["id"]
    api.assign(ticket_id, eng1)
    api.escalate(ticket_id, eng2)
    assert api.ok(api.get("/tickets", params={"engineer_id": eng1}))["items"] == []
    held = api.ok(api.get("/tickets", params={"engineer_id": eng2}))["items"]
    assert [t["id"] for t in held] == [ticket_id]


def test_list_paging_visits_every_ticket_exactly_once_in_opening_order(api):
    opened = [api.ticket()["id"] for _ in range(8)]
    pages = api.paged("/tickets", limit=3)
    assert [len(p) for p in pages] == [3, 3, 2]
    seen = [t["id"] for page in pages for t in page]
    assert seen == opened
    assert len(set(seen)) == len(seen)
    # Paging combined with a filter.
    api.close(opened[1])
    api.close(opened[4])
    api.close(opened[6])
    closed_pages = api.paged("/tickets", limit=2, status="closed")
    assert [[t["id"] for t in p] for p in closed_pages] == [
        [opened[1], opened[4]], [opened[6]]]


def test_close_and_reopen(api):
    ticket_id = api.ticket()["id"]
    response = api.post(f"/tickets/{ticket_id}/close", json={"reason": "duplicate"})
    body = api.ok(response)
    assert body["status"] == "closed"
    assert body["closed_at"] is not None
    assert body["version"] == 2 == api.etag(response)
    assert api.position(response) == api.head()
    assert api.ticket_row(ticket_id)["status"] == "closed"
    response = api.post(f"/tickets/{ticket_id}/reopen", json={"reason": "not a duplicate"})
    body = api.ok(response)
    assert body["status"] == "open"
    assert body["closed_at"] is None
    assert body["version"] == 3 == api.etag(response)
    assert api.ticket_row(ticket_id)["status"] == "open"


def test_close_without_body(api):
    ticket_id = api.ticket()["id"]
    assert api.ok(api.post(f"/tickets/{ticket_id}/close"))["status"] == "closed"


def test_close_is_refused_while_an_assignment_is_active(api):
    for state in ("assigned", "accepted", "in_progress"):
        ticket_id, aid = api.assignment_in(state)
        with api.records_nothing():
            body = api.problem(api.post(f"/tickets/{ticket_id}/close"), 409)
        assert aid in body["detail"], state
        assert api.ticket_row(ticket_id)["status"] != "closed"
    # Once the assignment is over, it closes.
    api.remove(aid)
    assert api.close(ticket_id)["status"] == "closed"


def test_a_closed_ticket_accepts_nothing_but_reopen(api):
    eng, eng2 = api.engineers(2)
    ticket_id = api.ticket()["id"]
    rejected = api.assign(ticket_id, eng)
    api.reject(rejected["id"])
    api.close(ticket_id, "wontfix")
    version = api.ticket_row(ticket_id)["version"]
    aid = rejected["id"]
    refused = [
        ("POST", "/assignments", {"ticket_id": ticket_id, "engineer_id": eng2, "tier": 1}),
        ("POST", "/assignments/escalate",
         {"ticket_id": ticket_id, "next_engineer_id": eng2, "reason": "x"}),
        ("POST", f"/assignments/{aid}/accept", None),
        ("POST", f"/assignments/{aid}/reject", {"reason": "x"}),
        ("POST", f"/assignments/{aid}/start", None),
        ("POST", f"/assignments/{aid}/complete",
         {"completion_status": "success", "time_spent_hours": 1}),
        ("PUT", f"/assignments/{aid}/reassign", {"new_engineer_id": eng2}),
        ("DELETE", f"/assignments/{aid}", None),
        ("POST", f"/tickets/{ticket_id}/close", {"reason": "again"}),
    ]
    with api.records_nothing():
        for method, path, body in refused:
            response = api.client.request(method, path, json=body)
            api.problem(response, 409)
    assert api.ticket_row(ticket_id)["version"] == version
    assert api.ticket_row(ticket_id)["status"] == "closed"
    reopened = api.reopen(ticket_id)
    assert reopened["status"] == "open"
    assert api.assign(ticket_id, eng2)["assignment_sequence"] == 2


def test_reopen_only_resolved_or_closed(api):
    ticket_id = api.ticket()["id"]
    with api.records_nothing():
        api.problem(api.post(f"/tickets/{ticket_id}/reopen", json={"reason": "x"}), 409)
    _tid, _eng, assignment = api.assigned()
    with api.records_nothing():
        api.problem(api.post(f"/tickets/{_tid}/reopen", json={"reason": "x"}), 409)
    api.accept(assignment["id"])
    api.complete(assignment["id"], "success")
    # A resolved ticket takes no new assignment until it is reopened.
    eng2 = api.engineer()["id"]
    with api.records_nothing():
        api.problem(api.post("/assignments", json={
            "ticket_id": _tid, "engineer_id": eng2, "tier": 1}), 409)
    body = api.reopen(_tid, "came back")
    assert body["status"] == "open"
    assert body["resolved_at"] is None
    assert api.assign(_tid, eng2)["assignment_sequence"] == 2


def test_ticket_commands_on_unknown_ticket_are_404(api):
    missing = uuid4()
    with api.records_nothing():
        api.problem(api.post(f"/tickets/{missing}/close"), 404)
        api.problem(api.post(f"/tickets/{missing}/reopen", json={"reason": "x"}), 404)
