"""Engineers: register, list (paged), read with open_assignments, patch."""

from __future__ import annotations

from uuid import uuid4

#: The fields the contract names (more may be added).
ENGINEER_FIELDS = {
    "id", "name", "skills", "tier", "capacity", "availability", "active", "open_assignments",
}


def test_register_returns_201_with_the_engineer(api):
    eid = f"ana.lopez@{uuid4().hex[:8]}"
    response = api.post("/engineers", json={
        "id": eid, "name": "Ana Lopez", "skills": ["mri", "ct"], "tier": 2,
        "capacity": 4, "availability": 0.75,
    })
    body = api.ok(response, 201)
    assert set(body) >= ENGINEER_FIELDS
    assert body["id"] == eid
    assert body["name"] == "Ana Lopez"
    assert body["skills"] == ["mri", "ct"]
    assert (body["tier"], body["capacity"], body["availability"]) == (2, 4, 0.75)
    assert body["active"] is True
    assert body["open_assignments"] == 0
    assert body["created_at"].endswith("Z") and body["created_at"] == body["updated_at"]
    assert response.headers["location"] == f"/engineers/{eid}"
    assert api.etag(response) == 1
    assert api.position(response) == api.head()
    # Read-your-writes: the read table has it already.
    assert api.engineer_row(eid) == body


def test_register_defaults(api):
    eid = f"eng-{uuid4().hex[:8]}"
    body = api.ok(api.post("/engineers", json={"id": eid, "name": "Minimal"}), 201)
    assert body["skills"] == []
    assert (body["tier"], body["capacity"], body["availability"]) == (1, 1, 1.0)


def test_register_taken_id_is_409_and_records_nothing(api):
    engineer = api.engineer(name="First")
    with api.records_nothing():
        body = api.problem(
            api.post("/engineers", json={"id": engineer["id"], "name": "Second"}), 409
        )
    assert engineer["id"] in body["detail"]
    assert api.engineer_row(engineer["id"])["name"] == "First"


def test_list_pages_visit_every_engineer_once_in_registration_order(api):
    ids = api.engineers(7)
    pages = api.paged("/engineers", limit=3)
    assert [len(p) for p in pages] == [3, 3, 1]
    seen = [e["id"] for page in pages for e in page]
    assert seen == ids
    assert all(set(e) >= ENGINEER_FIELDS for page in pages for e in page)
    # An exact multiple of the page size ends with a null cursor, not an empty page.
    one_page = api.ok(api.get("/engineers", params={"limit": 7}))
    assert [e["id"] for e in one_page["items"]] == ids
    assert one_page["next_cursor"] is None
    # The default limit covers them all.
    assert [e["id"] for e in api.ok(api.get("/engineers"))["items"]] == ids


def test_list_can_filter_active(api):
    keep, gone = api.engineers(2)
    api.deactivate(gone)
    active = api.ok(api.get("/engineers", params={"active": "true"}))["items"]
    inactive = api.ok(api.get("/engineers", params={"active": "false"}))["items"]
    assert [e["id"] for e in active] == [keep]
    assert [e["id"] for e in inactive] == [gone]


def test_get_unknown_engineer_is_404(api):
    api.problem(api.get(f"/engineers/nobody-{uuid4().hex[:6]}"), 404)


def test_open_assignments_counts_active_assignments(api):
    eng, other = api.engineers(2)
    t1, t2, t3 = (api.ticket()["id"] for _ in range(3))

    def count(engineer_id: str = eng) -> int:
        return api.engineer_row(engineer_id)["open_assignments"]

    a1 = api.assign(t1, eng)
    assert count() == 1
    a2 = api.assign(t2, eng)
    api.assign(t3, eng)
    assert count() == 3
    api.accept(a1["id"])
    api.start(a1["id"])
    assert count() == 3, "accepting or starting does not change the load"
    api.complete(a1["id"], "success")
    assert count() == 2
    api.reject(a2["id"])
    assert count() == 1
    api.escalate(t3, other)
    assert (count(), count(other)) == (0, 1)
    moved = api.assign(t2, other)
    assert count(other) == 2
    back = api.reassign(moved["id"], eng)
    assert (count(), count(other)) == (1, 1)
    api.remove(back["id"], "no longer needed")
    assert count() == 0
    # The list shows the same counts as the single read.
    listed = {e["id"]: e["open_assignments"] for e in api.ok(api.get("/engineers"))["items"]}
    assert listed == {eng: 0, other: 1}


def test_failed_completion_frees_the_engineer(api):
    _ticket_id, eng, assignment = api.assigned()
    api.accept(assignment["id"])
    api.complete(assignment["id"], "failed")
    assert api.engineer_row(eng)["open_assignments"] == 0


def test_patch_updates_every_field(api):
    engineer = api.engineer(name="Old", skills=["x"], tier=1, capacity=1, availability=1.0)
    eid = engineer["id"]
    response = api.client.patch(f"/engineers/{eid}", json={
        "name": "New name", "skills": ["ct", "xray"], "tier": 3, "capacity": 9,
        "availability": 0.25,
    })
    body = api.ok(response)
    assert body["name"] == "New name"
    assert body["skills"] == ["ct", "xray"]
    assert (body["tier"], body["capacity"], body["availability"]) == (3, 9, 0.25)
    assert body["active"] is True
    assert body["created_at"] == engineer["created_at"]
    assert body["updated_at"] > engineer["updated_at"]
    assert api.etag(response) == 2
    assert api.position(response) == api.head()
    assert api.engineer_row(eid) == body
    # A partial patch leaves the rest alone.
    body2 = api.ok(api.client.patch(f"/engineers/{eid}", json={"capacity": 2}))
    assert body2 == {**body, "capacity": 2, "updated_at": body2["updated_at"]}


def test_patch_that_changes_nothing_records_nothing(api):
    engineer = api.engineer(name="Same")
    with api.records_nothing():
        body = api.ok(api.client.patch(f"/engineers/{engineer['id']}", json={"name": "Same"}))
    assert body == engineer


def test_patch_unknown_engineer_is_404(api):
    with api.records_nothing():
        api.problem(api.client.patch("/engineers/nobody-x", json={"name": "x"}), 404)


def test_inactive_engineer_cannot_take_assignments(api):
    eid, spare = api.engineers(2)
    body = api.deactivate(eid)
    assert body["active"] is False
    assert api.engineer_row(eid)["active"] is False
    ticket_id = api.ticket()["id"]
    with api.records_nothing():
        api.problem(api.post("/assignments", json={
            "ticket_id": ticket_id, "engineer_id": eid, "tier": 1}), 422)
    # ... nor be escalated or reassigned to.
    assignment = api.assign(ticket_id, spare)
    with api.records_nothing():
        api.problem(api.post("/assignments/escalate", json={
            "ticket_id": ticket_id, "next_engineer_id": eid, "reason": "x"}), 422)
        api.problem(api.client.put(f"/assignments/{assignment['id']}/reassign",
                                   json={"new_engineer_id": eid}), 422)
    # Reactivated, they can.
    assert api.ok(api.client.patch(f"/engineers/{eid}", json={"active": True}))["active"] is True
    new = api.reassign(assignment["id"], eid)
    assert new["engineer_id"] == eid
