"""Unit tests of the ``assignment_intervals`` fold: who held what, when.

The story and the database-free harness are those of ``fold_harness`` (real
aggregates, explicit made-up timestamps, pages folded as the runner folds them).
"""

from __future__ import annotations

from typing import Any

import pytest
from fold_harness import CURRENT, Harness, Story, busy_story, at

from ledger.domain import Engineer
from projections.registry import ALL_PROJECTIONS
from projections.intervals import AssignmentIntervalsProjection

INTERVALS = AssignmentIntervalsProjection.table


@pytest.fixture
def story() -> Story:
    s = Story()
    for eid, tier in (("ana", 1), ("ben", 2), ("cy", 2), ("dee", 1)):
        s.engineer(eid, tier=tier)
    return s


def interval(h: Harness, assignment_id: Any) -> dict[str, Any]:
    row = h.row(INTERVALS, assignment_id)
    assert row is not None
    return row


def held_at(h: Harness, t: str, **where: str) -> list[tuple[str, str]]:
    """What the endpoint's query selects, over the in-memory table:
    (engineer, assignment id) of the intervals with valid_from <= t < valid_to."""
    rows = [
        r for r in h.tables[INTERVALS.name].values()
        if r["valid_from"] <= t and (r["valid_to"] is None or r["valid_to"] > t)
        and all(r[k] == v for k, v in where.items())
    ]
    return [(r["engineer_id"], r["assignment_id"]) for r in
            sorted(rows, key=lambda r: (r["valid_from"], r["assignment_id"]))]


def test_is_one_of_all_projections() -> None:
    assert AssignmentIntervalsProjection in ALL_PROJECTIONS


def test_assign_escalate_reassign_complete(story: Story) -> None:
    t = story.ticket()
    a1 = story.do(t, "assign", engineer_id="ana", tier=1)
    assigned = story.last
    h = Harness().follow(story)
    assert interval(h, a1.id) == {
        "assignment_id": str(a1.id), "ticket_id": str(t.id), "engineer_id": "ana",
        "tier": 1, "tier_name": "L1", "valid_from": at(assigned), "valid_to": None,
        "ended_by": None, "from_position": story.position(assigned), "to_position": None,
    }
    story.do(t, "accept", a1.id, actor="ana")
    a2 = story.do(t, "escalate", next_engineer_id="ben", reason="fibre cut",
                  next_tier_name="Specialist")
    escalated = story.last
    story.do(t, "accept", a2.id, actor="ben")
    story.do(t, "start", a2.id, actor="ben")
    a3 = story.do(t, "reassign", a2.id, new_engineer_id="cy", reason="shift change")
    reassigned = story.last
    story.do(t, "accept", a3.id, actor="cy")
    story.do(t, "start", a3.id, actor="cy")
    story.do(t, "complete", a3.id, completion_status="success", time_spent_hours=2.0,
             actor="cy")
    completed = story.last
    h.follow(story)

    assert interval(h, a1.id) == {
        **interval(h, a1.id), "valid_from": at(assigned), "valid_to": at(escalated),
        "ended_by": "escalated", "to_position": story.position(escalated)}
    assert interval(h, a2.id) == {
        "assignment_id": str(a2.id), "ticket_id": str(t.id), "engineer_id": "ben",
        "tier": 2, "tier_name": "Specialist", "valid_from": at(escalated),
        "valid_to": at(reassigned), "ended_by": "reassigned",
        "from_position": story.position(escalated), "to_position": story.position(reassigned)}
    row = interval(h, a3.id)
    assert (row["engineer_id"], row["tier"], row["tier_name"]) == ("cy", 2, "Specialist")
    assert (row["valid_from"], row["valid_to"], row["ended_by"]) == (
        at(reassigned), at(completed), "completed")

    # Half-open intervals: at a hand-over instant the new holder holds it.
    assert held_at(h, at(assigned)) == [("ana", str(a1.id))]
    assert held_at(h, at(escalated)) == [("ben", str(a2.id))]
    assert held_at(h, at(reassigned)) == [("cy", str(a3.id))]
    assert held_at(h, at(completed)) == []
    assert held_at(h, "2000-01-01T00:00:00.000000Z") == []
    assert held_at(h, at(escalated), engineer_id="ana") == []


@pytest.mark.parametrize(("command", "kwargs", "ended_by"), [
    ("reject", {"reason": "busy"}, "rejected"),
    ("remove", {"reason": "duplicate"}, "removed"),
    ("complete", {"completion_status": "failed", "time_spent_hours": 1.0}, "failed"),
    ("complete", {"completion_status": "parts_required", "time_spent_hours": 1.0}, "completed"),
])
def test_every_way_an_assignment_ends(
    story: Story, command: str, kwargs: dict[str, Any], ended_by: str
) -> None:
    t = story.ticket()
    a = story.do(t, "assign", engineer_id="dee", tier=1)
    if command == "complete":
        story.do(t, "accept", a.id, actor="dee")
    story.do(t, command, a.id, **kwargs)
    ended = story.last
    h = Harness().follow(story)
    row = interval(h, a.id)
    assert (row["valid_to"], row["ended_by"], row["to_position"]) == (
        at(ended), ended_by, story.position(ended))
    # The ticket is open again: a new assignment opens a new interval.
    b = story.do(t, "assign", engineer_id="ana", tier=1)
    h.follow(story)
    assert interval(h, b.id)["valid_to"] is None
    assert interval(h, a.id) == row


def test_accept_and_start_leave_the_interval_open(story: Story) -> None:
    t = story.ticket()
    a = story.do(t, "assign", engineer_id="ana", tier=1)
    h = Harness().follow(story)
    before = interval(h, a.id)
    story.do(t, "accept", a.id, actor="ana")
    story.do(t, "start", a.id, actor="ana")
    assert interval(h.follow(story), a.id) == before


def test_open_intervals_are_the_current_assignments() -> None:
    """On a busy story (every command, many tickets), the open intervals are
    exactly the current_ticket_assignments rows, no ticket ever holds two
    intervals at once, and each ticket's intervals tile its assigned time."""
    story = busy_story()
    for engineer in ("ana", "ben"):  # and two still held at the end
        t = story.ticket()
        a = story.do(t, "assign", engineer_id=engineer, tier=1)
        story.do(t, "accept", a.id, actor=engineer)
    h = Harness().follow(story, page_size=3)
    open_rows = {(r["ticket_id"], r["engineer_id"], r["tier"])
                 for r in h.tables[INTERVALS.name].values() if r["valid_to"] is None}
    current = {(r["ticket_id"], r["engineer_id"], r["assignment_tier"])
               for r in h.tables[CURRENT.name].values()}
    assert open_rows == current and current
    by_ticket: dict[str, list[dict[str, Any]]] = {}
    for r in h.tables[INTERVALS.name].values():
        by_ticket.setdefault(r["ticket_id"], []).append(r)
    assert len(h.tables[INTERVALS.name]) > len(by_ticket)
    for rows in by_ticket.values():
        rows.sort(key=lambda r: r["from_position"])
        for earlier, later in zip(rows, rows[1:], strict=False):
            assert earlier["valid_to"] is not None
            assert earlier["valid_to"] <= later["valid_from"]
            assert earlier["to_position"] <= later["from_position"]
        for r in rows:
            assert r["valid_to"] is None or r["valid_from"] <= r["valid_to"]
            assert (r["ended_by"] is None) == (r["valid_to"] is None) == (r["to_position"] is None)


def test_engineer_events_are_not_folded() -> None:
    story = Story()
    story.engineer("zed", tier=1)
    assert type(story.last) not in AssignmentIntervalsProjection().event_types
    assert isinstance(story.last, Engineer.Registered)
