"""Regressions found by hostile input (schemathesis and probes): each once gave a
500 or wedged the read side. Run on SQLite and PostgreSQL (``api`` fixture)."""

from __future__ import annotations

import pytest

NUL = "\x00"


@pytest.mark.parametrize(("path", "params"), [
    ("/tickets", {"reference": f"a{NUL}b"}),
    ("/tickets", {"engineer_id": f"a{NUL}b"}),
    ("/assignments", {"engineer_id": f"a{NUL}b"}),
    ("/events", {"actor": f"a{NUL}b"}),
    ("/events", {"type": f"Ticket.Opened{NUL}"}),
    ("/engineers/a%00b", {}),
    ("/tickets/%00", {}),
])
def test_nul_in_the_url_is_a_400_not_a_500(api, path, params):
    """PostgreSQL refuses NUL in text: that was a 500 on every text filter."""
    body = api.problem(api.get(path, params=params), 400)
    assert "NUL" in body["detail"]


@pytest.mark.parametrize(("method", "path", "body"), [
    ("POST", "/tickets", {"title": f"a{NUL}b"}),
    ("POST", "/tickets", {"title": "ok", "description": NUL}),
    ("POST", "/engineers", {"id": "e-nul", "name": f"x{NUL}"}),
    ("POST", "/engineers", {"id": "e-nul", "name": "x", "skills": [f"mri{NUL}"]}),
])
def test_nul_in_a_body_is_refused_and_records_nothing(api, method, path, body):
    """A NUL in a command body was recorded as an event (bytes are fine) whose
    projection PostgreSQL could never write: the read side stopped for good."""
    with api.records_nothing():
        problem = api.problem(api.client.request(method, path, json=body), 422)
    assert any("NUL" in e["msg"] for e in problem["errors"]), problem
    # The read side still follows.
    ticket = api.ticket()
    assert api.ticket_row(ticket["id"])["title"] == ticket["title"]


def test_nul_in_a_nested_body_field_is_refused(api):
    ticket_id, _engineer, assignment = api.assigned()
    api.accept(assignment["id"])
    api.start(assignment["id"])
    with api.records_nothing():
        response = api.post(f"/assignments/{assignment['id']}/complete", json={
            "completion_status": "success", "time_spent_hours": 1,
            "parts_used": [{"part_number": f"P{NUL}1"}]})
        api.problem(response, 422)
    assert api.assignment_row(assignment["id"])["status"] == "in_progress"


@pytest.mark.parametrize(("path", "params"), [
    ("/tickets", {"reference": "r" * 101}),
    ("/tickets", {"engineer_id": "e" * 65}),
    ("/assignments", {"engineer_id": "e" * 65}),
    ("/events", {"type": "T" * 101}),
])
def test_text_filters_are_bounded(api, path, params):
    api.problem(api.get(path, params=params), 422)
