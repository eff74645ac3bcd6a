"""The SLA clock and ticket-metrics folds: events in, rows out (no database).

Uses the Story/Harness of fold_harness.py: made-up event times 7 minutes (and a
few microseconds) apart, every projection of ALL_PROJECTIONS folded.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fold_harness import Harness, Story, busy_story, run_commands, at

from ledger.domain import Engineer, Ticket
from projections.metrics import TicketMetricsProjection
from projections.sla import SlaProjection

CLOCKS = SlaProjection.clocks
METRICS = TicketMetricsProjection.metrics
COMPLETIONS = TicketMetricsProjection.completions
DAILY = TicketMetricsProjection.daily
HOURS = TicketMetricsProjection.engineer_hours


@pytest.fixture
def story() -> Story:
    s = Story()
    for name, tier in (("ana", 1), ("ben", 2), ("cy", 3), ("dee", 1)):
        s.engineer(name, skills=["fibre"], tier=tier, capacity=3)
    return s


def seconds(a: Any, b: Any) -> float:
    return (b.timestamp - a.timestamp).total_seconds()


def clock(h: Harness, assignment_id: Any) -> dict[str, Any]:
    row = h.row(CLOCKS, assignment_id)
    assert row is not None
    return row


def metrics(h: Harness, ticket: Ticket) -> dict[str, Any]:
    row = h.row(METRICS, ticket.id)
    assert row is not None
    return row


# ===================================================================== SLA clocks


def test_each_assignment_has_its_own_clock_and_escalation_starts_a_fresh_one(
    story: Story,
) -> None:
    t = story.ticket(priority="critical")
    a1 = story.do(t, "assign", engineer_id="ana", tier=1)
    assigned = story.last
    h = Harness().follow(story)
    row = clock(h, a1.id)
    assert (row["engineer_id"], row["assignment_tier"], row["priority"]) == ("ana", 1, "critical")
    assert row["started_at"] == at(assigned)
    assert row["accept_seconds"] is None and row["resolve_seconds"] is None  # both running

    story.do(t, "accept", a1.id)
    accepted = story.last
    story.do(t, "start", a1.id)
    a2 = story.do(t, "escalate", next_engineer_id="ben", reason="needs L2")
    escalated = story.last
    h.follow(story)
    old = clock(h, a1.id)
    assert old["accepted_at"] == at(accepted)
    assert old["accept_seconds"] == seconds(assigned, accepted)
    assert old["ended_at"] == at(escalated) and old["end_reason"] == "escalated"
    assert old["resolve_seconds"] == seconds(assigned, escalated)

    new = clock(h, a2.id)
    # L2's clocks start at the escalation: the time L1 used is not theirs.
    assert new["started_at"] == at(escalated)
    assert (new["engineer_id"], new["assignment_tier"], new["priority"]) == ("ben", 2, "critical")
    assert new["accept_seconds"] is None and new["resolve_seconds"] is None

    story.do(t, "accept", a2.id)
    story.do(t, "complete", a2.id, completion_status="success", time_spent_hours=2.0)
    done = story.last
    h.follow(story)
    assert clock(h, a2.id)["resolve_seconds"] == seconds(escalated, done)
    assert clock(h, a2.id)["end_reason"] == "completed"


@pytest.mark.parametrize("ending", ["reject", "remove", "reassign"])
def test_an_assignment_ended_before_accepting_stops_both_clocks(story: Story, ending: str) -> None:
    t = story.ticket(priority="low")
    a = story.do(t, "assign", engineer_id="ana", tier=1)
    assigned = story.last
    if ending == "reassign":
        story.do(t, "reassign", a.id, new_engineer_id="dee", reason="swap")
    else:
        story.do(t, ending, a.id, reason="x")
    ended = story.last
    row = clock(Harness().follow(story), a.id)
    assert row["accepted_at"] is None
    assert row["accept_seconds"] == row["resolve_seconds"] == seconds(assigned, ended)
    assert row["end_reason"] == {"reject": "rejected", "remove": "removed",
                                 "reassign": "reassigned"}[ending]


def test_a_failed_completion_ends_the_clock_as_failed(story: Story) -> None:
    t = story.ticket()
    a = story.do(t, "assign", engineer_id="ana", tier=1)
    story.do(t, "accept", a.id)
    story.do(t, "complete", a.id, completion_status="failed", time_spent_hours=1.0)
    row = clock(Harness().follow(story), a.id)
    assert row["end_reason"] == "failed" and row["priority"] == "medium"


# ===================================================================== metrics


def test_ticket_metrics_count_stations_escalations_and_reassignments(story: Story) -> None:
    t = story.ticket(priority="high")
    opened = story.last
    a1 = story.do(t, "assign", engineer_id="ana", tier=1)
    first = story.last
    story.do(t, "reject", a1.id, reason="busy")
    a2 = story.do(t, "assign", engineer_id="ana", tier=1)  # same engineer again
    story.do(t, "accept", a2.id)
    accepted = story.last
    a3 = story.do(t, "reassign", a2.id, new_engineer_id="dee", reason="swap")
    a4 = story.do(t, "escalate", next_engineer_id="ben", reason="L2")
    story.do(t, "accept", a4.id)
    story.do(t, "complete", a4.id, completion_status="success", time_spent_hours=2.5)
    resolved = story.last
    assert a3.engineer_id == "dee"
    h = Harness().follow(story)
    m = metrics(h, t)
    assert m["assignee_stations"] == 4  # ana, ana, dee, ben: repeats counted
    assert m["unique_assignees"] == 3 and m["assignees"] == ["ana", "dee", "ben"]
    assert m["escalations"] == 1
    assert m["reassignment_count"] == 2  # ana -> dee, dee -> ben (ana -> ana is not one)
    assert m["rejections"] == 1
    assert m["first_assigned_at"] == at(first)
    assert m["time_to_first_assignment_seconds"] == seconds(opened, first)
    assert m["time_to_first_accept_seconds"] == seconds(first, accepted)
    assert m["resolved_at"] == m["first_resolved_at"] == at(resolved)
    assert m["time_to_resolution_seconds"] == seconds(opened, resolved)
    assert m["resolved_on_first_assignment"] is False
    assert m["time_spent_hours"] == 2.5
    assert m["current_tier"] == 2 and m["priority"] == "high"


def test_resolved_on_first_assignment_and_reopen(story: Story) -> None:
    t = story.ticket()
    opened = story.last
    a = story.do(t, "assign", engineer_id="ana", tier=1)
    h = Harness().follow(story)
    assert metrics(h, t)["resolved_on_first_assignment"] is None  # not resolved yet
    story.do(t, "accept", a.id)
    story.do(t, "complete", a.id, completion_status="success", time_spent_hours=1.25)
    first_resolution = story.last
    h.follow(story)
    assert metrics(h, t)["resolved_on_first_assignment"] is True

    story.do(t, "reopen", reason="came back")
    h.follow(story)
    m = metrics(h, t)
    assert m["reopens"] == 1 and m["resolved_at"] is None
    assert m["resolved_on_first_assignment"] is None
    assert m["first_resolved_at"] == at(first_resolution)  # the first one stays

    b = story.do(t, "assign", engineer_id="ana", tier=1)
    story.do(t, "accept", b.id)
    story.do(t, "complete", b.id, completion_status="success", time_spent_hours=0.5)
    again = story.last
    h.follow(story)
    m = metrics(h, t)
    assert m["resolved_on_first_assignment"] is False
    assert m["time_to_resolution_seconds"] == seconds(opened, again)
    assert m["time_to_first_resolution_seconds"] == seconds(opened, first_resolution)
    assert m["time_spent_hours"] == 1.75
    assert m["reassignment_count"] == 0 and m["assignee_stations"] == 2


def test_completions_are_the_billing_rows(story: Story) -> None:
    t = story.ticket()
    a = story.do(t, "assign", engineer_id="ana", tier=1)
    story.do(t, "accept", a.id)
    story.do(t, "complete", a.id, completion_status="parts_required", time_spent_hours=0.75)
    done = story.last
    b = story.do(t, "assign", engineer_id="ben", tier=2)
    story.do(t, "accept", b.id)
    story.do(t, "escalate", next_engineer_id="cy", reason="core")  # no completion row
    h = Harness().follow(story)
    rows = h.rows(COMPLETIONS)
    assert rows == [{
        "assignment_id": str(a.id), "ticket_id": str(t.id), "engineer_id": "ana",
        "assignment_tier": 1, "completion_status": "parts_required",
        "time_spent_hours": 0.75, "parts_cost": 0.0, "completed_at": at(done),
    }]


# ===================================================================== invariants


@pytest.mark.parametrize("page_size", [1, 3, 1000])
def test_metrics_agree_with_the_aggregates_on_a_busy_story(page_size: int) -> None:
    story = busy_story()
    h = Harness().follow(story, page_size=page_size)
    tickets: dict[str, list[Any]] = {}
    for e in story.events:
        if isinstance(e, Ticket.Event) and not isinstance(e, Engineer.Event):
            tickets.setdefault(str(e.originator_id), []).append(e)
    assert {r["ticket_id"] for r in h.rows(METRICS)} == set(tickets)
    for ticket_id, events in tickets.items():
        m = h.row(METRICS, ticket_id)
        assert m is not None
        stations = [e for e in events
                    if isinstance(e, Ticket.Assigned | Ticket.Escalated | Ticket.Reassigned)]
        assert m["assignee_stations"] == len(stations)
        assert m["escalations"] == sum(isinstance(e, Ticket.Escalated) for e in events)
        engineers = [getattr(e, "new_engineer_id", None) or e.engineer_id for e in stations]
        assert m["unique_assignees"] == len(set(engineers))
        assert m["reassignment_count"] == sum(a != b for a, b in zip(engineers, engineers[1:]))
        assert m["time_spent_hours"] == round(sum(
            e.time_spent_hours for e in events if isinstance(e, Ticket.Completed)), 2)
        # One clock per assignment, each on its own engineer.
        clocks = [r for r in h.rows(CLOCKS) if r["ticket_id"] == ticket_id]
        assert sorted(r["engineer_id"] for r in clocks) == sorted(engineers)


@pytest.mark.parametrize("page_size", [1, 3, 1000])
def test_the_daily_roll_ups_agree_with_the_events_day_by_day(page_size: int) -> None:
    story = busy_story()
    story.engineer("zed", skills=["fibre"], tier=1, capacity=9)
    story.engineer("yan", skills=["fibre"], tier=2, capacity=9)
    for _day in range(3):  # and three more days, each with a first-time fix and an escalation
        story.now += timedelta(days=1)
        fixed, escalated = story.ticket(), story.ticket()
        a = story.do(fixed, "assign", engineer_id="zed", tier=1)
        story.do(fixed, "accept", a.id)
        story.do(fixed, "complete", a.id, completion_status="success", time_spent_hours=1.5)
        story.do(escalated, "assign", engineer_id="zed", tier=1)
        b = story.do(escalated, "escalate", next_engineer_id="yan", reason="L2")
        story.do(escalated, "accept", b.id)
        story.do(escalated, "complete", b.id, completion_status="success", time_spent_hours=2)
    h = Harness().follow(story, page_size=page_size)
    expected: dict[str, dict[str, Any]] = {}
    hours: dict[str, dict[str, Any]] = {}
    stations: dict[Any, int] = {}
    for e in story.events:
        if isinstance(e, Engineer.Event):
            continue
        day = at(e)[:10]
        d = expected.setdefault(day, {"day": day, "opened": 0, "resolved": 0,
                                      "resolved_first_time": 0, "escalations": {}})
        if isinstance(e, Ticket.Opened):
            d["opened"] += 1
        if isinstance(e, Ticket.Assigned | Ticket.Escalated | Ticket.Reassigned):
            stations[e.originator_id] = stations.get(e.originator_id, 0) + 1
        if isinstance(e, Ticket.Escalated):
            d["escalations"][str(e.tier)] = d["escalations"].get(str(e.tier), 0) + 1
        if isinstance(e, Ticket.Completed):
            if e.completion_status == "success":
                d["resolved"] += 1
                d["resolved_first_time"] += stations[e.originator_id] == 1
            key = f"{day} {e.engineer_id}"
            r = hours.setdefault(key, {"id": key, "day": day, "engineer_id": e.engineer_id,
                                       "completed": 0, "hours": 0.0})
            r["completed"] += 1
            r["hours"] = round(r["hours"] + e.time_spent_hours, 2)
    assert len(expected) > 1, "the story should span several days"
    assert sorted(h.rows(DAILY), key=lambda r: r["day"]) == sorted(
        (d for d in expected.values() if any(d[k] for k in ("opened", "resolved", "escalations"))),
        key=lambda r: r["day"])
    assert sorted(h.rows(HOURS), key=lambda r: r["id"]) == sorted(
        hours.values(), key=lambda r: r["id"])


def test_clock_rows_match_the_aggregates_after_random_commands() -> None:
    commands = [("assign", 0, 0, "success", True), ("accept", 0, 0, "success", True),
                ("escalate", 0, 1, "success", True), ("reassign", 0, 2, "success", True),
                ("accept", 0, 0, "success", True), ("complete", 0, 0, "escalated", True),
                ("assign", 1, 3, "success", True), ("reject", 1, 0, "success", True)]
    story, tickets = run_commands(commands)
    h = Harness().follow(story, page_size=2)
    for t in tickets:
        for a in t.assignments.values():
            row = clock(h, a.id)
            assert row["engineer_id"] == a.engineer_id
            assert (row["ended_at"] is None) == a.is_active
            assert row["assignment_tier"] == a.tier
    for r in h.rows(CLOCKS):
        if r["resolve_seconds"] is not None:  # ended: the accept clock stopped too
            assert 0 < r["accept_seconds"] <= r["resolve_seconds"]
