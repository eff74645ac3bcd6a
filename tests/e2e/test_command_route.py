"""The ticket commands' own handler (``api.command_route``) answers every request
exactly as FastAPI's own handler does: the same status, headers and body for
malformed, unauthorised, invalid and refused requests (which change nothing), and
the same kind of answer for accepted ones."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from uuid import uuid4

import pytest
from fastapi.routing import APIRoute

from api.command_route import CommandRoute

Api = Any


#: The routes served by the command handler: every ticket command of one shape.
LEAN = {
    ("POST", "/assignments"),
    ("POST", "/assignments/escalate"),
    ("POST", "/assignments/{assignment_id}/accept"),
    ("POST", "/assignments/{assignment_id}/reject"),
    ("POST", "/assignments/{assignment_id}/start"),
    ("POST", "/assignments/{assignment_id}/complete"),
    ("PUT", "/assignments/{assignment_id}/reassign"),
    # DELETE /assignments/{id} takes ?reason= too: a query parameter is not of the
    # command shape, so FastAPI's handler serves it.
    ("POST", "/tickets/{ticket_id}/close"),
    ("POST", "/tickets/{ticket_id}/reopen"),
    ("PATCH", "/tickets/{ticket_id}"),
}


def command_routes(api: Api) -> list[CommandRoute]:
    return [r for r in api.client.app.router.routes if isinstance(r, CommandRoute)]


def _never_called() -> None:
    raise AssertionError("an override of a dependency no route has")


@contextmanager
def standard_handlers(api: Api) -> Iterator[None]:
    """FastAPI's own handler on every command route while the block runs: the
    command handler hands every request to it while the app has dependency
    overrides in force (here, one that changes nothing)."""
    overrides = api.client.app.dependency_overrides
    overrides[_never_called] = _never_called
    try:
        yield
    finally:
        del overrides[_never_called]


def answer(response: Any) -> tuple[int, dict[str, str], Any]:
    try:
        body = response.json()
    except ValueError:
        body = response.content
    return response.status_code, dict(response.headers), body


def test_every_command_route_and_only_those_is_lean(api: Api) -> None:
    lean = {
        (method, route.path)
        for route in command_routes(api) if route.lean
        for method in route.methods
    }
    assert lean == LEAN
    others = [
        r for r in api.client.app.router.routes
        if isinstance(r, APIRoute) and not isinstance(r, CommandRoute)
    ]
    assert others, "the other routes keep FastAPI's handler"


def refused_requests(api: Api) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path, httpx arguments) of requests every one of which must be
    answered with a 4xx and change nothing."""
    ticket_id, assignment_id = api.assignment_in("assigned")
    other_engineer = api.engineer()["id"]
    unknown = str(uuid4())
    good = {"ticket_id": ticket_id, "engineer_id": other_engineer, "tier": 1}
    raw_json = {"content-type": "application/json"}
    text = {"content-type": "text/plain"}
    stranger = {"Authorization": "Bearer nope"}
    a = f"/assignments/{assignment_id}"
    return [
        ("POST", "/assignments", {}),
        ("POST", "/assignments", {"content": b"{", "headers": raw_json}),
        ("POST", "/assignments", {"content": b"null", "headers": raw_json}),
        ("POST", "/assignments", {"content": b"[]", "headers": raw_json}),
        ("POST", "/assignments", {"content": b'{"tier": NaN}', "headers": raw_json}),
        ("POST", "/assignments", {"content": b'{"tier": 1}', "headers": text}),
        ("POST", "/assignments", {"content": b'{"tier": 1}', "headers": {"content-type": ""}}),
        ("POST", "/assignments", {"content": b"\xff\xfe", "headers": raw_json}),
        ("POST", "/assignments", {"json": {**good, "ticket_id": "not-a-uuid"}}),
        ("POST", "/assignments", {"json": {**good, "tier": 0, "surprise": 1}}),
        # The ticket has an active assignment: refused by the domain (409).
        ("POST", "/assignments", {"json": good}),
        ("POST", "/assignments", {"json": {**good, "ticket_id": unknown}}),
        ("POST", "/assignments", {"json": good, "headers": {"If-Match": '"999"'}}),
        ("POST", "/assignments", {"json": good, "headers": {"If-Match": "three"}}),
        ("POST", "/assignments", {"json": good, "headers": stranger}),
        ("POST", "/assignments", {"json": good, "headers": {"Authorization": "Basic x"}}),
        # Which comes first: authentication (401, at the front door) before
        # malformed JSON (400), and If-Match (400) before validation (422).
        ("POST", "/assignments", {"content": b"{", "headers": {**raw_json, **stranger}}),
        ("POST", "/assignments", {"json": {"tier": 0}, "headers": stranger}),
        ("POST", "/assignments", {"json": {"tier": 0}, "headers": {"If-Match": "three"}}),
        ("POST", "/assignments/escalate", {"json": {"ticket_id": ticket_id}}),
        ("POST", "/assignments/not-a-uuid/accept", {}),
        ("POST", f"/assignments/{unknown}/accept", {}),
        ("POST", f"{a}/start", {}),
        ("POST", f"{a}/complete", {"json": {"completion_status": "success",
                                            "time_spent_hours": -1}}),
        ("POST", f"{a}/complete", {"json": {"completion_status": "success",
                                            "time_spent_hours": 1}}),
        ("POST", f"{a}/reject", {"content": b"{", "headers": raw_json}),
        ("PUT", f"{a}/reassign", {}),
        ("PUT", f"{a}/reassign", {"json": {"new_engineer_id": ""}}),
        ("DELETE", a, {"content": b'{"reason": 5}', "headers": raw_json}),
        ("POST", f"/tickets/{unknown}/close",
         {"json": {"reason": "done"},
          "headers": {"content-type": "application/json; charset=utf-8"}}),
        ("POST", f"/tickets/{ticket_id}/reopen", {"json": {"reason": "again"}}),
        ("POST", f"/tickets/{ticket_id}/reopen", {"json": {}}),
    ]


def test_refused_requests_are_answered_as_fastapi_answers_them(api: Api) -> None:
    requests = refused_requests(api)
    with api.records_nothing():
        for method, path, kwargs in requests:
            lean = answer(api.client.request(method, path, **kwargs))
            with standard_handlers(api):
                standard = answer(api.client.request(method, path, **kwargs))
            assert lean == standard, (method, path, kwargs)
            assert 400 <= lean[0] < 500, (method, path, kwargs, lean)
    statuses = {answer(api.client.request(m, p, **kw))[0] for m, p, kw in requests}
    assert statuses >= {400, 401, 404, 409, 412, 422}


def shape(response: Any) -> tuple[int, list[str], list[str]]:
    headers = sorted(k for k in response.headers if k != "content-length")
    return response.status_code, headers, sorted(response.json())


@pytest.mark.parametrize("command", ["assign", "accept", "complete", "escalate", "close"])
def test_accepted_commands_are_answered_alike(api: Api, command: str) -> None:
    answers = []
    for standard in (False, True):
        state = "in_progress" if command == "complete" else "assigned"
        ticket_id, assignment_id = api.assignment_in(state)
        if command in ("assign", "close"):
            api.remove(assignment_id)
        if command == "assign":
            engineer_id = api.engineer()["id"]
            request = ("POST", "/assignments",
                       {"json": {"ticket_id": ticket_id, "engineer_id": engineer_id, "tier": 1}})
        elif command == "accept":
            request = ("POST", f"/assignments/{assignment_id}/accept", {})
        elif command == "complete":
            request = ("POST", f"/assignments/{assignment_id}/complete",
                       {"json": {"completion_status": "success", "time_spent_hours": 2}})
        elif command == "escalate":
            request = ("POST", "/assignments/escalate",
                       {"json": {"ticket_id": ticket_id, "reason": "L2",
                                 "next_engineer_id": api.engineer(tier=2)["id"]}})
        else:
            request = ("POST", f"/tickets/{ticket_id}/close", {"json": {"reason": "done"}})
        method, path, kwargs = request
        if standard:
            with standard_handlers(api):
                response = api.client.request(method, path, **kwargs)
        else:
            response = api.client.request(method, path, **kwargs)
        assert response.status_code in (200, 201), response.text
        api.position(response)
        answers.append(shape(response))
    assert answers[0] == answers[1]
