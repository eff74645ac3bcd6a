"""Storage failures inside one app (simulated, on SQLite and PostgreSQL): 503
problem+json with Retry-After, then fail-fast through the storage gate, and
recovery by itself once a probe finds the stores again. The real thing, a
PostgreSQL stopped and started under load, is test_fault_postgres_restart.py."""

from __future__ import annotations

import time

from eventsourcing.persistence import OperationalError


def _unavailable(api, response):
    body = api.problem(response, 503)
    assert body["type"].endswith("/storage-unavailable") or body["type"].endswith("/not-ready")
    assert response.headers["retry-after"].isdigit()
    return body


def test_an_outage_answers_503_fast_and_recovers_by_itself(api, monkeypatch):
    services = api.client.app.state.services
    gate = api.client.app.state.storage_gate
    gate.hold = 0.3
    ticket = api.ticket()

    def down(*_args, **_kwargs):
        raise OperationalError("connection refused (test)")

    monkeypatch.setattr(services.ledger.recorder, "max_notification_id", down)
    monkeypatch.setattr(services.store, "select", down)
    monkeypatch.setattr(services.store, "rows", down)  # PostgreSQL's reads rows on its own
    with monkeypatch.context() as outage:
        outage.setattr(services.store, "catalog", down)
        _unavailable(api, api.get("/tickets"))  # the read store fails: 503, gate trips
        assert gate.tripped
        started = time.monotonic()
        for path in ("/tickets", f"/tickets/{ticket['id']}", "/readyz", "/events"):
            _unavailable(api, api.get(path))
        _unavailable(api, api.post("/tickets", json={"title": "refused"}))
        assert time.monotonic() - started < 1.0, "refused at once, not after retries"
        assert api.get("/healthz").status_code == 200  # alive, just not ready
        time.sleep(0.35)
        _unavailable(api, api.get("/tickets"))  # the probe finds it still down
        assert gate.tripped
    monkeypatch.undo()  # the database is back
    time.sleep(0.35)
    assert api.ok(api.get(f"/tickets/{ticket['id']}"))["id"] == ticket["id"]  # the probe
    assert not gate.tripped
    api.ticket()  # commands are recorded again
    assert api.readyz()["lag"] == 0


def test_storage_errors_in_the_idempotency_middleware_are_503_not_500(api, monkeypatch):
    services = api.client.app.state.services

    def down(*_args, **_kwargs):
        raise OperationalError("connection refused (test)")

    monkeypatch.setattr(services.idempotency, "reserve", down)
    response = api.post("/tickets", json={"title": "x"}, headers={"Idempotency-Key": "k-1"})
    _unavailable(api, response)
