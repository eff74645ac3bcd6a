"""Unit tests of the folds of ``tickets``, ``engineer_assignments`` and
``current_ticket_assignments``: events in, rows out, through ``fold_harness``.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from ledger.domain import (
    COMPLETION_STATUSES,
    Engineer,
)

from fold_harness import (
    ASSIGNMENTS,
    CURRENT,
    DISPATCHER,
    Harness,
    Story,
    assert_times_come_from_events,
    at,
)


def test_ticket_opened_row(story: Story) -> None:
    t = story.ticket(title="PON port flapping", description="32 homes", priority="critical",
                     required_skill="pon", equipment_id="EQ-7", reference="REF-1")
    opened = story.last
    h = Harness().follow(story)
    assert h.ticket(t) == {
        "id": str(t.id),
        "title": "PON port flapping",
        "description": "32 homes",
        "priority": "critical",
        "required_skill": "pon",
        "equipment_id": "EQ-7",
        "reference": "REF-1",
        "status": "open",
        "version": 1,
        "current_assignment_id": None,
        "current_engineer_id": None,
        "current_tier": None,
        "assignment_count": 0,
        "opened_by": DISPATCHER,
        "opened_position": 1,
        "created_at": at(opened),
        "updated_at": at(opened),
        "resolved_at": None,
        "closed_at": None,
        "territory": None,
        "required_certification": None,
        "due_at": None,
        "location_pole": None,
        "location_pon": None,
        "location_zone": None,
        "location_dr": None,
        "owner_team": None,
        "need": '[null,"pon",null]',
    }


def test_ticket_status_follows_its_assignments(story: Story, roster: dict[str, Engineer]) -> None:
    t = story.ticket()
    created = at(story.last)
    h = Harness().follow(story)

    def check(status: str, **expected: Any) -> None:
        h.follow(story)
        row = h.ticket(t)
        assert row["status"] == status == t.status
        assert row["version"] == t.version
        assert row["updated_at"] == at(story.last)
        assert row["created_at"] == created
        for key, value in expected.items():
            assert row[key] == value, key

    no_current = {"current_assignment_id": None, "current_engineer_id": None, "current_tier": None}

    a1 = story.do(t, "assign", engineer_id="ana", tier=1)
    check("assigned", current_assignment_id=str(a1.id), current_engineer_id="ana",
          current_tier=1, assignment_count=1)
    story.do(t, "accept", a1.id, actor="ana")
    check("assigned", current_assignment_id=str(a1.id), assignment_count=1)
    story.do(t, "start", a1.id, actor="ana")
    check("in_progress", current_assignment_id=str(a1.id), current_engineer_id="ana")
    a2 = story.do(t, "escalate", next_engineer_id="ben", reason="Beyond the drop cable")
    check("assigned", current_assignment_id=str(a2.id), current_engineer_id="ben",
          current_tier=2, assignment_count=2)
    a3 = story.do(t, "reassign", a2.id, new_engineer_id="cy", reason="Shift change")
    check("assigned", current_assignment_id=str(a3.id), current_engineer_id="cy",
          current_tier=2, assignment_count=3)
    story.do(t, "reject", a3.id, reason="Out of area", actor="cy")
    check("open", assignment_count=3, **no_current)
    a4 = story.do(t, "assign", engineer_id="ana", tier=1)
    check("assigned", current_assignment_id=str(a4.id), assignment_count=4)
    story.do(t, "remove", a4.id, reason="Duplicate dispatch")
    check("open", assignment_count=4, **no_current)
    a5 = story.do(t, "assign", engineer_id="ben", tier=2)
    story.do(t, "accept", a5.id, actor="ben")
    story.do(t, "complete", a5.id, completion_status="parts_required", time_spent_hours=1.0,
             actor="ben")
    check("open", assignment_count=5, resolved_at=None, **no_current)
    a6 = story.do(t, "assign", engineer_id="ben", tier=2)
    story.do(t, "accept", a6.id, actor="ben")
    story.do(t, "complete", a6.id, completion_status="success", time_spent_hours=2.5,
             actor="ben")
    resolved = at(story.last)
    check("resolved", assignment_count=6, resolved_at=resolved, closed_at=None, **no_current)
    story.do(t, "close", reason="Customer confirmed")
    closed = at(story.last)
    check("closed", resolved_at=resolved, closed_at=closed, **no_current)
    story.do(t, "reopen", reason="Fault came back")
    check("open", resolved_at=None, closed_at=None, assignment_count=6, **no_current)
    a7 = story.do(t, "assign", engineer_id="ana", tier=1)
    check("assigned", current_assignment_id=str(a7.id), assignment_count=7)
    story.do(t, "remove", a7.id, reason=None)
    story.do(t, "close", reason="Withdrawn")
    check("closed", closed_at=at(story.last), resolved_at=None)
    assert_times_come_from_events(h)


def test_ticket_completed_failed_leaves_it_open(story: Story, roster: dict[str, Engineer]) -> None:
    t = story.ticket()
    a = story.do(t, "assign", engineer_id="ana", tier=1)
    story.do(t, "accept", a.id)
    story.do(t, "complete", a.id, completion_status="failed", time_spent_hours=0.5)
    row = Harness().follow(story).ticket(t)
    assert row["status"] == "open"
    assert row["resolved_at"] is None
    assert row["current_assignment_id"] is None


def test_ticket_timestamps_are_canonical_utc_text(story: Story) -> None:
    """A timestamp recorded in another zone is stored as the same instant in UTC."""
    sast = timezone(timedelta(hours=2))
    t = story.ticket()
    story.do(t, "close", reason=None, timestamp=datetime(2022, 1, 2, 3, 4, 5, 6, tzinfo=sast))
    row = Harness().follow(story).ticket(t)
    assert row["closed_at"] == "2022-01-02T01:04:05.000006Z"
    assert row["updated_at"] == "2022-01-02T01:04:05.000006Z"


# ===================================================================== engineer_assignments


def _assignment(**overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(ASSIGNMENTS.column_names)
    row.update(overrides)
    return row


def test_assignment_assigned_row(story: Story, roster: dict[str, Engineer]) -> None:
    t = story.ticket(equipment_id="EQ-1")
    a = story.do(t, "assign", engineer_id="ana", tier=1, tier_name="Field",
                 reason="Initial dispatch", assignment_type="auto")
    assigned = at(story.last)
    h = Harness().follow(story)
    assert h.assignment(a.id) == _assignment(
        id=str(a.id), ticket_id=str(t.id), engineer_id="ana", equipment_id="EQ-1",
        assignment_sequence=1, assignment_tier=1, assignment_tier_name="Field",
        assignment_reason="Initial dispatch", assignment_type="auto", status="assigned",
        assigned_by=DISPATCHER, assigned_at=assigned, created_at=assigned, updated_at=assigned,
    )

    # Own equipment beats the ticket's; default tier name is L<tier>.
    story.do(t, "remove", a.id, reason=None)
    b = story.do(t, "assign", engineer_id="ben", tier=2, equipment_id="EQ-2")
    row = h.follow(story).assignment(b.id)
    assert (row["equipment_id"], row["assignment_tier_name"], row["assignment_type"]) == (
        "EQ-2", "L2", "manual")
    assert row["assignment_sequence"] == 2
    assert row["assignment_reason"] is None


def test_assignment_accept_start_complete(story: Story, roster: dict[str, Engineer]) -> None:
    t = story.ticket()
    a = story.do(t, "assign", engineer_id="ana", tier=1)
    assigned = at(story.last)
    h = Harness().follow(story)
    base = h.assignment(a.id)

    story.do(t, "accept", a.id, actor="ana")
    accepted = at(story.last)
    assert h.follow(story).assignment(a.id) == {
        **base, "status": "accepted", "accepted_at": accepted, "updated_at": accepted}

    story.do(t, "start", a.id, actor="ana")
    started = at(story.last)
    assert h.follow(story).assignment(a.id) == {
        **base, "status": "in_progress", "accepted_at": accepted, "started_at": started,
        "updated_at": started}

    parts = [{"part_number": "SPL-1x8", "part_name": "1:8 splitter", "quantity": 2, "cost": 42.5}]
    story.do(t, "complete", a.id, completion_status="success", time_spent_hours=3.25,
             diagnosis="Faulty splitter", actions_taken="Replaced splitter", parts_used=parts,
             customer_rating=5, customer_feedback="Quick and tidy", actor="ana")
    completed = at(story.last)
    assert h.follow(story).assignment(a.id) == {
        **base, "status": "completed", "accepted_at": accepted, "started_at": started,
        "completed_at": completed, "completion_status": "success", "time_spent_hours": 3.25,
        "diagnosis": "Faulty splitter", "actions_taken": "Replaced splitter",
        "parts_used": parts, "customer_rating": 5, "customer_feedback": "Quick and tidy",
        "updated_at": completed,
    }
    assert base["created_at"] == base["assigned_at"] == assigned
    assert_times_come_from_events(h)


@pytest.mark.parametrize("outcome", COMPLETION_STATUSES)
def test_assignment_completion_outcomes(
    story: Story, roster: dict[str, Engineer], outcome: str
) -> None:
    t = story.ticket()
    a = story.do(t, "assign", engineer_id="ana", tier=1)
    story.do(t, "accept", a.id)
    story.do(t, "complete", a.id, completion_status=outcome, time_spent_hours=0.0)
    row = Harness().follow(story).assignment(a.id)
    assert row["status"] == ("failed" if outcome == "failed" else "completed")
    assert row["completion_status"] == outcome
    assert row["completed_at"] == at(story.last)
    assert row["time_spent_hours"] == 0.0
    assert row["parts_used"] is None
    assert row["started_at"] is None


def test_assignment_rejected(story: Story, roster: dict[str, Engineer]) -> None:
    t = story.ticket()
    a = story.do(t, "assign", engineer_id="ana", tier=1)
    h = Harness().follow(story)
    base = h.assignment(a.id)
    story.do(t, "reject", a.id, reason="Out of area today", actor="ana")
    rejected = at(story.last)
    assert h.follow(story).assignment(a.id) == {
        **base, "status": "rejected", "rejected_at": rejected,
        "rejection_reason": "Out of area today", "updated_at": rejected}


def test_assignment_escalated(story: Story, roster: dict[str, Engineer]) -> None:
    t = story.ticket(equipment_id="EQ-9")
    a = story.do(t, "assign", engineer_id="ana", tier=1)
    story.do(t, "accept", a.id, actor="ana")
    story.do(t, "start", a.id, actor="ana")
    h = Harness().follow(story)
    before = h.assignment(a.id)
    b = story.do(t, "escalate", next_engineer_id="ben", reason="Fault beyond the drop cable",
                 next_tier_name="Specialist", actor="lead@example.com")
    escalated = at(story.last)
    h.follow(story)
    assert h.assignment(a.id) == {
        **before, "status": "escalated", "completion_status": "escalated",
        "escalation_reason": "Fault beyond the drop cable", "completed_at": escalated,
        "updated_at": escalated}
    assert h.assignment(b.id) == _assignment(
        id=str(b.id), ticket_id=str(t.id), engineer_id="ben", equipment_id="EQ-9",
        assignment_sequence=2, assignment_tier=2, assignment_tier_name="Specialist",
        assignment_reason="Fault beyond the drop cable", assignment_type="manual",
        status="assigned", assigned_by="lead@example.com", assigned_at=escalated,
        created_at=escalated, updated_at=escalated,
    )
    # Escalation from a merely assigned (not yet accepted) assignment, default tier name.
    c = story.do(t, "escalate", next_engineer_id="cy", reason="Core fault")
    h.follow(story)
    assert h.assignment(b.id)["status"] == "escalated"
    assert h.assignment(b.id)["accepted_at"] is None
    row = h.assignment(c.id)
    assert (row["assignment_tier"], row["assignment_tier_name"], row["assignment_sequence"]) == (
        3, "L3", 3)


def test_assignment_reassigned(story: Story, roster: dict[str, Engineer]) -> None:
    t = story.ticket()
    a = story.do(t, "assign", engineer_id="ana", tier=2, tier_name="Backline",
                 equipment_id="EQ-3")
    story.do(t, "accept", a.id, actor="ana")
    h = Harness().follow(story)
    before = h.assignment(a.id)
    b = story.do(t, "reassign", a.id, new_engineer_id="ben", reason="Shift change handover")
    reassigned = at(story.last)
    h.follow(story)
    assert h.assignment(a.id) == {
        **before, "status": "reassigned", "completed_at": reassigned, "updated_at": reassigned}
    assert h.assignment(a.id)["completion_status"] is None
    assert h.assignment(b.id) == _assignment(
        id=str(b.id), ticket_id=str(t.id), engineer_id="ben", equipment_id="EQ-3",
        assignment_sequence=2, assignment_tier=2, assignment_tier_name="Backline",
        assignment_reason="Shift change handover", assignment_type="manual",
        status="assigned", assigned_by=DISPATCHER, assigned_at=reassigned,
        created_at=reassigned, updated_at=reassigned,
    )


def test_assignment_removed(story: Story, roster: dict[str, Engineer]) -> None:
    t = story.ticket()
    a = story.do(t, "assign", engineer_id="ana", tier=1)
    story.do(t, "accept", a.id, actor="ana")
    story.do(t, "start", a.id, actor="ana")
    h = Harness().follow(story)
    before = h.assignment(a.id)
    story.do(t, "remove", a.id, reason="Wrong ticket")
    removed = at(story.last)
    assert h.follow(story).assignment(a.id) == {
        **before, "status": "removed", "completed_at": removed, "updated_at": removed}


# ===================================================================== current_ticket_assignments


def test_current_assignment_follows_the_active_one(story: Story, roster: dict[str, Engineer]) -> None:
    t = story.ticket()
    h = Harness().follow(story)
    assert h.current(t) is None

    a = story.do(t, "assign", engineer_id="ana", tier=1)
    assigned = at(story.last)
    assert h.follow(story).current(t) == {
        "ticket_id": str(t.id), "engineer_id": "ana", "assignment_sequence": 1,
        "assignment_tier": 1, "status": "assigned", "assigned_at": assigned,
        "completed_at": None}
    story.do(t, "accept", a.id)
    assert h.follow(story).current(t)["status"] == "accepted"
    story.do(t, "start", a.id)
    assert h.follow(story).current(t) == {
        "ticket_id": str(t.id), "engineer_id": "ana", "assignment_sequence": 1,
        "assignment_tier": 1, "status": "in_progress", "assigned_at": assigned,
        "completed_at": None}

    story.do(t, "escalate", next_engineer_id="ben", reason="L2 needed")
    escalated = at(story.last)
    assert h.follow(story).current(t) == {
        "ticket_id": str(t.id), "engineer_id": "ben", "assignment_sequence": 2,
        "assignment_tier": 2, "status": "assigned", "assigned_at": escalated,
        "completed_at": None}

    story.do(t, "reassign", t.active_id, new_engineer_id="cy", reason=None)
    reassigned = at(story.last)
    assert h.follow(story).current(t) == {
        "ticket_id": str(t.id), "engineer_id": "cy", "assignment_sequence": 3,
        "assignment_tier": 2, "status": "assigned", "assigned_at": reassigned,
        "completed_at": None}


@pytest.mark.parametrize("ending", ["reject", "complete", "complete_failed", "remove"])
def test_current_assignment_deleted_when_it_ends(
    story: Story, roster: dict[str, Engineer], ending: str
) -> None:
    t = story.ticket()
    other = story.ticket()
    a = story.do(t, "assign", engineer_id="ana", tier=1)
    story.do(other, "assign", engineer_id="ben", tier=2)
    if ending.startswith("complete"):
        story.do(t, "accept", a.id)
    h = Harness().follow(story)
    assert h.current(t) is not None
    if ending == "reject":
        story.do(t, "reject", a.id, reason="No")
    elif ending == "remove":
        story.do(t, "remove", a.id, reason=None)
    else:
        status = "failed" if ending == "complete_failed" else "success"
        story.do(t, "complete", a.id, completion_status=status, time_spent_hours=1.0)
    h.follow(story)
    assert h.current(t) is None
    assert h.current(other) is not None  # only that ticket's row goes
    assert len(h.rows(CURRENT)) == 1


# ===================================================================== assignment_history
