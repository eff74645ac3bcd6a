"""Unit tests of the folds of ``assignment_history`` and ``engineers``, events a
projection ignores, and replay properties (page size, determinism).
"""

from __future__ import annotations

from typing import Any

import pytest

from ledger.domain import (
    Engineer,
)
from projections.assignments import (
    AssignmentHistoryProjection,
    CurrentAssignmentsProjection,
    EngineerAssignmentsProjection,
)

from fold_harness import (
    ADMIN,
    ASSIGNMENTS,
    CURRENT,
    DISPATCHER,
    ENGINEERS,
    HISTORY,
    TICKETS,
    Harness,
    Story,
    assert_times_come_from_events,
    at,
    busy_story,
)



def test_history_one_row_per_change(story: Story, roster: dict[str, Engineer]) -> None:
    t = story.ticket()
    a = story.do(t, "assign", engineer_id="ana", tier=1, reason="Initial dispatch")
    e_assigned = story.last
    story.do(t, "accept", a.id, actor="ana")
    e_accepted = story.last
    story.do(t, "start", a.id, actor="ana")
    e_started = story.last
    b = story.do(t, "escalate", next_engineer_id="ben", reason="Needs L2", actor="lead")
    e_escalated = story.last
    c = story.do(t, "reassign", b.id, new_engineer_id="cy", reason="Ben is off", actor="lead")
    e_reassigned = story.last
    story.do(t, "reject", c.id, reason="Not my area", actor="cy")
    e_rejected = story.last
    d = story.do(t, "assign", engineer_id="ben", tier=2)
    e_assigned2 = story.last
    story.do(t, "remove", d.id, reason="Duplicate")
    e_removed = story.last
    f = story.do(t, "assign", engineer_id="ana", tier=1)
    e_assigned3 = story.last
    story.do(t, "accept", f.id, actor="ana")
    e_accepted3 = story.last
    story.do(t, "complete", f.id, completion_status="success", time_spent_hours=1.5, actor="ana")
    e_completed = story.last
    story.do(t, "close", reason="Done")  # not an assignment change: no row

    h = Harness().follow(story)
    p = story.position

    def row(event: Any, n: int, assignment: Any, action: str, previous: str | None,
            new: str | None, reason: str | None, by: str) -> dict[str, Any]:
        return {"id": p(event) * 8 + n, "assignment_id": str(assignment.id),
                "ticket_id": str(t.id), "previous_engineer": previous, "new_engineer": new,
                "action": action, "reason": reason, "changed_by": by, "changed_at": at(event)}

    assert h.history(t) == [
        row(e_assigned, 0, a, "created", None, "ana", "Initial dispatch", DISPATCHER),
        row(e_accepted, 0, a, "accepted", "ana", "ana", None, "ana"),
        row(e_started, 0, a, "started", "ana", "ana", None, "ana"),
        row(e_escalated, 0, a, "escalated", "ana", "ben", "Needs L2", "lead"),
        row(e_escalated, 1, b, "created", "ana", "ben", "Needs L2", "lead"),
        row(e_reassigned, 0, b, "reassigned", "ben", "cy", "Ben is off", "lead"),
        row(e_reassigned, 1, c, "created", "ben", "cy", "Ben is off", "lead"),
        row(e_rejected, 0, c, "rejected", "cy", None, "Not my area", "cy"),
        row(e_assigned2, 0, d, "created", None, "ben", None, DISPATCHER),
        row(e_removed, 0, d, "removed", "ben", None, "Duplicate", DISPATCHER),
        row(e_assigned3, 0, f, "created", None, "ana", None, DISPATCHER),
        row(e_accepted3, 0, f, "accepted", "ana", "ana", None, "ana"),
        row(e_completed, 0, f, "completed", "ana", "ana", "success", "ana"),
    ]
    actions = {r["action"] for r in h.history()}
    assert actions == {"created", "accepted", "rejected", "started", "completed", "escalated",
                       "reassigned", "removed"}
    assert_times_come_from_events(h)


def test_history_ids_are_deterministic_and_in_ledger_order(
    story: Story, roster: dict[str, Engineer]
) -> None:
    tickets = [story.ticket() for _ in range(3)]
    for t in tickets:
        story.do(t, "assign", engineer_id="ana", tier=1)
        story.do(t, "escalate", next_engineer_id="ben", reason="up")
        story.do(t, "reassign", t.active_id, new_engineer_id="cy", reason="swap")
        story.do(t, "remove", t.active_id, reason=None)
    one = Harness().follow(story)
    again = Harness().follow(story, page_size=4)
    assert one.history() == again.history()
    ids = [r["id"] for r in one.history()]
    assert ids == sorted(ids) and len(ids) == len(set(ids)) == 3 * (1 + 2 + 2 + 1)


# ===================================================================== engineers


def test_engineer_registered_row(story: Story) -> None:
    story.engineer("ana", name="Ana Silva", skills=["fibre", "otdr"], tier=2, capacity=4,
                   availability=0.75)
    registered = at(story.last)
    h = Harness().follow(story)
    assert h.engineer("ana") == {
        "id": "ana", "name": "Ana Silva", "skills": ["fibre", "otdr"], "tier": 2, "capacity": 4,
        "availability": 0.75, "active": True, "open_assignments": 0, "registered_position": 1,
        "created_at": registered, "updated_at": registered, "territories": [],
        "certifications": [],
    }


def test_engineer_updated_patches_fields(story: Story, roster: dict[str, Engineer]) -> None:
    t = story.ticket()
    story.do(t, "assign", engineer_id="ana", tier=1)
    h = Harness().follow(story)
    before = h.engineer("ana")
    story.do(roster["ana"], "update", changes={"capacity": 7, "skills": ["fibre", "wifi"],
                                               "active": False}, actor=ADMIN)
    updated = at(story.last)
    assert h.follow(story).engineer("ana") == {
        **before, "capacity": 7, "skills": ["fibre", "wifi"], "active": False,
        "updated_at": updated}
    assert h.engineer("ana")["open_assignments"] == 1
    assert h.engineer("ana")["created_at"] == before["created_at"] != updated
    # Other engineers are untouched.
    assert h.engineer("ben")["updated_at"] == h.engineer("ben")["created_at"]


def test_engineer_open_assignments_count_up_and_down(
    story: Story, roster: dict[str, Engineer]
) -> None:
    h = Harness().follow(story)
    t1, t2, t3 = story.ticket(), story.ticket(), story.ticket()

    def load() -> dict[str, int]:
        return h.follow(story).open_assignments()

    a1 = story.do(t1, "assign", engineer_id="ana", tier=1)
    assert load() == {"ana": 1, "ben": 0, "cy": 0}
    story.do(t2, "assign", engineer_id="ana", tier=1)
    assert load() == {"ana": 2, "ben": 0, "cy": 0}
    story.do(t1, "accept", a1.id)
    story.do(t1, "start", a1.id)
    assert load() == {"ana": 2, "ben": 0, "cy": 0}  # accept/start do not change the load
    b1 = story.do(t1, "escalate", next_engineer_id="ben", reason="L2")
    assert load() == {"ana": 1, "ben": 1, "cy": 0}
    c1 = story.do(t1, "reassign", b1.id, new_engineer_id="cy", reason=None)
    assert load() == {"ana": 1, "ben": 0, "cy": 1}
    story.do(t1, "accept", c1.id)
    story.do(t1, "complete", c1.id, completion_status="success", time_spent_hours=1.0)
    assert load() == {"ana": 1, "ben": 0, "cy": 0}
    story.do(t2, "reject", t2.active_id, reason="busy")
    assert load() == {"ana": 0, "ben": 0, "cy": 0}
    story.do(t3, "assign", engineer_id="ben", tier=2)
    story.do(t2, "assign", engineer_id="ben", tier=2)
    assert load() == {"ana": 0, "ben": 2, "cy": 0}
    story.do(t3, "remove", t3.active_id, reason=None)
    assert load() == {"ana": 0, "ben": 1, "cy": 0}
    story.do(t2, "accept", t2.active_id)
    story.do(t2, "complete", t2.active_id, completion_status="failed", time_spent_hours=2.0)
    assert load() == {"ana": 0, "ben": 0, "cy": 0}
    # Escalating to the engineer who already holds it nets to zero.
    story.do(t3, "assign", engineer_id="ben", tier=2)
    story.do(t3, "escalate", next_engineer_id="ben", reason="self")
    assert load() == {"ana": 0, "ben": 1, "cy": 0}
    assert_times_come_from_events(h)


def test_engineer_load_does_not_touch_updated_at(story: Story, roster: dict[str, Engineer]) -> None:
    """Assignment events change the count only; the row's timestamps stay as registered."""
    h = Harness().follow(story)
    before = h.engineer("ana")
    t = story.ticket()
    story.do(t, "assign", engineer_id="ana", tier=1)
    assert h.follow(story).engineer("ana") == {**before, "open_assignments": 1}


def test_events_for_unknown_rows_are_ignored(story: Story) -> None:
    """An assignment event for an engineer that was never registered (or a ticket this
    projection never saw) changes nothing and invents no row."""
    t = story.ticket()
    story.do(t, "assign", engineer_id="ghost", tier=1)
    h = Harness()
    h.fold(story.events[1:], first_position=2)  # without the Opened event
    assert h.rows(TICKETS) == []
    assert h.rows(ENGINEERS) == []
    assert len(h.rows(ASSIGNMENTS)) == 1


def test_projections_ignore_events_they_do_not_handle(story: Story, roster: dict[str, Engineer]) -> None:
    t = story.ticket()
    story.do(t, "close", reason=None)
    story.do(roster["ana"], "update", changes={"tier": 2})
    for projection in (EngineerAssignmentsProjection(), CurrentAssignmentsProjection(),
                       AssignmentHistoryProjection()):
        assert not any(type(e) in projection.event_types for e in story.events)
    h = Harness().follow(story)
    assert h.rows(ASSIGNMENTS) == h.rows(CURRENT) == h.rows(HISTORY) == []




@pytest.mark.parametrize("page_size", [2, 3, 7, 1000])
def test_page_size_does_not_change_the_rows(page_size: int) -> None:
    story = busy_story()
    one_by_one = Harness().follow(story)
    paged = Harness().follow(story, page_size=page_size)
    assert paged.snapshot() == one_by_one.snapshot()


def test_replay_is_deterministic() -> None:
    story = busy_story()
    first = Harness().follow(story).snapshot()
    second = Harness().follow(story, page_size=5).snapshot()
    assert first == second


