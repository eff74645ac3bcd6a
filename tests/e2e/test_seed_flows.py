"""The seed documents' flows, end to end over REST.

Seed 002: a ticket escalates L1 -> L2 -> L3 and is resolved at L3.
Seed 004: an assignment is reassigned to another engineer, then removed.
"""

from __future__ import annotations


def test_seed_002_escalation_l1_l2_l3(api):
    l1 = api.engineer(name="Field engineer", tier=1)["id"]
    l2 = api.engineer(name="Dealer engineer", tier=2)["id"]
    l3 = api.engineer(name="OEM specialist", tier=3)["id"]
    ticket_id = api.ticket(title="MRI artefacts", priority="high", equipment_id="EQ-MRI-1",
                           required_skill="mri")["id"]

    first = api.assign(ticket_id, l1, tier=1, tier_name="L1 - Field", reason="Initial",
                       equipment_id="EQ-MRI-1")
    assert (first["assignment_sequence"], first["assignment_tier"], first["status"]) == (
        1, 1, "assigned")
    assert api.accept(first["id"])["status"] == "accepted"
    assert api.start(first["id"])["status"] == "in_progress"
    assert api.ticket_row(ticket_id)["status"] == "in_progress"

    second = api.escalate(ticket_id, l2, reason="Coil fault beyond L1",
                          next_tier_name="L2 - Dealer")
    assert (second["assignment_sequence"], second["assignment_tier"]) == (2, 2)
    assert second["assignment_tier_name"] == "L2 - Dealer"
    assert second["equipment_id"] == "EQ-MRI-1"
    assert api.ticket_row(ticket_id)["status"] == "assigned"
    api.accept(second["id"])

    third = api.escalate(ticket_id, l3, reason="Needs OEM firmware",
                         next_tier_name="L3 - OEM")
    assert (third["assignment_sequence"], third["assignment_tier"]) == (3, 3)
    current = api.ok(api.get(f"/tickets/{ticket_id}/current-assignment"))
    assert (current["engineer_id"], current["assignment_sequence"],
            current["assignment_tier"]) == (l3, 3, 3)

    api.accept(third["id"])
    api.start(third["id"])
    done = api.complete(third["id"], "success", 4.5, diagnosis="firmware",
                        actions_taken="reflashed", customer_rating=4)
    assert done["status"] == "completed"

    rows = api.ok(api.get(f"/tickets/{ticket_id}/assignments"))
    assert [r["id"] for r in rows] == [first["id"], second["id"], third["id"]]
    assert [r["assignment_sequence"] for r in rows] == [1, 2, 3]
    assert [r["assignment_tier"] for r in rows] == [1, 2, 3]
    assert [r["engineer_id"] for r in rows] == [l1, l2, l3]
    assert [r["status"] for r in rows] == ["escalated", "escalated", "completed"]
    assert [r["completion_status"] for r in rows] == ["escalated", "escalated", "success"]
    assert [r["escalation_reason"] for r in rows] == [
        "Coil fault beyond L1", "Needs OEM firmware", None]
    assert all(r["completed_at"] is not None for r in rows)
    assert rows[0]["completed_at"] <= rows[1]["completed_at"] <= rows[2]["completed_at"]
    assert rows[2]["time_spent_hours"] == 4.5
    assert (rows[2]["diagnosis"], rows[2]["actions_taken"], rows[2]["customer_rating"]) == (
        "firmware", "reflashed", 4)

    ticket = api.ticket_row(ticket_id)
    assert ticket["status"] == "resolved"
    assert ticket["resolved_at"] is not None
    assert ticket["current_assignment"] is None
    assert ticket["assignment_count"] == 3
    api.problem(api.get(f"/tickets/{ticket_id}/current-assignment"), 404)

    history = api.ok(api.get(f"/tickets/{ticket_id}/history"))
    assert [(h["action"], h["assignment_id"]) for h in history] == [
        ("created", first["id"]),
        ("accepted", first["id"]),
        ("started", first["id"]),
        ("escalated", first["id"]),
        ("created", second["id"]),
        ("accepted", second["id"]),
        ("escalated", second["id"]),
        ("created", third["id"]),
        ("accepted", third["id"]),
        ("started", third["id"]),
        ("completed", third["id"]),
    ]
    escalations = [h for h in history if h["action"] == "escalated"]
    assert [(h["previous_engineer"], h["new_engineer"], h["reason"]) for h in escalations] == [
        (l1, l2, "Coil fault beyond L1"), (l2, l3, "Needs OEM firmware")]
    assert [h["changed_at"] for h in history] == sorted(h["changed_at"] for h in history)

    # Nobody holds the ticket any more.
    for eng in (l1, l2, l3):
        assert api.engineer_row(eng)["open_assignments"] == 0
    assert api.ok(api.get("/assignments", params={"status": "active"}))["items"] == []
    tiers = {t: api.ok(api.get("/assignments", params={"tier": t}))["items"] for t in (1, 2, 3)}
    assert {t: [a["id"] for a in items] for t, items in tiers.items()} == {
        1: [first["id"]], 2: [second["id"]], 3: [third["id"]]}


def test_seed_004_reassign_then_remove(api):
    alice = api.engineer(name="Alice")["id"]
    bob = api.engineer(name="Bob")["id"]
    ticket_id = api.ticket(title="Login page broken")["id"]

    original = api.assign(ticket_id, alice, reason="AI suggestion", type="auto")
    moved = api.reassign(original["id"], bob, reason="Manual reassignment")
    assert moved["engineer_id"] == bob
    assert moved["assignment_tier"] == original["assignment_tier"]
    assert api.assignment_row(original["id"])["status"] == "reassigned"
    assert api.ticket_row(ticket_id)["current_assignment"]["id"] == moved["id"]

    removed = api.remove(moved["id"], reason="Removed by user")
    assert removed["status"] == "removed"
    ticket = api.ticket_row(ticket_id)
    assert (ticket["status"], ticket["current_assignment"]) == ("open", None)

    history = api.ok(api.get(f"/tickets/{ticket_id}/history"))
    assert [h["action"] for h in history] == ["created", "reassigned", "created", "removed"]
    created, reassigned, created_again, gone = history
    assert (created["assignment_id"], created["new_engineer"], created["reason"]) == (
        original["id"], alice, "AI suggestion")
    assert (reassigned["assignment_id"], reassigned["previous_engineer"],
            reassigned["new_engineer"], reassigned["reason"]) == (
        original["id"], alice, bob, "Manual reassignment")
    assert (created_again["assignment_id"], created_again["new_engineer"]) == (moved["id"], bob)
    assert (gone["assignment_id"], gone["previous_engineer"], gone["reason"]) == (
        moved["id"], bob, "Removed by user")
    assert all(h["changed_by"] == "e2e-tester" for h in history)

    # Each assignment's own history (seed 004: GET /assignments/{id}/history).
    assert [h["action"] for h in api.ok(api.get(f"/assignments/{original['id']}/history"))] == [
        "created", "reassigned"]
    assert [h["action"] for h in api.ok(api.get(f"/assignments/{moved['id']}/history"))] == [
        "created", "removed"]

    # Soft removal: both rows are still there, nothing is active, nobody holds it.
    statuses = [a["status"] for a in api.ok(api.get(f"/tickets/{ticket_id}/assignments"))]
    assert statuses == ["reassigned", "removed"]
    assert api.ok(api.get("/assignments", params={"status": "active"}))["items"] == []
    assert api.engineer_row(alice)["open_assignments"] == 0
    assert api.engineer_row(bob)["open_assignments"] == 0
    # ... and the ticket can be assigned again.
    assert api.assign(ticket_id, alice)["assignment_sequence"] == 3
