"""Assignments: assign, escalate, accept/reject/start/complete, reassign, remove,
and the assignment queries."""

from __future__ import annotations

from uuid import uuid4

import pytest

ASSIGNMENT_FIELDS = {
    "id", "ticket_id", "engineer_id", "equipment_id", "assignment_sequence", "assignment_tier",
    "assignment_tier_name", "assignment_reason", "assignment_type", "status", "assigned_by",
    "assigned_at", "accepted_at", "rejected_at", "rejection_reason", "started_at",
    "completed_at", "completion_status", "escalation_reason", "time_spent_hours", "diagnosis",
    "actions_taken", "parts_used", "customer_rating", "customer_feedback", "created_at",
    "updated_at",
}
STATES = (
    "assigned", "accepted", "in_progress", "completed", "rejected", "escalated",
    "reassigned", "removed", "failed",
)

# ---------------------------------------------------------------------- assign


def test_assign_returns_201_with_the_engineer_assignment(api):
    eng = api.engineer(tier=2)["id"]
    ticket_id = api.ticket()["id"]
    response = api.post("/assignments", json={
        "ticket_id": ticket_id, "engineer_id": eng, "equipment_id": "EQ-1", "tier": 2,
        "tier_name": "Dealer", "reason": "Initial", "type": "auto",
    })
    body = api.ok(response, 201)
    assert set(body) >= ASSIGNMENT_FIELDS
    assert body["ticket_id"] == ticket_id
    assert body["engineer_id"] == eng
    assert body["equipment_id"] == "EQ-1"
    assert (body["assignment_sequence"], body["assignment_tier"]) == (1, 2)
    assert body["assignment_tier_name"] == "Dealer"
    assert body["assignment_reason"] == "Initial"
    assert body["assignment_type"] == "auto"
    assert body["status"] == "assigned"
    assert body["assigned_by"] == "e2e-tester"
    assert body["assigned_at"] and body["created_at"] and body["updated_at"]
    for absent in ("accepted_at", "rejected_at", "rejection_reason", "started_at",
                   "completed_at", "completion_status", "escalation_reason",
                   "time_spent_hours", "diagnosis", "actions_taken", "parts_used",
                   "customer_rating", "customer_feedback"):
        assert body[absent] is None, absent
    assert response.headers["location"] == f"/assignments/{body['id']}"
    assert api.etag(response) == 2
    assert api.position(response) == api.head()
    # Read-your-writes on every read table.
    assert api.assignment_row(body["id"]) == body
    assert api.ticket_row(ticket_id)["current_assignment"] == body
    assert api.ticket_row(ticket_id)["status"] == "assigned"
    current = api.ok(api.get(f"/tickets/{ticket_id}/current-assignment"))
    assert current["engineer_id"] == eng
    assert api.engineer_row(eng)["open_assignments"] == 1


def test_assign_defaults(api):
    _ticket_id, _eng, body = api.assigned(tier=3)
    assert body["assignment_tier_name"] == "L3"
    assert body["assignment_type"] == "manual"
    assert body["assignment_reason"] is None
    assert body["equipment_id"] is None


def test_assign_refusals_record_nothing(api):
    eng, other, inactive = api.engineers(3)
    api.deactivate(inactive)
    ticket_id = api.ticket()["id"]
    busy = api.ticket()["id"]
    api.assign(busy, other)
    closed = api.ticket()["id"]
    api.close(closed)

    def attempt(ticket: str, engineer: str):
        return api.post("/assignments", json={"ticket_id": ticket, "engineer_id": engineer,
                                              "tier": 1})

    with api.records_nothing():
        body = api.problem(attempt(str(uuid4()), eng), 404)
        assert "Ticket" in body["detail"]
        body = api.problem(attempt(busy, eng), 409)
        assert "active assignment" in body["detail"]
        api.problem(attempt(closed, eng), 409)
        body = api.problem(attempt(ticket_id, "nobody-" + uuid4().hex[:6]), 422)
        assert body["type"].endswith("/invalid-engineer")
        body = api.problem(attempt(ticket_id, inactive), 422)
        assert "inactive" in body["detail"]
    assert api.ticket_row(ticket_id)["version"] == 1
    assert api.ticket_row(busy)["version"] == 2
    assert api.ok(api.get(f"/tickets/{ticket_id}/assignments")) == []


# ---------------------------------------------------------------------- escalate


def test_escalate_from_each_active_state(api):
    for state in ("assigned", "accepted", "in_progress"):
        try:
            _escalate_from(api, state)
        except AssertionError as e:
            raise AssertionError(f"from {state}: {e}") from e


def _escalate_from(api, state):
    ticket_id, first = api.assignment_in(state)
    before = api.assignment_row(first)
    nxt = api.engineer(tier=2)["id"]
    response = api.post("/assignments/escalate", json={
        "ticket_id": ticket_id, "reason": "Needs the dealer", "next_engineer_id": nxt,
        "next_tier_name": "L2 - Dealer",
    })
    new = api.ok(response, 201)
    assert set(new) >= ASSIGNMENT_FIELDS
    assert new["engineer_id"] == nxt
    assert new["assignment_tier"] == before["assignment_tier"] + 1
    assert new["assignment_sequence"] == before["assignment_sequence"] + 1
    assert new["assignment_tier_name"] == "L2 - Dealer"
    assert new["status"] == "assigned"
    assert response.headers["location"] == f"/assignments/{new['id']}"
    assert api.etag(response) == api.ticket_row(ticket_id)["version"]
    assert api.position(response) == api.head()
    old = api.assignment_row(first)
    assert old["status"] == "escalated"
    assert old["completion_status"] == "escalated"
    assert old["escalation_reason"] == "Needs the dealer"
    assert old["completed_at"] is not None
    ticket = api.ticket_row(ticket_id)
    assert ticket["current_assignment"]["id"] == new["id"]
    assert ticket["status"] == "assigned"


def test_escalate_default_tier_name_and_equipment(api):
    eng, l2, l3 = api.engineers(3)
    ticket_id = api.ticket(equipment_id="EQ-TICKET")["id"]
    api.assign(ticket_id, eng, equipment_id="EQ-OWN")
    second = api.escalate(ticket_id, l2)
    assert second["assignment_tier_name"] == "L2"
    assert second["equipment_id"] == "EQ-OWN", "carried over from the escalated assignment"
    third = api.escalate(ticket_id, l3)
    assert (third["assignment_tier"], third["assignment_tier_name"]) == (3, "L3")


def test_escalate_refusals(api):
    eng, nxt, inactive = api.engineers(3)
    api.deactivate(inactive)
    ticket_id = api.ticket()["id"]

    def attempt(ticket: str, engineer: str = nxt):
        return api.post("/assignments/escalate", json={
            "ticket_id": ticket, "reason": "r", "next_engineer_id": engineer})

    with api.records_nothing():
        body = api.problem(attempt(ticket_id), 409)
        assert "no active assignment" in body["detail"]
        api.problem(attempt(str(uuid4())), 404)
    assignment = api.assign(ticket_id, eng)
    api.reject(assignment["id"])
    with api.records_nothing():
        api.problem(attempt(ticket_id), 409)
    api.assign(ticket_id, eng)
    with api.records_nothing():
        api.problem(attempt(ticket_id, inactive), 422)
        api.problem(attempt(ticket_id, "nobody-" + uuid4().hex[:6]), 422)


# ------------------------------------------------- accept / reject / start / complete

ALLOWED_FROM = {
    "accept": {"assigned"},
    "reject": {"assigned"},
    "start": {"accepted"},
    "complete": {"accepted", "in_progress"},
}
RESULT = {"accept": "accepted", "reject": "rejected", "start": "in_progress",
          "complete": "completed"}
BODIES = {
    "accept": None,
    "reject": {"reason": "on leave"},
    "start": None,
    "complete": {"completion_status": "parts_required", "time_spent_hours": 2},
}


@pytest.mark.parametrize("command", sorted(ALLOWED_FROM))
def test_transition_allowed_only_from_its_states(api, command):
    for state in STATES:
        ticket_id, aid = api.assignment_in(state)
        version = api.ticket_row(ticket_id)["version"]
        if state in ALLOWED_FROM[command]:
            response = api.post(f"/assignments/{aid}/{command}", json=BODIES[command])
            body = api.ok(response)
            assert body["id"] == aid
            assert body["status"] == RESULT[command], (command, state)
            assert api.etag(response) == version + 1
            assert api.position(response) == api.head()
            assert api.assignment_row(aid) == body
        else:
            with api.records_nothing():
                problem = api.problem(
                    api.post(f"/assignments/{aid}/{command}", json=BODIES[command]), 409)
            assert state in problem["detail"], (command, state, problem)
            assert api.assignment_row(aid)["status"] == state
            assert api.ticket_row(ticket_id)["version"] == version


def test_accept_start_set_their_times(api):
    ticket_id, _eng, assignment = api.assigned()
    accepted = api.accept(assignment["id"])
    assert accepted["accepted_at"] is not None and accepted["started_at"] is None
    assert api.ticket_row(ticket_id)["status"] == "assigned"
    started = api.start(assignment["id"])
    assert started["started_at"] is not None
    assert started["started_at"] >= started["accepted_at"]
    assert api.ticket_row(ticket_id)["status"] == "in_progress"


def test_reject_reopens_the_ticket(api):
    ticket_id, eng, assignment = api.assigned()
    body = api.reject(assignment["id"], "on leave")
    assert body["status"] == "rejected"
    assert body["rejection_reason"] == "on leave"
    assert body["rejected_at"] is not None
    ticket = api.ticket_row(ticket_id)
    assert (ticket["status"], ticket["current_assignment"]) == ("open", None)
    api.problem(api.get(f"/tickets/{ticket_id}/current-assignment"), 404)
    # Reject without a body is allowed too.
    second = api.assign(ticket_id, eng)
    assert api.ok(api.post(f"/assignments/{second['id']}/reject"))["status"] == "rejected"


def test_complete_success_resolves_the_ticket(api):
    ticket_id, _eng, assignment = api.assigned()
    api.accept(assignment["id"])
    api.start(assignment["id"])
    parts = [{"part_number": "GC-1", "part_name": "Gradient coil", "quantity": 2,
              "cost": 120.5}]
    body = api.complete(
        assignment["id"], "success", 3.25, diagnosis="coil", actions_taken="replaced",
        parts_used=parts, customer_rating=5, customer_feedback="great",
    )
    assert body["status"] == "completed"
    assert body["completion_status"] == "success"
    assert body["time_spent_hours"] == 3.25
    assert (body["diagnosis"], body["actions_taken"]) == ("coil", "replaced")
    assert body["parts_used"] == parts
    assert (body["customer_rating"], body["customer_feedback"]) == (5, "great")
    assert body["completed_at"] is not None
    ticket = api.ticket_row(ticket_id)
    assert ticket["status"] == "resolved"
    assert ticket["current_assignment"] is None


def test_complete_other_outcomes_leave_the_ticket_open(api):
    for outcome in ("failed", "escalated", "parts_required", "customer_unavailable"):
        ticket_id, eng, assignment = api.assigned()
        api.accept(assignment["id"])
        body = api.complete(assignment["id"], outcome, 0.5)
        assert body["status"] == ("failed" if outcome == "failed" else "completed"), outcome
        assert body["completion_status"] == outcome
        ticket = api.ticket_row(ticket_id)
        assert ticket["status"] == "open", outcome
        assert ticket["current_assignment"] is None
        assert ticket["resolved_at"] is None
        # ... for the next assignment.
        assert api.assign(ticket_id, eng)["assignment_sequence"] == 2


def test_time_spent_is_kept_to_two_decimals(api):
    _tid, _eng, assignment = api.assigned()
    api.accept(assignment["id"])
    body = api.complete(assignment["id"], "success", 999.99)
    assert body["time_spent_hours"] == 999.99
    _tid, _eng, assignment = api.assigned()
    api.accept(assignment["id"])
    assert api.complete(assignment["id"], "success", 0)["time_spent_hours"] == 0


def test_commands_on_unknown_assignment_are_404(api):
    missing = uuid4()
    eng = api.engineer()["id"]
    with api.records_nothing():
        for method, path, body in (
            ("POST", f"/assignments/{missing}/accept", None),
            ("POST", f"/assignments/{missing}/reject", None),
            ("POST", f"/assignments/{missing}/start", None),
            ("POST", f"/assignments/{missing}/complete",
             {"completion_status": "success", "time_spent_hours": 1}),
            ("PUT", f"/assignments/{missing}/reassign", {"new_engineer_id": eng}),
            ("DELETE", f"/assignments/{missing}", None),
            ("GET", f"/assignments/{missing}", None),
            ("GET", f"/assignments/{missing}/history", None),
        ):
            body = api.problem(api.client.request(method, path, json=body), 404)
            assert str(missing) in body["detail"], path


# ---------------------------------------------------------------------- reassign


def test_reassign_keeps_the_tier(api):
    for state in ("assigned", "accepted", "in_progress"):
        try:
            _reassign_from(api, state)
        except AssertionError as e:
            raise AssertionError(f"from {state}: {e}") from e


def _reassign_from(api, state):
    ticket_id, aid = api.assignment_in(state)
    old_before = api.assignment_row(aid)
    new_eng = api.engineer()["id"]
    response = api.client.put(f"/assignments/{aid}/reassign",
                              json={"new_engineer_id": new_eng, "reason": "closer to site"})
    new = api.ok(response)
    assert new["id"] != aid
    assert new["engineer_id"] == new_eng
    assert new["status"] == "assigned"
    assert new["assignment_tier"] == old_before["assignment_tier"]
    assert new["assignment_tier_name"] == old_before["assignment_tier_name"]
    assert new["assignment_sequence"] == old_before["assignment_sequence"] + 1
    assert api.etag(response) == api.ticket_row(ticket_id)["version"]
    assert api.position(response) == api.head()
    old = api.assignment_row(aid)
    assert old["status"] == "reassigned"
    assert api.ticket_row(ticket_id)["current_assignment"]["id"] == new["id"]
    assert api.engineer_row(old["engineer_id"])["open_assignments"] == 0
    assert api.engineer_row(new_eng)["open_assignments"] == 1


def test_reassign_refusals(api):
    _ticket_id, eng, assignment = api.assigned()
    aid = assignment["id"]
    with api.records_nothing():
        body = api.problem(api.client.put(f"/assignments/{aid}/reassign",
                                          json={"new_engineer_id": eng}), 409)
        assert eng in body["detail"]
        api.problem(api.client.put(f"/assignments/{aid}/reassign",
                                   json={"new_engineer_id": "nobody-x"}), 422)
    for state in ("completed", "rejected", "escalated", "reassigned", "removed", "failed"):
        _tid, ended = api.assignment_in(state)
        other = api.engineer()["id"]
        with api.records_nothing():
            api.problem(api.client.put(f"/assignments/{ended}/reassign",
                                       json={"new_engineer_id": other}), 409)


# ---------------------------------------------------------------------- remove


def test_remove_with_and_without_body(api):
    for reason in ("not needed", None):
        ticket_id, eng, assignment = api.assigned()
        aid = assignment["id"]
        if reason is None:
            response = api.client.delete(f"/assignments/{aid}")
        else:
            response = api.client.request("DELETE", f"/assignments/{aid}",
                                          json={"reason": reason})
        body = api.ok(response)
        assert body["id"] == aid
        assert body["status"] == "removed"
        assert api.etag(response) == 3
        assert api.position(response) == api.head()
        assert api.assignment_row(aid)["status"] == "removed", "soft: still readable"
        ticket = api.ticket_row(ticket_id)
        assert (ticket["status"], ticket["current_assignment"]) == ("open", None)
        history = api.ok(api.get(f"/assignments/{aid}/history"))
        assert [h["action"] for h in history] == ["created", "removed"]
        assert history[-1]["reason"] == reason
        assert api.engineer_row(eng)["open_assignments"] == 0


def test_remove_only_active_assignments(api):
    for state in ("completed", "rejected", "escalated", "reassigned", "removed", "failed"):
        _tid, aid = api.assignment_in(state)
        with api.records_nothing():
            api.problem(api.client.delete(f"/assignments/{aid}"), 409)
        assert api.assignment_row(aid)["status"] == state


# ---------------------------------------------------------------------- queries


def test_list_assignments_filters(api):
    e1, e2, e3 = api.engineers(3)
    t1, t2, t3, t4 = (api.ticket()["id"] for _ in range(4))
    a1 = api.assign(t1, e1)                       # assigned, tier 1
    a2 = api.assign(t2, e1)
    api.accept(a2["id"])                          # accepted, tier 1
    a3 = api.assign(t3, e2)
    api.accept(a3["id"])
    api.start(a3["id"])                           # in_progress, tier 1
    a4 = api.assign(t4, e2)
    a5 = api.escalate(t4, e3)                     # a4 escalated, a5 assigned tier 2
    api.accept(a5["id"])
    api.complete(a5["id"], "success")             # a5 completed
    api.reject(a1["id"])                          # a1 rejected

    def ids(**params):
        return {a["id"] for a in api.ok(api.get("/assignments", params=params))["items"]}

    assert ids() == {a1["id"], a2["id"], a3["id"], a4["id"], a5["id"]}
    assert ids(status="active") == {a2["id"], a3["id"]}
    assert ids(status="accepted") == {a2["id"]}
    assert ids(status="in_progress") == {a3["id"]}
    assert ids(status="rejected") == {a1["id"]}
    assert ids(status="escalated") == {a4["id"]}
    assert ids(status="completed") == {a5["id"]}
    assert ids(status="removed") == set()
    assert ids(engineer_id=e1) == {a1["id"], a2["id"]}
    assert ids(engineer_id=e2, status="active") == {a3["id"]}
    assert ids(tier=2) == {a5["id"]}
    assert ids(tier=1, engineer_id=e2) == {a3["id"], a4["id"]}
    for item in api.ok(api.get("/assignments"))["items"]:
        assert set(item) >= ASSIGNMENT_FIELDS
        assert item == api.assignment_row(item["id"])


def test_list_assignments_paging_visits_each_once(api):
    eng = api.engineer()["id"]
    made = []
    for _ in range(4):
        ticket_id = api.ticket()["id"]
        first = api.assign(ticket_id, eng)
        made.append(first["id"])
        other = api.engineer()["id"]
        made.append(api.reassign(first["id"], other)["id"])
    pages = api.paged("/assignments", limit=3)
    assert [len(p) for p in pages] == [3, 3, 2]
    seen = [a["id"] for page in pages for a in page]
    assert sorted(seen) == sorted(made)
    assert len(set(seen)) == len(seen)
    keys = [(a["assigned_at"], a["id"]) for page in pages for a in page]
    assert keys == sorted(keys)
    # Paging through a filter.
    pages = api.paged("/assignments", limit=1, status="reassigned")
    assert sorted(a["id"] for p in pages for a in p) == sorted(made[0::2])


def test_get_assignment_and_its_history(api):
    ticket_id, eng, assignment = api.assigned()
    aid = assignment["id"]
    api.accept(aid)
    api.start(aid)
    api.complete(aid, "success", 1)
    body = api.assignment_row(aid)
    assert set(body) >= ASSIGNMENT_FIELDS
    assert body["status"] == "completed"
    history = api.ok(api.get(f"/assignments/{aid}/history"))
    assert isinstance(history, list)
    assert [h["action"] for h in history] == ["created", "accepted", "started", "completed"]
    for row in history:
        assert set(row) >= {"id", "assignment_id", "ticket_id", "previous_engineer",
                            "new_engineer", "action", "reason", "changed_by", "changed_at"}
        assert row["assignment_id"] == aid
        assert row["ticket_id"] == ticket_id
        assert row["changed_by"] == "e2e-tester"
    assert history[0]["new_engineer"] == eng and history[0]["previous_engineer"] is None
    assert [h["id"] for h in history] == sorted(h["id"] for h in history)
    assert [h["changed_at"] for h in history] == sorted(h["changed_at"] for h in history)


def test_concurrent_assigns_leave_exactly_one_active_assignment(api):
    """A ticket has at most one active assignment, even under a race."""
    from concurrent.futures import ThreadPoolExecutor

    engineers = api.engineers(6)
    ticket_id = api.ticket()["id"]
    head = api.head()

    def assign(engineer_id: str):
        return api.post("/assignments", json={"ticket_id": ticket_id,
                                              "engineer_id": engineer_id, "tier": 1})

    with ThreadPoolExecutor(len(engineers)) as pool:
        responses = list(pool.map(assign, engineers))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * (len(engineers) - 1), statuses
    for r in responses:
        if r.status_code == 409:
            api.problem(r, 409)
    winner = next(r.json() for r in responses if r.status_code == 201)
    assert api.head() == head + 1
    rows = api.ok(api.get(f"/tickets/{ticket_id}/assignments"))
    assert [r["id"] for r in rows] == [winner["id"]]
    assert api.ticket_row(ticket_id)["version"] == 2
    assert sum(api.engineer_row(e)["open_assignments"] for e in engineers) == 1
