"""The rollback's rules (``projections.legacy_export``): a ticket's read rows ->
the legacy inline columns."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ledger.legacy.ids import legacy_ticket_id
from projections.legacy_export import exported_assignment, legacy_columns

T0 = datetime(2024, 1, 2, 8, 0, tzinfo=UTC)


def assignment(seq, status, **extra):
    return {"assignment_sequence": seq, "status": status, "engineer_id": f"e{seq}",
            "assignment_tier": seq, "assignment_tier_name": f"L{seq}",
            "assigned_at": "2024-01-02T08:00:00.000000Z", "started_at": None,
            "completed_at": "2024-01-02T10:00:00.000000Z", **extra}


def test_exported_assignment_is_the_current_or_the_resolving_one():
    history = [assignment(2, "completed"), assignment(1, "escalated")]
    assert exported_assignment("resolved", history)["engineer_id"] == "e2"
    assert exported_assignment("open", history) is None  # completed but not resolved
    assert exported_assignment("assigned", [assignment(1, "escalated"),
                                            assignment(2, "accepted")])["engineer_id"] == "e2"
    assert exported_assignment("open", [assignment(1, "rejected")]) is None


def test_legacy_columns():
    ticket_id = legacy_ticket_id("service_tickets", "42")
    ticket = {"id": str(ticket_id), "reference": "42", "status": "closed", "title": "T",
              "description": None, "priority": "high", "resolved_at": None,
              "created_at": "2024-01-02T07:00:00.000000Z",
              "updated_at": "2024-01-02T11:00:00.000000Z"}
    out = legacy_columns(ticket, assignment(1, "completed"), "Ada")
    assert out["id"] == "42"
    assert (out["assigned_engineer_id"], out["assigned_engineer_name"], out["assignment_tier"],
            out["assignment_tier_name"]) == ("e1", "Ada", 1, "L1")
    assert out["assigned_at"] == T0
    assert out["resolved_at"] == T0 + timedelta(hours=2)  # the completing assignment's
    assert out["created_at"] == T0 - timedelta(hours=1)
    bare = legacy_columns({**ticket, "status": "open"}, None, None)
    assert bare["assigned_engineer_id"] is bare["assigned_at"] is None
