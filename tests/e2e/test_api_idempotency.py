"""``Idempotency-Key`` on commands: replay, conflicts, durability, expiry, races."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from uuid import uuid4

REPLAYED = ("content-type", "etag", "x-ledger-position", "location")


def _key() -> dict[str, str]:
    return {"Idempotency-Key": f"key-{uuid4().hex}"}


def _same_response(first, again) -> None:
    assert again.status_code == first.status_code
    assert again.content == first.content
    for name in REPLAYED:
        assert again.headers.get(name) == first.headers.get(name), name
    assert again.headers.get("idempotent-replayed") == "true"


def test_retry_returns_the_first_response_and_records_nothing(api):
    headers = _key()
    first = api.post("/tickets", json={"title": "once"}, headers=headers)
    assert first.status_code == 201, first.text
    with api.records_nothing():
        again = api.post("/tickets", json={"title": "once"}, headers=headers)
    _same_response(first, again)
    assert again.json()["version"] == 1


def test_retried_assignment_commands_replay(api):
    ticket_id, _eng, assignment = api.assigned()
    headers = _key()
    path = f"/assignments/{assignment['id']}/accept"
    first = api.post(path, headers=headers)
    assert first.status_code == 200, first.text
    with api.records_nothing():
        _same_response(first, api.post(path, headers=headers))
    # Without the key, the same command is a new command (and now a 409).
    api.problem(api.post(path), 409)
    assert api.ticket_row(ticket_id)["status"] == "assigned"


def test_same_key_other_body_or_endpoint_is_422(api):
    headers = _key()
    first = api.post("/tickets", json={"title": "a"}, headers=headers)
    assert first.status_code == 201
    with api.records_nothing():
        api.problem(api.post("/tickets", json={"title": "b"}, headers=headers), 422)
        api.problem(api.post("/engineers", json={"title": "a"}, headers=headers), 422)
        api.problem(api.client.put("/tickets", json={"title": "a"}, headers=headers), (405, 422))
    # The first response is still the one replayed.
    _same_response(first, api.post("/tickets", json={"title": "a"}, headers=headers))


def test_client_errors_are_replayed_too(api):
    ticket_id, _eng, assignment = api.assigned()
    # The ticket has an active assignment, so closing it is a 409.
    headers = _key()
    first = api.post(f"/tickets/{ticket_id}/close", json={"reason": "x"}, headers=headers)
    api.problem(first, 409)
    api.remove(assignment["id"])  # now closing would succeed...
    again = api.post(f"/tickets/{ticket_id}/close", json={"reason": "x"}, headers=headers)
    _same_response(first, again)  # ...but the retry still answers the first 409
    assert api.ticket_row(ticket_id)["status"] == "open"


def test_stale_if_match_is_replayed_as_412(api):
    ticket_id = api.ticket()["id"]
    headers = {**_key(), "If-Match": '"7"'}
    first = api.post(f"/tickets/{ticket_id}/close", headers=headers)
    api.problem(first, 412)
    _same_response(first, api.post(f"/tickets/{ticket_id}/close", headers=headers))


def test_keys_are_scoped_per_principal(api):
    services = api.client.app.state.services
    result, token = services.ledger.create_api_key(name="desk-2", role="dispatcher", actor="t").result()
    services.read_side.wait_for(result.position, 5)
    headers = _key()
    mine = api.post("/tickets", json={"title": "same"}, headers=headers)
    theirs = api.post("/tickets", json={"title": "same"},
                      headers={**headers, "Authorization": f"Bearer {token}"})
    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert mine.json()["id"] != theirs.json()["id"]
    assert "idempotent-replayed" not in theirs.headers


def test_bad_keys_are_refused(api):
    with api.records_nothing():
        api.problem(api.post("/tickets", json={"title": "x"},
                             headers={"Idempotency-Key": "k" * 256}), 400)
    ok = api.post("/tickets", json={"title": "x"}, headers={"Idempotency-Key": "k" * 255})
    assert ok.status_code == 201


def test_reads_ignore_the_header(api):
    headers = _key()
    assert api.get("/tickets", headers=headers).status_code == 200
    assert api.get("/tickets", headers=headers).status_code == 200


def test_keys_survive_a_restart(open_client):
    headers = _key()
    with open_client() as client:
        first = client.post("/tickets", json={"title": "durable"}, headers=headers)
        assert first.status_code == 201, first.text
        head = client.get("/readyz").json()["head"]
    with open_client() as client:
        again = client.post("/tickets", json={"title": "durable"}, headers=headers)
        _same_response(first, again)
        assert client.get("/readyz").json()["head"] == head


def test_keys_expire_after_24_hours(api):
    headers = _key()
    first = api.post("/tickets", json={"title": "old"}, headers=headers)
    assert first.status_code == 201
    store = api.client.app.state.services.idempotency
    real_clock = store.clock
    store.clock = lambda: real_clock() + 24 * 3600 + 60
    try:
        head = api.head()
        again = api.post("/tickets", json={"title": "old"}, headers=headers)
        assert again.status_code == 201
        assert again.json()["id"] != first.json()["id"]
        assert "idempotent-replayed" not in again.headers
        assert api.head() == head + 1
        # ... and the new response is the one remembered from now on.
        _same_response(again, api.post("/tickets", json={"title": "old"}, headers=headers))
        assert store.purge() >= 0
    finally:
        store.clock = real_clock


def test_expired_keys_are_purged(api):
    headers = _key()
    assert api.post("/tickets", json={"title": "p"}, headers=headers).status_code == 201
    store = api.client.app.state.services.idempotency
    real_clock = store.clock
    store.clock = lambda: real_clock() + 25 * 3600
    try:
        assert store.purge() >= 1
    finally:
        store.clock = real_clock
    assert store.get("e2e-tester", headers["Idempotency-Key"]) is None


def test_concurrent_requests_with_one_key_execute_once(api):
    headers = _key()
    title = f"race-{uuid4().hex[:8]}"
    head = api.head()

    def send(_n: int):
        return api.post("/tickets", json={"title": title}, headers=headers)

    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(send, range(8)))
    statuses = sorted(r.status_code for r in responses)
    assert set(statuses) <= {201, 409}, [r.text for r in responses]
    created = [r for r in responses if r.status_code == 201]
    assert created and len({r.json()["id"] for r in created}) == 1
    for r in responses:
        if r.status_code == 409:
            assert r.json()["type"].endswith("/idempotency-in-progress")
    time.sleep(0.1)
    assert api.head() == head + 1
    tickets = [t for page in api.paged("/tickets", limit=1000) for t in page
               if t["title"] == title]
    assert len(tickets) == 1


def test_server_errors_are_not_stored(api, monkeypatch):
    from ledger.errors import StorageUnavailableError

    services = api.client.app.state.services
    original = services.ledger.open_ticket

    def down(**kwargs):
        raise StorageUnavailableError("database down (test)")

    headers = _key()
    monkeypatch.setattr(services.ledger, "open_ticket", down)
    api.problem(api.post("/tickets", json={"title": "retry me"}, headers=headers), 503)
    monkeypatch.setattr(services.ledger, "open_ticket", original)
    # The 503 tripped the storage gate (api.outage); the database is back, as the
    # next probe would find: let the retry through at once.
    api.client.app.state.storage_gate.probed(ok=True)
    retried = api.post("/tickets", json={"title": "retry me"}, headers=headers)
    assert retried.status_code == 201, retried.text
    assert "idempotent-replayed" not in retried.headers


def test_a_known_token_is_not_looked_up_again(api, monkeypatch):
    """The middleware takes a token the authenticator already knows (here the
    admin token) without a lookup, as the routes do."""
    auth = api.client.app.state.services.auth
    looked_up = []
    monkeypatch.setattr(auth, "authenticate", lambda token: looked_up.append(token))
    headers = _key()
    first = api.post("/tickets", json={"title": "known"}, headers=headers)
    again = api.post("/tickets", json={"title": "known"}, headers=headers)
    assert first.status_code == 201, first.text
    _same_response(first, again)
    assert looked_up == []
