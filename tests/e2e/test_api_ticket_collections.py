"""The per-ticket collections: current-assignment, assignments, history, events."""

from __future__ import annotations

from uuid import uuid4

from ledger.domain import engineer_aggregate_id

CURRENT_FIELDS = {"ticket_id", "engineer_id", "assignment_sequence", "assignment_tier",
                  "status", "assigned_at", "completed_at"}
EVENT_FIELDS = {"position", "ticket_id", "aggregate_id", "version", "type", "recorded_at",
                "actor", "data", "hash", "prev_hash"}


def test_current_assignment_follows_the_active_assignment(api):
    eng, l2 = api.engineers(2)
    ticket_id = api.ticket()["id"]
    body = api.problem(api.get(f"/tickets/{ticket_id}/current-assignment"), 404)
    assert "no active assignment" in body["detail"]
    first = api.assign(ticket_id, eng)
    current = api.ok(api.get(f"/tickets/{ticket_id}/current-assignment"))
    assert set(current) >= CURRENT_FIELDS
    expected = {
        "ticket_id": ticket_id, "engineer_id": eng, "assignment_sequence": 1,
        "assignment_tier": 1, "status": "assigned", "assigned_at": first["assigned_at"],
        "completed_at": None,
    }
    assert {k: current[k] for k in expected} == expected
    api.accept(first["id"])
    assert api.ok(api.get(f"/tickets/{ticket_id}/current-assignment"))["status"] == "accepted"
    api.start(first["id"])
    assert api.ok(api.get(f"/tickets/{ticket_id}/current-assignment"))["status"] == "in_progress"
    second = api.escalate(ticket_id, l2)
    current = api.ok(api.get(f"/tickets/{ticket_id}/current-assignment"))
    assert (current["engineer_id"], current["assignment_sequence"], current["assignment_tier"],
            current["status"]) == (l2, 2, 2, "assigned")
    assert current["assigned_at"] == second["assigned_at"]
    api.accept(second["id"])
    api.complete(second["id"], "success")
    api.problem(api.get(f"/tickets/{ticket_id}/current-assignment"), 404)


def test_per_ticket_collections_of_an_unknown_ticket_are_404(api):
    missing = uuid4()
    for suffix in ("current-assignment", "assignments", "history"):
        body = api.problem(api.get(f"/tickets/{missing}/{suffix}"), 404)
        assert str(missing) in body["detail"], suffix


def test_ticket_assignments_is_a_bare_array_ordered_by_sequence(api):
    e1, e2, e3 = api.engineers(3)
    ticket_id = api.ticket()["id"]
    assert api.ok(api.get(f"/tickets/{ticket_id}/assignments")) == []
    a1 = api.assign(ticket_id, e1)
    a2 = api.escalate(ticket_id, e2)
    a3 = api.reassign(a2["id"], e3)
    # Noise on another ticket must not show up.
    api.assigned()
    rows = api.ok(api.get(f"/tickets/{ticket_id}/assignments"))
    assert isinstance(rows, list)
    assert [r["id"] for r in rows] == [a1["id"], a2["id"], a3["id"]]
    assert [r["assignment_sequence"] for r in rows] == [1, 2, 3]
    assert [r["assignment_tier"] for r in rows] == [1, 2, 2]
    assert [r["status"] for r in rows] == ["escalated", "reassigned", "assigned"]
    assert all(r["ticket_id"] == ticket_id for r in rows)
    assert rows == [api.assignment_row(r["id"]) for r in rows]


def test_ticket_history_is_every_change_in_order(api):
    e1, e2, e3 = api.engineers(3)
    ticket_id = api.ticket()["id"]
    assert api.ok(api.get(f"/tickets/{ticket_id}/history")) == []
    a1 = api.assign(ticket_id, e1, reason="first pick")
    api.reject(a1["id"], "on leave")
    a2 = api.assign(ticket_id, e2)
    api.accept(a2["id"])
    api.start(a2["id"])
    a3 = api.escalate(ticket_id, e3, reason="needs L2")
    api.accept(a3["id"])
    api.complete(a3["id"], "success", 2)
    api.assigned()  # another ticket's history stays out
    history = api.ok(api.get(f"/tickets/{ticket_id}/history"))
    assert isinstance(history, list)
    assert [(h["action"], h["assignment_id"]) for h in history] == [
        ("created", a1["id"]),
        ("rejected", a1["id"]),
        ("created", a2["id"]),
        ("accepted", a2["id"]),
        ("started", a2["id"]),
        ("escalated", a2["id"]),
        ("created", a3["id"]),
        ("accepted", a3["id"]),
        ("completed", a3["id"]),
    ]
    by_action = {(h["action"], h["assignment_id"]): h for h in history}
    assert by_action[("created", a1["id"])]["reason"] == "first pick"
    assert by_action[("rejected", a1["id"])]["reason"] == "on leave"
    escalated = by_action[("escalated", a2["id"])]
    assert (escalated["previous_engineer"], escalated["new_engineer"]) == (e2, e3)
    assert escalated["reason"] == "needs L2"
    created3 = by_action[("created", a3["id"])]
    assert (created3["previous_engineer"], created3["new_engineer"]) == (e2, e3)
    assert all(h["ticket_id"] == ticket_id for h in history)
    assert all(h["changed_by"] == "e2e-tester" for h in history)
    ids = [h["id"] for h in history]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    # Each assignment's own history is its slice of the ticket's.
    for aid in (a1["id"], a2["id"], a3["id"]):
        own = api.ok(api.get(f"/assignments/{aid}/history"))
        assert own == [h for h in history if h["assignment_id"] == aid]


def test_ticket_events_in_version_order(api):
    e1, e2 = api.engineers(2)
    ticket_id = api.ticket(title="Audit me", priority="high")["id"]
    a1 = api.assign(ticket_id, e1, tier_name="Field")
    api.accept(a1["id"])
    a2 = api.escalate(ticket_id, e2, reason="too hard")
    api.remove(a2["id"], "customer cancelled")
    api.close(ticket_id, "cancelled")
    api.assigned()  # another ticket's events stay out
    events = api.ok(api.get(f"/tickets/{ticket_id}/events"))
    assert isinstance(events, list)
    assert [e["type"] for e in events] == [
        "Ticket.Opened", "Ticket.Assigned", "Ticket.Accepted", "Ticket.Escalated",
        "Ticket.Removed", "Ticket.Closed",
    ]
    assert [e["version"] for e in events] == [1, 2, 3, 4, 5, 6]
    positions = [e["position"] for e in events]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    for e in events:
        assert set(e) >= EVENT_FIELDS
        assert e["ticket_id"] == ticket_id == e["aggregate_id"]
        assert e["actor"] == "e2e-tester"
        assert e["recorded_at"].endswith("Z")
        assert isinstance(e["data"], dict)
    opened, assigned, _accepted, escalated, removed, closed = (e["data"] for e in events)
    assert opened["title"] == "Audit me" and opened["priority"] == "high"
    assert assigned["assignment_id"] == a1["id"]
    assert (assigned["engineer_id"], assigned["tier"], assigned["tier_name"]) == (e1, 1, "Field")
    assert (escalated["assignment_id"], escalated["new_assignment_id"]) == (a1["id"], a2["id"])
    assert (escalated["engineer_id"], escalated["new_engineer_id"]) == (e1, e2)
    assert (escalated["reason"], escalated["tier"]) == ("too hard", 2)
    assert (removed["assignment_id"], removed["reason"]) == (a2["id"], "customer cancelled")
    assert closed["reason"] == "cancelled"
    # The last event's position is the one the last command answered with.
    ticket = api.ticket_row(ticket_id)
    assert ticket["version"] == events[-1]["version"]


def test_an_engineer_id_is_not_a_ticket(api):
    """Engineers are aggregates in the same store; their ids are not tickets."""
    eng = api.engineer()["id"]
    aggregate_id = engineer_aggregate_id(eng)
    for path in ("", "/assignments", "/history", "/current-assignment"):
        api.problem(api.get(f"/tickets/{aggregate_id}{path}"), 404)
    with api.records_nothing():
        api.problem(api.post("/assignments", json={
            "ticket_id": str(aggregate_id), "engineer_id": eng, "tier": 1}), 404)
        api.problem(api.post(f"/tickets/{aggregate_id}/close"), 404)


def test_events_of_an_unknown_ticket_or_of_an_engineer_are_404(api):
    missing = uuid4()
    body = api.problem(api.get(f"/tickets/{missing}/events"), 404)
    assert str(missing) in body["detail"]
    eng = api.engineer()["id"]
    api.problem(api.get(f"/tickets/{engineer_aggregate_id(eng)}/events"), 404)
