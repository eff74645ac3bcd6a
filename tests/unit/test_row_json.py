"""The read routes' one-pass JSON (``api.row_json``) against the JSON FastAPI made
from the pydantic models before: the same fields, in the same order, with the
same values and JSON types."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import BaseModel, TypeAdapter
from starlette.responses import JSONResponse

from api.row_json import RowEncoder, dumps, encoder, list_response, one_response, page_response
from api.schemas import CurrentAssignment, EngineerAssignment, Event, HistoryRow, Page, Ticket

AT = "2026-12-07T11:20:09.930090Z"
ASSIGNMENT = {
    "id": "8b3c1f7e-1a2b-4c3d-9e8f-0123456789ab", "ticket_id": "0b3c1f7e-1a2b-4c3d-9e8f-0123456789ab",
    "engineer_id": "eng001", "equipment_id": None, "assignment_sequence": 1,
    "assignment_tier": 2, "assignment_tier_name": "Dealer", "assignment_reason": "Initial",
    "assignment_type": "manual", "status": "completed", "assigned_by": "dispatcher",
    "assigned_at": AT, "accepted_at": AT, "rejected_at": None, "rejection_reason": None,
    "started_at": AT, "completed_at": AT, "completion_status": "success",
    "escalation_reason": None, "time_spent_hours": 2, "diagnosis": "Wet splice — résumé",
    "actions_taken": None, "parts_used": [{"part_number": "SC-12", "quantity": 1, "cost": 42.0}],
    "customer_rating": 5, "customer_feedback": None, "notes": "a\nb", "created_at": AT,
    "updated_at": AT, "qualification_warnings": [], "override_reason": None,
}
TICKET = {
    "id": "0b3c1f7e-1a2b-4c3d-9e8f-0123456789ab", "title": "Fibre cut", "description": None,
    "priority": "high", "required_skill": "fibre", "equipment_id": None, "reference": "R-1",
    "territory": None, "required_certification": None, "due_at": None,
    "location": {"pole": "P1", "pon": None, "zone": None, "dr": None}, "status": "assigned",
    "version": 3, "current_assignment": ASSIGNMENT, "assignment_count": 1,
    "opened_by": "dispatcher", "created_at": AT, "updated_at": AT, "resolved_at": None,
    "closed_at": None, "owner_team": "qa", "resolve_by": AT,
    "current_engineer_id": "eng001",  # a column the model does not show
}
EVENT = {
    "position": 7, "ticket_id": None, "aggregate_id": "0b3c1f7e-1a2b-4c3d-9e8f-0123456789ab",
    "version": 2, "type": "Ticket.Completed", "recorded_at": AT, "actor": "eng001",
    "data": {"hours": Decimal("1.50"), "when": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
             "tags": {"x"}, "big": 2**70, "n": 3, "f": 0.1, "nested": {"k": [1, "two", None]}},
    "hash": "ab", "prev_hash": None,
}


def old_body(response_model: Any, content: Any) -> bytes:
    """What FastAPI sent for a route with this ``response_model`` that returned
    ``content`` (models built from the rows): the models dumped, validated again
    by the response model, serialised by it and rendered by ``JSONResponse``."""
    adapter = TypeAdapter(response_model)
    prepared = ([c.model_dump() for c in content] if isinstance(content, list)
                else content.model_dump())
    return JSONResponse(adapter.dump_python(adapter.validate_python(prepared), mode="json")).body


def same_json(a: bytes, b: bytes) -> None:
    """Equal as JSON, with each value's JSON type and each object's key order."""
    def typed(v: Any) -> Any:
        if isinstance(v, dict):
            return [("{}", list(v))] + [(k, typed(x)) for k, x in v.items()]
        if isinstance(v, list):
            return ["[]"] + [typed(x) for x in v]
        return (type(v).__name__, v)

    assert typed(json.loads(a)) == typed(json.loads(b))


def test_a_page_of_assignments_is_the_models_json():
    rows = [dict(ASSIGNMENT, assignment_sequence=i, time_spent_hours=h)
            for i, h in enumerate((2, None, 1.5, Decimal("0.25")), 1)]
    old = Page[EngineerAssignment](items=[EngineerAssignment(**r) for r in rows], next_cursor="c")
    same_json(page_response(EngineerAssignment, rows, "c").body, old_body(Page[EngineerAssignment], old))
    assert json.loads(page_response(EngineerAssignment, rows, "c").body)["items"][0][
        "time_spent_hours"] == 2.0
    assert b'"time_spent_hours":2.0' in page_response(EngineerAssignment, rows[:1], None).body


def test_a_list_and_one_row_are_the_models_json():
    rows = [ASSIGNMENT, dict(ASSIGNMENT, status="assigned", parts_used=None)]
    same_json(list_response(EngineerAssignment, rows).body,
              old_body(list[EngineerAssignment], [EngineerAssignment(**r) for r in rows]))
    current = {k: ASSIGNMENT[k] for k in CurrentAssignment.model_fields}
    same_json(one_response(CurrentAssignment, current).body,
              old_body(CurrentAssignment, CurrentAssignment(**current)))
    history = {"id": 4, "assignment_id": "a", "ticket_id": "t", "previous_engineer": None,
               "new_engineer": "e", "action": "created", "reason": None, "changed_by": "d",
               "changed_at": AT}
    same_json(list_response(HistoryRow, [history]).body,
              old_body(list[HistoryRow], [HistoryRow(**history)]))


def test_fields_the_row_lacks_take_the_models_defaults_and_extra_columns_are_dropped():
    row = {k: v for k, v in ASSIGNMENT.items()
           if k not in ("notes", "qualification_warnings", "override_reason")}
    row = {"extra": 1, **row}
    body = one_response(EngineerAssignment, row).body
    same_json(body, old_body(EngineerAssignment, EngineerAssignment(**row)))
    assert list(json.loads(body)) == list(EngineerAssignment.model_fields)
    with pytest.raises(KeyError, match="engineer_id"):
        encoder(EngineerAssignment).row({k: v for k, v in row.items() if k != "engineer_id"})


def test_a_ticket_with_its_nested_assignment_is_the_models_json():
    same_json(one_response(Ticket, TICKET).body, old_body(Ticket, Ticket(**TICKET)))
    no_current = dict(TICKET, current_assignment=None, location=None, owner_team=None)
    same_json(one_response(Ticket, no_current).body, old_body(Ticket, Ticket(**no_current)))


def test_event_data_is_written_as_pydantic_writes_it():
    old = Page[Event](items=[Event(**EVENT)], next_cursor=None)
    same_json(page_response(Event, [EVENT], None).body, old_body(Page[Event], old))
    data = json.loads(page_response(Event, [EVENT], None).body)["items"][0]["data"]
    assert data["hours"] == "1.50" and data["big"] == 2**70 and data["when"] == "2026-01-02T03:04:05Z"


def test_the_callers_row_is_left_as_it_was():
    row = dict(ASSIGNMENT)
    out = encoder(EngineerAssignment).row(row)
    assert out["time_spent_hours"] == 2.0 and type(out["time_spent_hours"]) is float
    assert row == ASSIGNMENT and type(row["time_spent_hours"]) is int
    ticket = dict(TICKET)
    encoder(Ticket).row(ticket)
    assert ticket["current_assignment"] is ASSIGNMENT and "current_engineer_id" in ticket


def test_a_field_type_it_cannot_write_as_pydantic_does_is_refused():
    class WithTime(BaseModel):
        at: datetime

    with pytest.raises(TypeError, match="WithTime.at"):
        RowEncoder(WithTime)


def test_text_is_utf8_not_escaped():
    assert dumps({"s": "résumé"}) == '{"s":"résumé"}'.encode()
