"""Issue 21's fields against events stored before it: a ``Ticket.Opened`` without
territory, certification, due date or location, a ``Ticket.Assigned`` without
qualification warnings or override reason, and an ``Engineer.Registered``
(v2) and ``Engineer.Updated`` without territories or certifications, stored as
today's code wrote them. They load and fold unchanged, with the new fields at
their defaults (new fields with defaults: no upcaster needed), and the new
commands then work on them; the side tables follow, on catch-up and rebuild."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import UUID

import orjson
import pytest
from eventsourcing.persistence import StoredEvent

from ledger.application import Ledger
from ledger.domain import engineer_aggregate_id
from projections.assignments import EngineerAssignmentsProjection
from projections.backend import build_store
from projections.engineers import EngineersProjection
from projections.runner import ReadSide
from projections.tickets import TicketsProjection

TICKET_ID = UUID("5b0c8f8e-3f7e-4d55-9a51-0f3c2a9c1d01")
ASSIGNMENT_ID = UUID("0e7c5d2a-6b1f-4c3e-8a9d-1f2e3d4c5b6a")
AT = {"_type_": "datetime_iso", "_data_": "2026-11-02T08:30:00+00:00"}


def _stored(originator: UUID, version: int, topic: str, state: dict[str, Any]) -> StoredEvent:
    return StoredEvent(originator_id=originator, originator_version=version,
                       topic=f"ledger.domain:{topic}", state=orjson.dumps(state))


def todays_events() -> list[StoredEvent]:
    """Exactly the states the code before issue 21 stored."""
    engineer = engineer_aggregate_id("old.eng")
    return [
        _stored(TICKET_ID, 1, "Ticket.Opened", {
            "timestamp": AT, "originator_topic": "ledger.domain:Ticket",
            "title": "No signal", "description": None, "priority": "high",
            "required_skill": "fibre", "equipment_id": None, "reference": "CRM-1",
            "actor": "dispatch", "via": None}),
        _stored(TICKET_ID, 2, "Ticket.Assigned", {
            "timestamp": AT, "assignment_id": {"_type_": "uuid_hex", "_data_": ASSIGNMENT_ID.hex},
            "sequence": 1, "engineer_id": "old.eng", "tier": 1, "tier_name": "L1",
            "reason": None, "assignment_type": "manual", "equipment_id": None,
            "actor": "dispatch", "via": None}),
        _stored(engineer, 1, "Engineer.Registered", {
            "timestamp": AT, "originator_topic": "ledger.domain:Engineer",
            "engineer_id": "old.eng", "name": "Old Engineer", "skills": ["fibre", "ont"],
            "tier": 2, "capacity": 3, "availability": 1.0, "actor": "hr", "via": None,
            "class_version": 2}),
        _stored(engineer, 2, "Engineer.Updated", {
            "timestamp": AT, "engineer_id": "old.eng", "changes": {"skills": ["fibre"]},
            "actor": "hr", "via": None}),
    ]


@pytest.fixture
def ledger(database_url: str) -> Iterator[Ledger]:
    ledger = Ledger(database_url, pool_size=4)
    ledger.recorder.insert_events(todays_events())
    yield ledger
    ledger.close()


def test_aggregates_load_with_the_new_fields_at_their_defaults(ledger: Ledger) -> None:
    ticket = ledger.get_ticket(TICKET_ID)
    assert (ticket.title, ticket.required_skill, ticket.reference) == ("No signal", "fibre", "CRM-1")
    assert (ticket.territory, ticket.required_certification, ticket.due_at, ticket.location) == (
        None, None, None, None)
    assert ticket.active_assignment is not None
    assert ticket.active_assignment.engineer_id == "old.eng"
    engineer = ledger.get_engineer("old.eng")
    assert (engineer.skills, engineer.tier, engineer.version) == (["fibre"], 2, 2)
    assert engineer.territories == [] and engineer.certifications == []


def test_new_commands_work_on_old_streams(ledger: Ledger) -> None:
    result = ledger.update_ticket(TICKET_ID, changes={"territory": "north"},
                                  actor="dispatch").result()
    assert result.version == 3
    assert ledger.get_ticket(TICKET_ID).territory == "north"
    changed = ledger.update_engineer("old.eng", changes={
        "territories": ["north"], "certifications": [{"name": "fs", "expires_on": "2027-01-31"}],
    }, actor="hr").result()
    assert changed is not None and changed.version == 3
    assert ledger.get_engineer("old.eng").territories == ["north"]


def _rows(side: ReadSide, table: Any, order: str) -> list[dict[str, Any]]:
    return side.store.rows(
        table, f"SELECT {', '.join(table.column_names)} FROM {table.name} ORDER BY {order}")


def test_projections_fold_old_and_new_events_alike_on_catch_up_and_rebuild(
    ledger: Ledger,
) -> None:
    store = build_store(ledger.store, pool_size=4)
    try:
        side = ReadSide(ledger, store)
        side.setup()
        side.catch_up()
        (ticket,) = _rows(side, TicketsProjection.table, "id")
        assert (ticket["required_skill"], ticket["territory"], ticket["location_zone"]) == (
            "fibre", None, None)
        (assignment,) = _rows(side, EngineerAssignmentsProjection.table, "id")
        assert (assignment["engineer_id"], assignment["qualification_warnings"],
                assignment["override_reason"]) == ("old.eng", None, None)
        (engineer,) = _rows(side, EngineersProjection.table, "id")
        assert (engineer["skills"], engineer["territories"], engineer["certifications"]) == (
            ["fibre"], [], [])
        assert [r["skill"] for r in _rows(side, EngineersProjection.skills, "skill")] == ["fibre"]

        ledger.update_engineer("old.eng", changes={
            "skills": ["ont", "fibre"], "territories": ["north", "harbour"],
            "certifications": [{"name": "fs", "expires_on": "2027-01-31"}]}, actor="hr").result()
        ledger.update_engineer("old.eng", changes={
            "territories": ["harbour"], "certifications": []}, actor="hr").result()
        ledger.update_ticket(TICKET_ID, changes={"location": {"zone": "north"}},
                             actor="dispatch").result()
        side.catch_up()

        def held() -> tuple[list[Any], ...]:
            return (
                [r["skill"] for r in _rows(side, EngineersProjection.skills, "skill")],
                [r["territory"] for r in _rows(side, EngineersProjection.territories,
                                               "territory")],
                _rows(side, EngineersProjection.certifications, "certification"),
                [(r["territory"], r["location_zone"])
                 for r in _rows(side, TicketsProjection.table, "id")],
            )

        caught_up = held()
        assert caught_up == (["fibre", "ont"], ["harbour"], [], [("north", "north")])
        side.rebuild()
        assert held() == caught_up
    finally:
        store.close()
