"""Authentication and roles, end to end.

The table-driven test walks ``app.routes`` (so a new endpoint cannot be
forgotten) and derives each expected outcome from the policy table the app
itself declares: every role, no token, a bad token and a revoked token, against
every endpoint and method.
"""

from __future__ import annotations

import re
import time
import warnings
from typing import Any
from uuid import uuid4

import pytest

from api.app import create_app
from api.auth import DISPATCH, POLICY, PUBLIC, READ, allowed, api_routes, route_permissions
from ledger.keys import ROLES

from api.settings import Settings

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=".*httpx.*", category=UserWarning)
    from fastapi.testclient import TestClient

#: The admin principal of the e2e ``client`` fixture (tests/e2e/conftest.py).
E2E_ACTOR = "e2e-tester"


def _problem(response: Any, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"] and body["type"]


def _settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"database_url": database_url, "demo_on_empty": False,
                              "read_your_writes_timeout": 5.0, "min_position_timeout": 5.0}
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]

#: Values for path parameters: ids that exist nowhere, so commands that pass the
#: policy fail later (404/422) without changing anything.
PARAMS = {
    "ticket_id": lambda: str(uuid4()),
    "assignment_id": lambda: str(uuid4()),
    "engineer_id": lambda: f"nobody-{uuid4().hex[:8]}",
    "name": lambda: "no-such-projection",
    "webhook_id": lambda: str(uuid4()),
    "proposal_id": lambda: str(uuid4()),
    "fault_id": lambda: str(uuid4()),
}


def _path(template: str) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1).split(":")[0]
        assert name in PARAMS, f"no test value for path parameter {name!r} of {template}"
        return PARAMS[name]()

    return re.sub(r"\{([^}]+)\}", value, template)


def _keys(client: Any, *roles: str) -> dict[str, str]:
    """A fresh key per role (named after it); returns role -> token."""
    services = client.app.state.services
    tokens = {}
    for role in roles:
        result, token = services.ledger.create_api_key(
            name=f"{role}-{uuid4().hex[:6]}", role=role, actor="test").result()
        services.read_side.wait_for(result.position, 5)
        tokens[role] = token
    return tokens


def _revoked_token(client: Any) -> str:
    services = client.app.state.services
    result, token = services.ledger.create_api_key(name="gone", role="admin", actor="test").result()
    result = services.ledger.revoke_api_key(result.aggregate_id, reason="test", actor="test").result()
    services.read_side.wait_for(result.position, 5)
    return token


#: Endpoints whose 200 answer never ends (Server-Sent Events): only the status
#: and an error body are read.
ENDLESS = {"/events/stream"}


def _call(client: Any, method: str, path: str, token: str | None) -> Any:
    client.headers.pop("Authorization", None)
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    if path in ENDLESS:
        with client.stream(method, path, headers=headers) as response:
            if response.status_code != 200:
                response.read()
            else:
                response._content = b"(an event stream)"  # for the failure message
        return response
    return client.request(method, path, headers=headers)


def test_every_route_declares_one_permission(client):
    routes = api_routes(client.app)
    assert len(routes) >= 25
    public = set()
    for route in routes:
        found = route_permissions(route)
        assert len(found) == 1 and found[0] in POLICY, (route.path, found)
        if found[0] == PUBLIC:
            public.add(route.path)
    # The probes, and the API's documentation pages (served by the ledger itself).
    assert public == {"/healthz", "/readyz", "/docs", "/docs/oauth2-redirect", "/redoc"}


def test_every_role_against_every_endpoint(client):
    tokens: dict[str, str | None] = {**_keys(client, *ROLES)}
    tokens["no token"] = None
    tokens["bad token"] = "ledger_" + uuid4().hex
    tokens["revoked token"] = _revoked_token(client)
    seen = 0
    failures = []
    for route in api_routes(client.app):
        (permission,) = route_permissions(route)
        for method in sorted(route.methods or ()):
            for who, token in tokens.items():
                role = who if who in ROLES else None
                response = _call(client, method, _path(route.path), token)
                seen += 1
                status = response.status_code
                if allowed(permission, role):
                    ok = status not in (401, 403)
                elif role is None:
                    ok = status == 401 and response.headers.get(
                        "www-authenticate", "").startswith("Bearer")
                else:
                    ok = status == 403
                if not ok:
                    failures.append(f"{who}: {method} {route.path} ({permission}) -> "
                                    f"{status} {response.text[:200]}")
                elif status in (401, 403):
                    _problem(response, status)
    assert not failures, "\n".join(failures)
    assert seen >= 25 * len(tokens)


def test_audit_routes_are_in_the_table_with_their_permissions(client):
    """The feed, export, stream and interval endpoints are walked above; pin their
    permissions: everyone reads the feed, the stream and the intervals; only
    auditors (and admins) take the whole log away."""
    permissions = {route.path: route_permissions(route)[0] for route in api_routes(client.app)}
    assert {path: permissions[path] for path in (
        "/events", "/events/stream", "/events/export", "/assignments/at")} == {
        "/events": "read", "/events/stream": "read", "/events/export": "audit",
        "/assignments/at": "read"}


#: Endpoints added since the table above was written, with the permission each must
#: declare (the table-driven test then checks every role against them).
ROUTE_PERMISSIONS = {
    ("GET", "/sla/breaches"): READ,
    ("GET", "/tickets/{ticket_id}/metrics"): READ,
    ("GET", "/reports/engineers"): READ,
    ("GET", "/reports/summary"): READ,
    ("POST", "/tickets/{ticket_id}/auto-assign"): DISPATCH,
    ("POST", "/proposals"): DISPATCH,
    ("GET", "/proposals"): READ,
    ("GET", "/proposals/{proposal_id}"): READ,
    ("POST", "/proposals/{proposal_id}/approve"): DISPATCH,
    ("POST", "/proposals/{proposal_id}/reject"): DISPATCH,
    ("POST", "/proposals/decide"): DISPATCH,
}


def test_new_endpoints_are_in_the_route_table_with_their_permission(client):
    declared = {
        (method, route.path): route_permissions(route)[0]
        for route in api_routes(client.app) for method in route.methods or ()
    }
    for key, permission in ROUTE_PERMISSIONS.items():
        assert declared.get(key) == permission, key


@pytest.fixture
def dispatcher_and_engineers(api, client):
    """(client as admin, eng-a id, eng-b id, {role or engineer id: token}): two
    engineers that hold keys named after their ids."""
    eng_a, eng_b = f"eng-a-{uuid4().hex[:6]}", f"eng-b-{uuid4().hex[:6]}"
    api.engineer(id=eng_a)
    api.engineer(id=eng_b)
    services = client.app.state.services
    tokens = _keys(client, "dispatcher", "auditor")
    for name in (eng_a, eng_b):
        result, token = services.ledger.create_api_key(name=name, role="engineer", actor="t").result()
        services.read_side.wait_for(result.position, 5)
        tokens[name] = token
    return api, eng_a, eng_b, tokens


def _as(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_engineer_acts_only_on_own_assignments(dispatcher_and_engineers):
    api, eng_a, eng_b, tokens = dispatcher_and_engineers
    ticket = api.client.post("/tickets", json={"title": "t"}, headers=_as(tokens["dispatcher"]))
    assert ticket.status_code == 201, ticket.text
    ticket_id = ticket.json()["id"]
    assigned = api.client.post(
        "/assignments", json={"ticket_id": ticket_id, "engineer_id": eng_a, "tier": 1},
        headers=_as(tokens["dispatcher"]))
    assert assigned.status_code == 201, assigned.text
    aid = assigned.json()["id"]
    assert assigned.json()["assigned_by"].startswith("dispatcher-")

    with api.records_nothing():
        for path, body in ((f"/assignments/{aid}/accept", None),
                           (f"/assignments/{aid}/reject", {"reason": "no"}),
                           (f"/assignments/{aid}/start", None),
                           (f"/assignments/{aid}/complete",
                            {"completion_status": "success", "time_spent_hours": 1})):
            api.problem(api.client.post(path, json=body, headers=_as(tokens[eng_b])), 403)
            api.problem(api.client.post(path, json=body, headers=_as(tokens["dispatcher"])),
                        403)
            api.problem(api.client.post(path, json=body, headers=_as(tokens["auditor"])), 403)
        # Engineers do not dispatch.
        api.problem(api.client.post("/tickets", json={"title": "x"},
                                    headers=_as(tokens[eng_a])), 403)

    for path in (f"/assignments/{aid}/accept", f"/assignments/{aid}/start"):
        response = api.client.post(path, headers=_as(tokens[eng_a]))
        assert response.status_code == 200, response.text
    done = api.client.post(f"/assignments/{aid}/complete", headers=_as(tokens[eng_a]),
                           json={"completion_status": "success", "time_spent_hours": 2})
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "completed"

    # The actor of every event is the authenticated principal.
    events = api.ok(api.get(f"/tickets/{ticket_id}/events"))
    dispatcher = events[0]["actor"]
    assert dispatcher.startswith("dispatcher-")
    assert [e["actor"] for e in events] == [dispatcher, dispatcher, eng_a, eng_a, eng_a]
    history = api.ok(api.get(f"/tickets/{ticket_id}/history"))
    assert [h["changed_by"] for h in history] == [dispatcher, eng_a, eng_a, eng_a]


def test_everyone_authenticated_may_read(dispatcher_and_engineers):
    api, eng_a, _eng_b, tokens = dispatcher_and_engineers
    for token in tokens.values():
        for path in ("/tickets", "/assignments", "/engineers", "/events", "/projections",
                     "/metrics", f"/engineers/{eng_a}",
                     "/assignments/at?time=2026-01-01T00:00:00Z", "/sla/breaches",
                     "/reports/summary", "/reports/engineers"):
            response = api.client.get(path, headers=_as(token))
            assert response.status_code == 200, (path, response.text)


def test_client_cannot_choose_the_actor(api):
    response = api.post("/tickets", json={"title": "t", "actor": "mallory"},
                        headers={"X-Actor": "mallory"})
    assert response.status_code in (201, 422)
    if response.status_code == 201:
        events = api.ok(api.get(f"/tickets/{response.json()['id']}/events"))
        assert [e["actor"] for e in events] == [E2E_ACTOR]


@pytest.mark.parametrize("header", ["Basic abc", "Bearer", "Bearer ", "bearer nope", "Token x"])
def test_malformed_authorization_is_401(client, header):
    client.headers.pop("Authorization", None)
    response = client.get("/tickets", headers={"Authorization": header})
    _problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_health_and_readiness_need_no_token(client):
    client.headers.pop("Authorization", None)
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    _problem(client.get("/metrics"), 401)


def test_revocation_takes_effect_within_the_cache_bound(open_client):
    with open_client(auth_cache_seconds=0.3) as client:
        services = client.app.state.services
        result, token = services.ledger.create_api_key(name="temp", role="auditor", actor="t").result()
        services.read_side.wait_for(result.position, 5)
        assert client.get("/tickets", headers=_as(token)).status_code == 200  # now cached
        result = services.ledger.revoke_api_key(result.aggregate_id, reason="x", actor="t").result()
        services.read_side.wait_for(result.position, 5)
        time.sleep(0.4)
        _problem(client.get("/tickets", headers=_as(token)), 401)


def test_a_new_key_works_at_once(client):
    services = client.app.state.services
    _result, token = services.ledger.create_api_key(name="fresh", role="auditor", actor="t").result()
    # No wait for the read side: a miss waits briefly for a lagging read side.
    assert client.get("/tickets", headers=_as(token)).status_code == 200


def test_first_start_creates_and_announces_an_admin_key(database_url):
    announced: list[str] = []
    settings = _settings(database_url, admin_token=None, bootstrap_admin_key=True)
    with TestClient(create_app(settings, announce_admin_token=announced.append)) as client:
        assert len(announced) == 1
        token = announced[0]
        _problem(client.get("/tickets"), 401)
        response = client.post("/tickets", json={"title": "first"}, headers=_as(token))
        assert response.status_code == 201, response.text
        events = client.get("/events", headers=_as(token)).json()["items"]
        assert [(e["type"], e["actor"]) for e in events] == [
            ("ApiKey.Issued", "bootstrap"), ("Ticket.Opened", "admin")]
        assert token not in str(events)
    # A second start finds a key and creates none.
    with TestClient(create_app(settings, announce_admin_token=announced.append)) as client:
        assert len(announced) == 1
        assert client.get("/tickets", headers=_as(token)).status_code == 200


def test_no_bootstrap_with_an_admin_token(database_url):
    announced: list[str] = []
    settings = _settings(database_url, admin_token="some-admin-token", bootstrap_admin_key=True)
    with TestClient(create_app(settings, announce_admin_token=announced.append)):
        pass
    assert announced == []
