"""The pure mapping rules of ``ledger.legacy``: legacy rows -> plans."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from uuid import UUID, uuid4

import pytest

from ledger.domain import Ticket
from ledger.legacy.ids import legacy_id_of, legacy_ticket_id, name_based_ticket_id
from ledger.legacy.mapping import (
    EngineerSpec,
    LegacyRowError,
    developer_from_csv,
    engineer_slug,
    normalise_priority,
    parse_timestamp,
    plan_csv_ticket,
    plan_service_ticket,
    split_skills,
)
from ledger.legacy.recording import remaining_steps

T0 = datetime(2024, 1, 2, 8, 0, tzinfo=UTC)


def row(**changes):
    base = {
        "id": "42", "status": "resolved", "assigned_engineer_id": "eng-1",
        "assigned_engineer_name": "Ada", "assignment_tier": 2, "assignment_tier_name": "L2 Field",
        "assigned_at": T0, "started_at": T0 + timedelta(hours=1),
        "resolved_at": T0 + timedelta(hours=3), "created_at": T0 - timedelta(hours=1),
        "updated_at": T0 + timedelta(hours=4),
    }
    base.update(changes)
    return base


def kinds(plan):
    return [kind for kind, _ in plan.steps]


@pytest.mark.parametrize(("status", "expected"), [
    ("open", ["open", "assign"]),
    ("assigned", ["open", "assign"]),
    ("in_progress", ["open", "assign", "accept", "start"]),
    ("resolved", ["open", "assign", "accept", "start", "complete"]),
    ("closed", ["open", "assign", "accept", "start", "complete", "close"]),
    ("In Progress", ["open", "assign", "accept", "start"]),
])
def test_service_ticket_steps_follow_status(status, expected):
    assert kinds(plan_service_ticket(row(status=status))) == expected


def test_service_ticket_plan_keeps_legacy_fields_and_times():
    plan = plan_service_ticket(row(status="closed", priority="Urgent"))
    assert plan.ticket_id == legacy_ticket_id("service_tickets", "42")
    assert plan.engineer == EngineerSpec("eng-1", "Ada")
    assert (plan.tier, plan.tier_name, plan.priority, plan.title) == (
        2, "L2 Field", "critical", "Legacy ticket 42")
    assert plan.steps == (
        ("open", T0 - timedelta(hours=1)), ("assign", T0), ("accept", T0),
        ("start", T0 + timedelta(hours=1)), ("complete", T0 + timedelta(hours=3)),
        ("close", T0 + timedelta(hours=4)),
    )
    assert plan.outcome == "completed"


def test_without_assignee_only_open_and_closed_make_sense():
    bare = {"assigned_engineer_id": "", "assigned_at": None, "started_at": None,
            "resolved_at": None}
    assert kinds(plan_service_ticket(row(status="open", **bare))) == ["open"]
    assert kinds(plan_service_ticket(row(status="closed", **bare))) == ["open", "close"]
    assert plan_service_ticket(row(status="open", **bare)).outcome is None
    with pytest.raises(LegacyRowError, match="status is resolved but assigned_engineer_id"):
        plan_service_ticket(row(**bare))


def test_in_progress_without_started_at_starts_when_assigned():
    plan = plan_service_ticket(row(status="in_progress", started_at=None, resolved_at=None))
    assert plan.steps[-1] == ("start", T0)
    assert plan.outcome == "active"


def test_missing_assigned_at_falls_back_to_created_at_with_a_note():
    plan = plan_service_ticket(row(status="assigned", assigned_at=None))
    assert plan.steps[1] == ("assign", T0 - timedelta(hours=1))
    assert plan.warnings == ("assigned_at is empty; assigned at created_at",)


@pytest.mark.parametrize(("changes", "reason"), [
    ({"id": " "}, "id is empty"),
    ({"status": "parked"}, "status 'parked' is unknown"),
    ({"assigned_engineer_id": "has space"}, "is not a valid engineer id"),
    ({"assignment_tier": 0}, "outside 1-10"),
    ({"assignment_tier": "two"}, "is not a number"),
    ({"resolved_at": None}, "resolved_at is empty"),
    ({"resolved_at": T0 - timedelta(minutes=1)}, "resolved_at .* is before started_at"),
    ({"created_at": "yesterday"}, "'yesterday' is not an ISO 8601 time"),
    ({"created_at": None}, "created_at is empty"),
])
def test_bad_service_rows_say_why(changes, reason):
    with pytest.raises(LegacyRowError, match=reason):
        plan_service_ticket(row(**changes))


def test_timestamps_become_aware_utc():
    assert parse_timestamp(datetime(2024, 1, 2, 8, 0), "x") == T0  # naive = UTC
    assert parse_timestamp("2024-01-02T10:00:00+02:00", "x") == T0
    assert parse_timestamp("2024-01-02T08:00:00Z", "x") == T0
    assert parse_timestamp(date(2024, 1, 2), "x") == T0 - timedelta(hours=8)
    cet = timezone(timedelta(hours=1))
    assert parse_timestamp(datetime(2024, 1, 2, 9, 0, tzinfo=cet), "x").tzinfo is UTC
    assert parse_timestamp("  ", "x") is None


def test_priorities():
    assert normalise_priority("HIGH") == ("high", None)
    assert normalise_priority("normal") == ("medium", None)
    assert normalise_priority(None) == ("medium", None)
    assert normalise_priority("whenever") == (
        "medium", "priority 'whenever' is unknown; recorded as medium")


def test_developers():
    spec = developer_from_csv({"name": "  Zoë O'Brien ", "title": "Lead Engineer",
                               "availability": "75%", "skills": "fibre; Copper,fibre,,",
                               "capacity": "7.6"})
    assert spec == EngineerSpec("zoe.o.brien", "Zoë O'Brien", ("fibre", "Copper"), 3, 8, 0.75)
    assert developer_from_csv({"name": "Sam", "title": "Senior Dev"}).tier == 2
    assert developer_from_csv({"name": "Sam"}) == EngineerSpec("sam", "Sam")
    with pytest.raises(LegacyRowError, match="capacity '0' is outside 1-1000"):
        developer_from_csv({"name": "Sam", "capacity": "0"})
    with pytest.raises(LegacyRowError, match="no letters or digits"):
        developer_from_csv({"name": "!!!"})
    with pytest.raises(LegacyRowError, match="availability 'lots' is not a number"):
        developer_from_csv({"name": "Sam", "availability": "lots"})
    assert engineer_slug("A" * 80) == "a" * 64
    assert split_skills(None) == ()


def test_csv_tickets():
    ada = EngineerSpec("ada", "Ada", tier=2)
    find = {"Ada": ada}.get
    base = {"id": "9", "title": "Router down", "priority": "High", "status": "completed",
            "assigned_to": "Ada", "story_points": "3", "due_date": "2024-05-01"}
    plan = plan_csv_ticket(base, find)
    assert kinds(plan) == ["open", "assign", "accept", "complete"]
    assert (plan.engineer, plan.tier, plan.priority) == (ada, 2, "high")
    assert all(at is None for _, at in plan.steps)  # CSVs carry no times
    assert plan.ticket_id == legacy_ticket_id("csv", "9") != legacy_ticket_id("service_tickets", "9")
    assert kinds(plan_csv_ticket({**base, "status": "pending"}, find)) == ["open", "assign"]
    assert kinds(plan_csv_ticket({**base, "status": "pending", "assigned_to": ""}, find)) == [
        "open"]
    assert plan_csv_ticket({**base, "status": "rejected"}, find).outcome == "rejected"
    with pytest.raises(LegacyRowError, match="'Bob' is not a known developer"):
        plan_csv_ticket({**base, "assigned_to": "Bob"}, find)
    with pytest.raises(LegacyRowError, match="status is assigned but assigned_to is empty"):
        plan_csv_ticket({**base, "status": "assigned", "assigned_to": None}, find)


def test_remaining_steps():
    plan = plan_service_ticket(row())
    assert remaining_steps([], plan) == plan.steps
    assert remaining_steps([("Opened", None), ("Assigned", "eng-1")], plan) == plan.steps[2:]
    assert remaining_steps(plan.expected_events(), plan) == ()
    assert remaining_steps([("Opened", None), ("Assigned", "someone")], plan) is None
    assert remaining_steps([("Opened", None), ("Removed", None)], plan) is None


def test_legacy_ids_round_trip():
    imported = legacy_ticket_id("service_tickets", "A-7")
    assert legacy_id_of(imported, "A-7") == "A-7"
    assert legacy_id_of(legacy_ticket_id("csv", "7"), "7") == "7"
    other = uuid4()
    assert legacy_id_of(other, "A-7") == str(other)  # a reference it was not imported from
    assert legacy_id_of(other, None) == str(other)


def test_service_ticket_uuid_ids_are_kept_others_name_based():
    kept = "5A3C2C1E-9B7D-4D0E-8F59-0C4D1F6B2A10"
    assert legacy_ticket_id("service_tickets", kept) == UUID(kept)
    assert legacy_id_of(UUID(kept), kept) == kept  # the legacy spelling, capitals kept
    plan = plan_service_ticket(row(id=kept))
    assert plan.ticket_id == UUID(kept)
    assert plan.earlier_ticket_ids == (name_based_ticket_id("service_tickets", kept),)
    # Not UUIDs, or a source that does not keep them: name-based, nothing earlier.
    assert plan_service_ticket(row(id="42")).earlier_ticket_ids == ()
    assert legacy_ticket_id("service_tickets", "42") == name_based_ticket_id(
        "service_tickets", "42")
    assert legacy_ticket_id("csv", kept) == name_based_ticket_id("csv", kept)


def test_via_is_optional_on_every_event():
    ticket = Ticket.open(ticket_id=uuid4(), title="t", actor="a", via="import")
    ticket.close(reason=None, actor="a")
    opened, closed = ticket.collect_events()
    assert (opened.via, closed.via) == ("import", None)


def test_a_stored_event_without_via_still_loads(tmp_path):
    """Events stored before ``via`` existed have no such key: they load with None."""
    import orjson
    from eventsourcing.persistence import StoredEvent

    from ledger.application import Ledger

    app = Ledger(f"sqlite:///{tmp_path}/old.db")
    try:
        result = app.open_ticket(title="before via", actor="a").result()
        (notification,) = app.recorder.select_notifications(start=None, limit=10)
        state = orjson.loads(notification.state)
        assert state.pop("via") is None
        old = StoredEvent(result.aggregate_id, 1, notification.topic, orjson.dumps(state))
        event = app.mapper.to_domain_event(old)
        assert event.via is None and "via" not in vars(event)
        assert app.get_ticket(result.aggregate_id).title == "before via"
    finally:
        app.close()
