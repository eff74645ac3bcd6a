"""``ledger keys create|list|revoke`` through the CLI, on SQLite and PostgreSQL, and
the principal of a key as the actor of the events it causes."""

from __future__ import annotations

import warnings
from uuid import UUID

import pytest
from typer.testing import CliRunner

from api.cli import app as cli
from ledger.application import Ledger
from ledger.keys import TOKEN_PREFIX, hash_token


@pytest.fixture
def run(database_url: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("LEDGER_DATABASE_URL", database_url)
    monkeypatch.delenv("LEDGER_ADMIN_TOKEN", raising=False)
    runner = CliRunner()

    def invoke(*args: str, code: int = 0):
        result = runner.invoke(cli, list(args), catch_exceptions=False)
        assert result.exit_code == code, result.output
        return result

    return invoke


def _token(output: str) -> str:
    token = output.strip().splitlines()[-1].strip()
    assert token.startswith(TOKEN_PREFIX), output
    return token


def _key_events(database_url: str) -> list:
    app = Ledger(database_url)
    try:
        return [
            app.mapper.to_domain_event(n)
            for n in app.recorder.select_notifications(start=None, limit=1000)
            if n.topic.startswith("ledger.keys:")
        ]
    finally:
        app.close()


def test_create_list_revoke(run, database_url):
    created = run("keys", "create", "--name", "alice", "--role", "dispatcher")
    token = _token(created.stdout)
    second = _token(run("keys", "create", "--name", "eng-7", "--role", "engineer").stdout)
    assert token != second

    events = _key_events(database_url)
    assert [type(e).__name__ for e in events] == ["Issued", "Issued"]
    issued = events[0]
    assert (issued.name, issued.role) == ("alice", "dispatcher")
    assert issued.token_sha256 == hash_token(token)
    assert issued.actor.startswith("cli")
    # The raw token is in no event.
    assert all(token not in repr(vars(e)) for e in events)

    listed = run("keys", "list").stdout
    assert "alice" in listed and "eng-7" in listed and token not in listed

    run("keys", "revoke", "alice", "--reason", "left the team")
    events = _key_events(database_url)
    assert [type(e).__name__ for e in events] == ["Issued", "Issued", "Revoked"]
    assert events[-1].originator_id == issued.originator_id
    assert events[-1].reason == "left the team"
    run("keys", "revoke", "alice", code=1)  # no active key of that name left
    run("keys", "revoke", str(issued.originator_id), code=1)  # already revoked
    run("keys", "revoke", str(events[1].originator_id))  # by id
    assert len(_key_events(database_url)) == 4


def test_refuses_bad_roles_and_names(run, database_url):
    run("keys", "create", "--name", "alice", "--role", "root", code=2)
    run("keys", "create", "--name", "not a name", "--role", "admin", code=2)
    assert _key_events(database_url) == []


def test_actor_of_recorded_events_is_the_principal(run, database_url):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    from api.app import create_app
    from api.settings import Settings

    token = _token(run("keys", "create", "--name", "dispatch-desk", "--role",
                       "dispatcher").stdout)
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, database_url=database_url, actor="ignored-without-admin-token",
        admin_token=None, demo_on_empty=False,
    )
    with TestClient(create_app(settings),
                    headers={"Authorization": f"Bearer {token}"}) as client:
        response = client.post("/tickets", json={"title": "who did this?"})
        assert response.status_code == 201, response.text
        ticket_id = UUID(response.json()["id"])
        events = client.get(f"/tickets/{ticket_id}/events").json()
        assert [e["actor"] for e in events] == ["dispatch-desk"]
    app = Ledger(database_url)
    try:
        notifications = app.recorder.select_notifications(start=None, limit=100)
        opened = [app.mapper.to_domain_event(n) for n in notifications
                  if n.topic.endswith("Ticket.Opened")]
        assert [e.actor for e in opened] == ["dispatch-desk"]
    finally:
        app.close()
