"""Webhooks over the API, delivered to a real HTTP receiver on 127.0.0.1
(``pytest-httpserver``), on SQLite and PostgreSQL: management, signatures that
verify with ``standardwebhooks``, order, retries after 500s and timeouts,
deactivation after failures, the SSRF rule at registration and at delivery,
and the secret kept out of every event, export, log line and later response."""

from __future__ import annotations

import base64
import json
import logging
import time
from typing import Any
from uuid import uuid4

import pytest
from typer.testing import CliRunner
from werkzeug import Response

from api.cli import app as cli

from conftest import Api
from webhook_receiver import received, verified, wait_for

FAST = {
    "webhook_allow_private": True, "webhook_retry_base": 0.05, "webhook_retry_max": 0.2,
    "webhook_connect_timeout": 1.0, "webhook_request_timeout": 0.5,
}


@pytest.fixture
def hooks(open_client: Any) -> Any:
    with open_client(**FAST) as client:
        yield Api(client)


def register(api: Api, url: str, **fields: Any) -> dict[str, Any]:
    return api.ok(api.post("/webhooks", json={"url": url, **fields}), 201)


def delivered_types(httpserver: Any, secret: str) -> list[tuple[str, int]]:
    return [(m["type"], m["data"]["position"])
            for m in (verified(secret, h, b) for h, b in received(httpserver))]


def test_endpoints_are_managed_and_recorded_without_their_secret(hooks: Api) -> None:
    created = register(hooks, "https://93.184.216.34/hook", description="board",
                       event_types=["Ticket.Opened"])
    secret = created["secret"]
    assert secret.startswith("whsec_") and len(secret) > 40
    assert created["active"] is True and created["event_types"] == ["Ticket.Opened"]
    webhook = f"/webhooks/{created['id']}"
    got = hooks.ok(hooks.get(webhook))
    assert "secret" not in got and got["url"] == "https://93.184.216.34/hook"
    listed = hooks.ok(hooks.get("/webhooks"))  # a global list: paged
    assert [w["id"] for w in listed["items"]] == [created["id"]]
    assert listed["next_cursor"] is None and "secret" not in listed["items"][0]
    patched = hooks.ok(hooks.client.patch(webhook, json={"event_types": None, "active": False}))
    assert patched["event_types"] is None and patched["active"] is False
    assert patched["deactivated_reason"] == "patched"
    assert hooks.ok(hooks.client.patch(webhook, json={"active": True}))["active"] is True
    rotated = hooks.ok(hooks.post(f"{webhook}/rotate-secret"))
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != secret
    deleted = hooks.ok(hooks.client.delete(webhook))
    assert deleted["active"] is False and deleted["deactivated_reason"] == "deleted"
    assert hooks.ok(hooks.get(webhook))["active"] is False  # the record stays
    types = [e["type"] for e in hooks.events(type=[
        "Webhook.Registered", "Webhook.Updated", "Webhook.Deactivated", "Webhook.Activated",
        "Webhook.SecretRotated"])]
    assert types == ["Webhook.Registered", "Webhook.Updated", "Webhook.Deactivated",
                     "Webhook.Activated", "Webhook.SecretRotated", "Webhook.Deactivated"]
    everything = json.dumps(hooks.events(limit=1000))
    exported = CliRunner().invoke(cli, [
        "export", "events", "--database-url",
        hooks.client.app.state.services.settings.database_url], catch_exceptions=False)
    assert exported.exit_code == 0 and created["id"] in exported.output
    for shown in (secret, rotated["secret"]):
        assert shown.removeprefix("whsec_") not in exported.output  # `ledger export`
        assert shown not in everything
        assert shown.removeprefix("whsec_") not in everything
        assert shown not in hooks.client.get("/events/export").text
        assert shown not in hooks.get("/webhooks").text


def test_the_list_is_paged_in_registration_order(hooks: Api) -> None:
    made = [register(hooks, f"https://93.184.216.34/h{n}")["id"] for n in range(5)]
    seen, cursor, pages = [], None, 0
    while True:
        page = hooks.ok(hooks.get("/webhooks", params={"limit": 2, **(
            {"cursor": cursor} if cursor else {})}))
        assert len(page["items"]) <= 2
        seen += [w["id"] for w in page["items"]]
        pages, cursor = pages + 1, page["next_cursor"]
        if cursor is None:
            break
    assert seen == made and pages == 3
    for bad in ({"limit": 0}, {"limit": 1001}):
        hooks.problem(hooks.get("/webhooks", params=bad), 422)
    forged = base64.urlsafe_b64encode(b'["x"]').decode().rstrip("=")
    for path in ("/webhooks", f"/webhooks/{made[0]}/deliveries", "/repeat-faults"):
        hooks.problem(hooks.get(path, params={"cursor": forged}), 400)


def test_an_idempotent_retry_replays_the_creation_secret_included(hooks: Api) -> None:
    """docs/webhooks.md, Secrets: the one documented repeat of a secret."""
    retry = {"Idempotency-Key": f"create-{uuid4().hex}"}
    body = {"url": "https://93.184.216.34/once"}
    first = hooks.ok(hooks.post("/webhooks", json=body, headers=retry), 201)
    with hooks.records_nothing():
        again = hooks.ok(hooks.post("/webhooks", json=body, headers=retry), 201)
    assert again == first and again["secret"].startswith("whsec_")
    assert "secret" not in hooks.ok(hooks.get(f"/webhooks/{first['id']}"))


def test_unknown_webhook_answers_404(hooks: Api) -> None:
    missing = f"/webhooks/{uuid4()}"
    for response in (hooks.get(missing), hooks.client.patch(missing, json={"active": False}),
                     hooks.client.delete(missing), hooks.post(f"{missing}/rotate-secret"),
                     hooks.post(f"{missing}/test"), hooks.get(f"{missing}/deliveries")):
        assert hooks.problem(response, 404)["type"].endswith("/webhook-not-found")


REFUSED = (
    "http://127.0.0.1:9/hook", "http://10.0.0.7/hook", "http://169.254.169.254/latest",
    "http://[::1]/hook", "http://192.168.1.1/", "ftp://93.184.216.34/hook", "file:///etc/passwd",
    "http://user:pw@93.184.216.34/hook",
)


def test_refused_targets_answer_400_and_record_nothing(open_client: Any) -> None:
    with open_client() as client:
        api = Api(client)
        created = register(api, "https://93.184.216.34/hook")
        for url in REFUSED:
            with api.records_nothing():
                body = api.problem(api.post("/webhooks", json={"url": url}), 400)
                assert body["type"].endswith("/webhook-target-refused"), (url, body)
                api.problem(api.client.patch(f"/webhooks/{created['id']}", json={"url": url}),
                            400)


def test_unknown_event_types_answer_400(hooks: Api) -> None:
    with hooks.records_nothing():
        hooks.problem(hooks.post("/webhooks", json={
            "url": "https://93.184.216.34/h", "event_types": ["Ticket.Exploded"]}), 400)


def test_only_admins_manage_webhooks(hooks: Api) -> None:
    services = hooks.client.app.state.services
    for role in ("dispatcher", "auditor", "engineer"):
        result, token = services.ledger.create_api_key(
            name=f"{role}-{uuid4().hex[:6]}", role=role, actor="test").result()
        services.read_side.wait_for(result.position, 5)
        headers = {"Authorization": f"Bearer {token}"}
        for response in (hooks.client.get("/webhooks", headers=headers),
                         hooks.client.post("/webhooks", headers=headers,
                                           json={"url": "https://93.184.216.34/h"})):
            hooks.problem(response, 403)


def test_events_arrive_in_order_signed_as_get_events_shows_them(
    hooks: Api, httpserver: Any
) -> None:
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    created = register(hooks, httpserver.url_for("/hook"))
    tickets = [hooks.ticket()["id"] for _ in range(5)]
    head = hooks.head()
    wait_for(lambda: any(p == head for _t, p in delivered_types(httpserver, created["secret"])),
             what="every event delivered")
    messages = [verified(created["secret"], h, b) for h, b in received(httpserver)]
    positions = [m["data"]["position"] for m in messages]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    shown = {e["position"]: e for e in hooks.events(limit=1000)}
    for message in messages:
        assert message["data"] == shown[message["data"]["position"]]
        assert message["type"] == message["data"]["type"]
        assert message["timestamp"] == message["data"]["recorded_at"]
    opened = [m["data"]["ticket_id"] for m in messages if m["type"] == "Ticket.Opened"]
    assert opened == tickets
    headers = received(httpserver)[0][0]
    assert headers["webhook-id"].startswith("msg_")
    assert headers["webhook-signature"].startswith("v1,")
    assert abs(int(headers["webhook-timestamp"]) - time.time()) < 60
    def delivery() -> dict[str, Any] | None:
        # None until the delivery job records the endpoint's first position.
        return hooks.ok(hooks.get(f"/webhooks/{created['id']}"))["delivery"]

    wait_for(lambda: (delivery() or {}).get("position", 0) >= head,
             what="the position recorded")
    health = delivery()
    assert health is not None and health["failures"] == 0


def test_event_types_filter_what_an_endpoint_receives(hooks: Api, httpserver: Any) -> None:
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    created = register(hooks, httpserver.url_for("/hook"), event_types=["Engineer.Registered"])
    hooks.ticket()
    engineer = hooks.engineer()
    wait_for(lambda: received(httpserver), what="a delivery")
    time.sleep(0.3)
    messages = [verified(created["secret"], h, b) for h, b in received(httpserver)]
    assert [(m["type"], m["data"]["aggregate_id"] != "") for m in messages] == [
        ("Engineer.Registered", True)]
    assert messages[0]["data"]["data"]["engineer_id"] == engineer["id"]


def test_failures_are_retried_with_the_same_webhook_id_and_logged(
    hooks: Api, httpserver: Any
) -> None:
    answers = iter([Response("down", 500), Response("down", 503), Response("ok", 200)])
    httpserver.expect_request("/hook", method="POST").respond_with_handler(
        lambda _request: next(answers, Response("ok", 200)))
    created = register(hooks, httpserver.url_for("/hook"), event_types=["Ticket.Opened"])
    hooks.ticket()
    wait_for(lambda: len(received(httpserver)) >= 3, what="three attempts")
    ids = {h["webhook-id"] for h, _b in received(httpserver)[:3]}
    assert len(ids) == 1
    for headers, body in received(httpserver)[:3]:
        verified(created["secret"], headers, body)
    log = wait_for(lambda: len(rows := hooks.ok(hooks.get(
        f"/webhooks/{created['id']}/deliveries"))["items"]) >= 3 and rows,
        what="the delivery log")
    assert [(r["attempt"], r["status_code"]) for r in log[:3]] == [(3, 200), (2, 503), (1, 500)]
    assert set(log[0]) == {"webhook_id", "position", "attempt", "status_code", "error",
                           "duration_ms", "at", "next_attempt_at"}  # the contract's fields
    assert log[0]["error"] is None and log[1]["error"] == "HTTP 503"
    assert log[1]["next_attempt_at"] > log[1]["at"] and log[0]["next_attempt_at"] is None
    assert len({r["position"] for r in log[:3]}) == 1
    first = hooks.ok(hooks.get(f"/webhooks/{created['id']}/deliveries", params={"limit": 2}))
    rest = hooks.ok(hooks.get(f"/webhooks/{created['id']}/deliveries",
                              params={"limit": 2, "cursor": first["next_cursor"]}))
    assert [r["attempt"] for r in first["items"] + rest["items"]][:3] == [3, 2, 1]


def test_a_timed_out_attempt_is_retried(hooks: Api, httpserver: Any) -> None:
    calls: list[float] = []

    def slow_first(_request: Any) -> Response:
        calls.append(time.monotonic())
        if len(calls) == 1:
            time.sleep(1.0)  # beyond the 0.5 s request timeout
        return Response("ok", 200)

    httpserver.expect_request("/hook", method="POST").respond_with_handler(slow_first)
    created = register(hooks, httpserver.url_for("/hook"), event_types=["Ticket.Opened"])
    hooks.ticket()
    log = wait_for(lambda: [r for r in hooks.ok(hooks.get(
        f"/webhooks/{created['id']}/deliveries"))["items"] if r["status_code"] == 200],
        what="a success after the timeout")
    attempts = hooks.ok(hooks.get(f"/webhooks/{created['id']}/deliveries"))["items"]
    assert attempts[-1]["error"].startswith("timed out") and attempts[-1]["status_code"] is None
    assert log[0]["attempt"] >= 2 and len(log) == 1
    assert all(a["error"].startswith("timed out") for a in attempts if a["status_code"] is None)


def test_an_endpoint_that_keeps_failing_is_deactivated_as_an_event(
    open_client: Any, httpserver: Any
) -> None:
    httpserver.expect_request("/hook", method="POST").respond_with_data("no", status=500)
    with open_client(**FAST, webhook_max_failures=3) as client:
        api = Api(client)
        created = register(api, httpserver.url_for("/hook"), event_types=["Ticket.Opened"])
        api.ticket()
        webhook = f"/webhooks/{created['id']}"
        wait_for(lambda: not api.ok(api.get(webhook))["active"], what="deactivation")
        row = api.ok(api.get(webhook))
        assert row["deactivated_reason"].startswith("3 failed attempts in a row")
        assert row["delivery"]["failures"] == 3
        [event] = api.events(type="Webhook.Deactivated")
        assert event["actor"] == "system" and event["aggregate_id"] == created["id"]
        time.sleep(0.3)
        assert len(received(httpserver)) == 3  # no attempt after giving up
        # Activated again: a fresh count, from the event that failed.
        httpserver.clear()
        httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
        api.ok(api.client.patch(webhook, json={"active": True}))
        wait_for(lambda: received(httpserver), what="a delivery after activation")
        message = verified(created["secret"], *received(httpserver)[0])
        assert message["type"] == "Ticket.Opened"


def test_a_name_resolving_to_loopback_is_refused_at_delivery(
    hooks: Api, httpserver: Any
) -> None:
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    services = hooks.client.app.state.services
    url = f"http://localhost:{httpserver.port}/hook"  # allowed now (ALLOW_PRIVATE=true)
    created = register(hooks, url, event_types=["Ticket.Opened"])
    services.webhooks.config.allow_private = False  # ... and no longer when delivering
    hooks.ticket()
    log = wait_for(lambda: hooks.ok(hooks.get(
        f"/webhooks/{created['id']}/deliveries"))["items"], what="a refused attempt")
    assert log[-1]["error"].startswith("refused:") and "loopback" in log[-1]["error"]
    assert log[-1]["status_code"] is None
    assert received(httpserver) == []
    tested = hooks.ok(hooks.post(f"/webhooks/{created['id']}/test"))
    assert tested["error"].startswith("refused:") and received(httpserver) == []


def test_the_test_message_is_signed_and_logged(hooks: Api, httpserver: Any) -> None:
    httpserver.expect_request("/hook", method="POST").respond_with_data("", status=204)
    created = register(hooks, httpserver.url_for("/hook"), event_types=["Engineer.Updated"])
    with hooks.records_nothing():
        attempt = hooks.ok(hooks.post(f"/webhooks/{created['id']}/test"))
    assert attempt["status_code"] == 204 and attempt["error"] is None
    assert attempt["position"] is None and attempt["webhook_id"] == created["id"]
    [(headers, body)] = received(httpserver)
    message = verified(created["secret"], headers, body)
    assert message["type"] == "webhook.test" and message["data"]["webhook_id"] == created["id"]
    log = hooks.ok(hooks.get(f"/webhooks/{created['id']}/deliveries"))["items"]
    assert log[0]["position"] is None and log[0]["status_code"] == 204


def test_a_rotated_secret_signs_what_follows(hooks: Api, httpserver: Any) -> None:
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    created = register(hooks, httpserver.url_for("/hook"), event_types=["Ticket.Opened"])
    rotated = hooks.ok(hooks.post(f"/webhooks/{created['id']}/rotate-secret"))["secret"]
    hooks.ok(hooks.post(f"/webhooks/{created['id']}/test"))
    [(headers, body)] = received(httpserver)
    verified(rotated, headers, body)
    with pytest.raises(Exception, match="signature"):
        verified(created["secret"], headers, body)


def test_no_log_line_carries_a_secret(
    hooks: Api, httpserver: Any, caplog: pytest.LogCaptureFixture
) -> None:
    httpserver.expect_request("/hook", method="POST").respond_with_data("no", status=500)
    with caplog.at_level(logging.DEBUG):
        created = register(hooks, httpserver.url_for("/hook"))
        rotated = hooks.ok(hooks.post(f"/webhooks/{created['id']}/rotate-secret"))["secret"]
        hooks.ticket()
        wait_for(lambda: len(received(httpserver)) >= 2, what="failed attempts")
        hooks.ok(hooks.post(f"/webhooks/{created['id']}/test"))
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert text  # something was logged (access log, delivery)
    for secret in (created["secret"], rotated):
        assert secret.removeprefix("whsec_") not in text


def test_a_dead_endpoint_does_not_slow_commands(open_client: Any) -> None:
    """Five endpoints that accept connections and never answer (10 s timeout) beside
    none, in the same run: commands take about as long."""
    import socket

    black_hole = socket.socket()
    black_hole.bind(("127.0.0.1", 0))
    black_hole.listen(100)
    port = black_hole.getsockname()[1]
    try:
        with open_client(webhook_allow_private=True) as client:
            api = Api(client)

            def median_open() -> float:
                times = []
                for _ in range(30):
                    started = time.perf_counter()
                    api.ticket()
                    times.append(time.perf_counter() - started)
                return sorted(times)[len(times) // 2]

            median_open()  # warm up
            dead = [register(api, f"http://127.0.0.1:{port}/dead{n}")["id"] for n in range(5)]
            wait_for(lambda: client.app.state.services.webhooks.leading, what="leading")
            timings: dict[bool, list[float]] = {True: [], False: []}
            for active in (False, True, False, True):  # alternating: the machine's load moves
                for webhook_id in dead:
                    api.ok(api.client.patch(f"/webhooks/{webhook_id}", json={"active": active}))
                timings[active].append(median_open())
            without, with_dead = max(timings[False]), min(timings[True])
            assert with_dead < max(without * 3, without + 0.05), timings
    finally:
        black_hole.close()
