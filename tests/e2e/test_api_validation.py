"""Bad input: every 4xx is problem+json, validation errors list {loc, msg}, and
nothing is ever recorded (the global head is unchanged)."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest

MALFORMED = b'{"title": "unterminated'
JSON = {"content-type": "application/json"}


@pytest.fixture
def world(api) -> dict[str, str]:
    """A ticket with an accepted assignment (so every command has a valid target),
    an open ticket and an engineer."""
    ticket_id, eng, assignment = api.assigned()
    api.accept(assignment["id"])
    return {"tid": ticket_id, "eng": eng, "aid": assignment["id"],
            "open": api.ticket()["id"], "spare": api.engineer()["id"]}


def _run(api, cases: list[tuple[Any, ...]], world: dict[str, str]) -> None:
    """Sends each (method, path, body, expected status[, expected loc]) and checks
    the answer; collects every mismatch before failing."""
    failures = []
    before = api.readyz()
    versions = {k: api.ticket_row(world[k])["version"] for k in ("tid", "open")}
    for case in cases:
        method, path, body, status = case[:4]
        loc = case[4] if len(case) > 4 else None
        path = path.format(**world)
        kwargs: dict[str, Any] = {}
        if isinstance(body, bytes):
            kwargs = {"content": body, "headers": JSON}
        elif body is not None:
            kwargs = {"json": _fill(body, world)}
        response = api.client.request(method, path, **kwargs)
        try:
            problem = api.problem(response, status)
            if status == 422:
                errors = api.validation_errors(problem)
                if loc is not None:
                    assert any(e["loc"][: len(loc)] == list(loc) for e in errors), errors
            if status == 400 and isinstance(body, bytes):
                assert problem["type"].endswith("/malformed-json"), problem
                api.validation_errors(problem)
        except AssertionError as e:
            failures.append(f"{method} {path} {body!r}: {e}")
    after = api.readyz()
    assert after["head"] == before["head"], "bad input recorded an event"
    for key, version in versions.items():
        assert api.ticket_row(world[key])["version"] == version
    assert not failures, "\n".join(failures)


def _fill(body: Any, world: dict[str, str]) -> Any:
    if isinstance(body, str):
        return body.format(**world)
    if isinstance(body, dict):
        return {k: _fill(v, world) for k, v in body.items()}
    if isinstance(body, list):
        return [_fill(v, world) for v in body]
    return body


def test_bad_engineer_input(api, world):
    ok = {"id": "new-eng-1", "name": "N"}
    _run(api, [
        ("POST", "/engineers", MALFORMED, 400),
        ("POST", "/engineers", {**ok, "availability": 1.5}, 422, ["body", "availability"]),
        ("POST", "/engineers", {**ok, "availability": -0.1}, 422, ["body", "availability"]),
        ("POST", "/engineers", {**ok, "tier": 0}, 422, ["body", "tier"]),
        ("POST", "/engineers", {**ok, "capacity": 0}, 422, ["body", "capacity"]),
        ("POST", "/engineers", {**ok, "tier": "two"}, 422, ["body", "tier"]),
        ("POST", "/engineers", {**ok, "id": "-leading-dash"}, 422, ["body", "id"]),
        ("POST", "/engineers", {**ok, "id": "x" * 65}, 422, ["body", "id"]),
        ("POST", "/engineers", {**ok, "id": "has space"}, 422, ["body", "id"]),
        ("POST", "/engineers", {"id": "no-name"}, 422, ["body", "name"]),
        ("POST", "/engineers", {**ok, "name": ""}, 422, ["body", "name"]),
        ("POST", "/engineers", {**ok, "skills": "mri"}, 422, ["body", "skills"]),
        ("POST", "/engineers", {**ok, "unknown": 1}, 422, ["body", "unknown"]),
        ("POST", "/engineers", [ok], 422),
        ("PATCH", "/engineers/{eng}", MALFORMED, 400),
        ("PATCH", "/engineers/{eng}", {"availability": 1.5}, 422, ["body", "availability"]),
        ("PATCH", "/engineers/{eng}", {"tier": 0}, 422, ["body", "tier"]),
        ("PATCH", "/engineers/{eng}", {"active": "maybe"}, 422, ["body", "active"]),
        ("PATCH", "/engineers/{eng}", {"id": "renamed"}, 422, ["body", "id"]),
    ], world)
    assert api.get("/engineers/new-eng-1").status_code == 404


def test_bad_ticket_input(api, world):
    _run(api, [
        ("POST", "/tickets", MALFORMED, 400),
        ("POST", "/tickets", {"title": "t", "priority": "urgent"}, 422, ["body", "priority"]),
        ("POST", "/tickets", {"title": "t", "id": "not-a-uuid"}, 422, ["body", "id"]),
        ("POST", "/tickets", {"title": ""}, 422, ["body", "title"]),
        ("POST", "/tickets", {"description": "no title"}, 422, ["body", "title"]),
        ("POST", "/tickets", {"title": "t", "extra": True}, 422, ["body", "extra"]),
        ("POST", "/tickets", b"[1, 2]", 422),
        ("POST", "/tickets", b"", 422),
        ("GET", "/tickets/not-a-uuid", None, 422, ["path", "ticket_id"]),
        ("GET", "/tickets/{tid}x", None, 422, ["path", "ticket_id"]),
        ("POST", "/tickets/not-a-uuid/close", None, 422, ["path", "ticket_id"]),
        ("POST", "/tickets/{open}/close", MALFORMED, 400),
        ("POST", "/tickets/{open}/close", {"reason": 5}, 422, ["body", "reason"]),
        ("POST", "/tickets/{open}/reopen", {}, 422, ["body", "reason"]),
        ("POST", "/tickets/{open}/reopen", None, 422),
        ("POST", "/tickets/not-a-uuid/reopen", {"reason": "x"}, 422, ["path", "ticket_id"]),
        ("GET", "/tickets/not-a-uuid/current-assignment", None, 422),
        ("GET", "/tickets/not-a-uuid/assignments", None, 422),
        ("GET", "/tickets/not-a-uuid/history", None, 422),
        ("GET", "/tickets/not-a-uuid/events", None, 422),
    ], world)


def test_bad_assignment_input(api, world):
    assign = {"ticket_id": "{open}", "engineer_id": "{spare}", "tier": 1}
    escalate = {"ticket_id": "{tid}", "next_engineer_id": "{spare}", "reason": "r"}
    complete = {"completion_status": "success", "time_spent_hours": 1}
    _run(api, [
        ("POST", "/assignments", MALFORMED, 400),
        ("POST", "/assignments", {**assign, "tier": 0}, 422, ["body", "tier"]),
        ("POST", "/assignments", {**assign, "tier": -1}, 422, ["body", "tier"]),
        ("POST", "/assignments", {**assign, "tier": 1.5}, 422, ["body", "tier"]),
        ("POST", "/assignments", {**assign, "ticket_id": "T-1"}, 422, ["body", "ticket_id"]),
        ("POST", "/assignments", {**assign, "engineer_id": "bad id"}, 422,
         ["body", "engineer_id"]),
        ("POST", "/assignments", {**assign, "type": "robot"}, 422, ["body", "type"]),
        ("POST", "/assignments", {"ticket_id": "{open}", "engineer_id": "{spare}"}, 422,
         ["body", "tier"]),
        ("POST", "/assignments/escalate", MALFORMED, 400),
        ("POST", "/assignments/escalate", {**escalate, "reason": ""}, 422, ["body", "reason"]),
        ("POST", "/assignments/escalate", {**escalate, "ticket_id": "x"}, 422,
         ["body", "ticket_id"]),
        ("POST", "/assignments/escalate", {"ticket_id": "{tid}", "reason": "r"}, 422,
         ["body", "next_engineer_id"]),
        ("POST", "/assignments/not-a-uuid/accept", None, 422, ["path", "assignment_id"]),
        ("POST", "/assignments/not-a-uuid/reject", None, 422, ["path", "assignment_id"]),
        ("POST", "/assignments/not-a-uuid/start", None, 422, ["path", "assignment_id"]),
        ("POST", "/assignments/{aid}/reject", MALFORMED, 400),
        ("POST", "/assignments/{aid}/complete", MALFORMED, 400),
        ("POST", "/assignments/{aid}/complete", {**complete, "completion_status": "done"},
         422, ["body", "completion_status"]),
        ("POST", "/assignments/{aid}/complete", {**complete, "time_spent_hours": 1000}, 422,
         ["body", "time_spent_hours"]),
        ("POST", "/assignments/{aid}/complete", {**complete, "time_spent_hours": -0.5}, 422,
         ["body", "time_spent_hours"]),
        ("POST", "/assignments/{aid}/complete", {"completion_status": "success"}, 422,
         ["body", "time_spent_hours"]),
        ("POST", "/assignments/{aid}/complete", {**complete, "customer_rating": 6}, 422,
         ["body", "customer_rating"]),
        ("POST", "/assignments/{aid}/complete", {**complete, "customer_rating": 0}, 422,
         ["body", "customer_rating"]),
        ("POST", "/assignments/{aid}/complete",
         {**complete, "parts_used": [{"part_number": "P", "quantity": 0}]}, 422,
         ["body", "parts_used"]),
        ("POST", "/assignments/{aid}/complete",
         {**complete, "parts_used": [{"part_name": "no number"}]}, 422, ["body", "parts_used"]),
        ("POST", "/assignments/{aid}/complete",
         b'{"completion_status": "success", "time_spent_hours": NaN}', 422),
        ("POST", "/assignments/not-a-uuid/complete", complete, 422, ["path", "assignment_id"]),
        ("PUT", "/assignments/{aid}/reassign", {}, 422, ["body", "new_engineer_id"]),
        ("PUT", "/assignments/{aid}/reassign", MALFORMED, 400),
        ("PUT", "/assignments/not-a-uuid/reassign", {"new_engineer_id": "{spare}"}, 422,
         ["path", "assignment_id"]),
        ("DELETE", "/assignments/not-a-uuid", None, 422, ["path", "assignment_id"]),
        ("DELETE", "/assignments/{aid}", MALFORMED, 400),
        ("DELETE", "/assignments/{aid}", {"reason": ["x"]}, 422, ["body", "reason"]),
        ("GET", "/assignments/not-a-uuid", None, 422, ["path", "assignment_id"]),
        ("GET", "/assignments/not-a-uuid/history", None, 422, ["path", "assignment_id"]),
    ], world)
    row = api.assignment_row(world["aid"])
    assert row["status"] == "accepted"
    assert row["time_spent_hours"] is None


def test_bad_query_parameters(api, world):
    _run(api, [
        ("GET", "/assignments?status=nope", None, 422, ["query", "status"]),
        ("GET", "/assignments?tier=0", None, 422, ["query", "tier"]),
        ("GET", "/assignments?limit=0", None, 422, ["query", "limit"]),
        ("GET", "/assignments?limit=1001", None, 422, ["query", "limit"]),
        ("GET", "/assignments?cursor=bogus", None, 400),
        ("GET", "/tickets?status=nope", None, 422, ["query", "status"]),
        ("GET", "/tickets?limit=abc", None, 422, ["query", "limit"]),
        ("GET", "/tickets?cursor=bogus", None, 400),
        ("GET", "/engineers?limit=0", None, 422, ["query", "limit"]),
        ("GET", "/engineers?cursor=%22%22", None, 400),
        ("GET", "/tickets/{tid}?min_position=-5", None, 422, ["query", "min_position"]),
    ], world)


def test_unknown_routes_and_methods_are_problems(api, world):
    _run(api, [
        ("GET", "/no-such-thing", None, 404),
        ("PUT", "/tickets", {"title": "x"}, 405),
        ("DELETE", "/tickets/{tid}", None, 405),
        ("POST", "/assignments/{aid}", {}, 405),
    ], world)


def test_oversized_body_is_413_problem(api, world):
    head = api.head()
    body = b'{"title": "' + b"x" * 1_100_000 + b'"}'
    response = api.client.post("/tickets", content=body, headers=JSON)
    api.problem(response, 413)
    assert api.head() == head


def test_every_error_status_is_documented_as_problem_json(api):
    """404/409/412/422 from the domain are problem+json too (spot check by type)."""
    ticket_id, eng, _assignment = api.assigned()
    types = {
        api.problem(api.get(f"/tickets/{uuid4()}"), 404)["type"],
        api.problem(api.post("/assignments", json={
            "ticket_id": ticket_id, "engineer_id": eng, "tier": 1}), 409)["type"],
        api.problem(api.post(f"/tickets/{ticket_id}/close",
                             headers={"If-Match": '"1"'}), 412)["type"],
        api.problem(api.post("/assignments", json={
            "ticket_id": ticket_id, "engineer_id": "ghost", "tier": 1}), 422)["type"],
    }
    assert len(types) == 4
    assert all(t.startswith("https://") for t in types)
