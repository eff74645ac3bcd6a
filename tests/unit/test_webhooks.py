"""Webhooks without a store: the SSRF rule, the back-off, message ids and bodies,
the signing, and the ``Webhook`` aggregate's rules."""

from __future__ import annotations

import asyncio
import json
import ssl
from uuid import uuid4

import pytest
from standardwebhooks import Webhook as Verifier

from api.webhook_service import new_secret
from ledger.errors import WebhookTargetError
from ledger.webhook import Webhook
from ledger.webhook_targets import check_target, refusal
from projections.webhook_delivery import backoff, message, message_id
from projections.webhook_transport import Sender, tls_context


@pytest.mark.parametrize(("address", "kind"), [
    ("127.0.0.1", "loopback"), ("::1", "loopback"), ("::ffff:127.0.0.1", "loopback"),
    ("10.1.2.3", "private"), ("172.16.0.1", "private"), ("192.168.0.10", "private"),
    ("169.254.169.254", "link-local"), ("fe80::1", "link-local"), ("0.0.0.0", "private"),
    ("100.64.0.1", "non-global"), ("93.184.216.34", None), ("2606:4700::1111", None),
])
def test_addresses_are_judged_by_their_range(address: str, kind: str | None) -> None:
    assert refusal(address) == kind


def test_a_name_is_judged_by_what_it_resolves_to() -> None:
    def to(address: str):  # noqa: ANN202
        return lambda _host, _port: [address]

    check_target("https://hooks.example.test/x", allow_private=False, resolve=to("93.184.216.34"))
    with pytest.raises(WebhookTargetError, match="loopback"):
        check_target("https://hooks.example.test/x", allow_private=False, resolve=to("127.0.0.1"))
    check_target("https://hooks.example.test/x", allow_private=True, resolve=to("127.0.0.1"))
    # Not resolvable yet: every delivery checks what it connects to.
    check_target("https://nowhere.example.test/x", allow_private=False, resolve=lambda *_: [])


@pytest.mark.parametrize("url", ["ftp://93.184.216.34/", "javascript:alert(1)", "https:///x",
                                 "https://u:p@93.184.216.34/"])
def test_only_plain_http_urls_are_accepted(url: str) -> None:
    with pytest.raises(WebhookTargetError):
        check_target(url, allow_private=True)


def test_backoff_doubles_up_to_its_cap_with_jitter() -> None:
    assert [backoff(n, 1.0, 60.0, draw=1.0) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 8.0]
    assert [backoff(n, 1.0, 60.0, draw=0.0) for n in (1, 2, 3)] == [0.5, 1.0, 2.0]
    assert backoff(40, 1.0, 60.0, draw=1.0) == 60.0
    assert backoff(10_000, 1.0, 3600.0, draw=0.5) == 2700.0
    draws = {backoff(3, 1.0, 60.0) for _ in range(50)}
    assert len(draws) > 1 and all(2.0 <= d <= 4.0 for d in draws)


def test_a_message_id_is_the_same_for_one_event_to_one_endpoint() -> None:
    a, b = str(uuid4()), str(uuid4())
    assert message_id(a, 7) == message_id(a, 7)
    assert len({message_id(a, 7), message_id(a, 8), message_id(b, 7)}) == 3
    assert message_id(a, 7).startswith("msg_")


def test_the_body_is_type_timestamp_and_the_event() -> None:
    event = {"position": 3, "type": "Ticket.Opened", "recorded_at": "2026-01-02T03:04:05.000006Z",
             "data": {"title": "x"}}
    assert json.loads(message(event)) == {"type": "Ticket.Opened",
                                          "timestamp": "2026-01-02T03:04:05.000006Z",
                                          "data": event}


def test_signatures_verify_with_the_secret_alone() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_")
    sender = Sender(allow_private=lambda: True, connect_timeout=1, request_timeout=1)
    body = b'{"type":"webhook.test"}'
    headers = sender.headers(secret, "msg_1", body)
    assert Verifier(secret).verify(body, headers) == {"type": "webhook.test"}
    with pytest.raises(Exception, match="signature"):
        Verifier(new_secret()).verify(body, headers)
    asyncio.run(sender.aclose())


def test_a_delivery_to_a_name_resolving_to_loopback_is_refused() -> None:
    async def attempt() -> str | None:
        sender = Sender(allow_private=lambda: False, connect_timeout=1, request_timeout=1,
                        resolve=lambda _host, _port: ["127.0.0.1"])
        try:
            outcome = await sender.send("http://hooks.example.test:9/x", new_secret(),
                                        "msg_1", b"{}")
        finally:
            await sender.aclose()
        return outcome.error

    error = asyncio.run(attempt())
    assert error is not None and error.startswith("refused:") and "loopback" in error


def test_the_aggregate_records_only_what_changes() -> None:
    webhook = Webhook.register(webhook_id=uuid4(), url="https://a.example/x", event_types=None,
                               description=None, actor="admin")
    assert not webhook.update(changes={"url": "https://a.example/x", "active": True}, actor="a")
    assert webhook.update(changes={"description": "d", "active": False}, actor="a")
    events = webhook.collect_events()
    assert [type(e).__name__ for e in events] == ["Registered", "Updated", "Deactivated"]
    assert events[1].changes == {"description": "d"}
    assert not webhook.deactivate(reason="deleted", actor="a")
    with pytest.raises(WebhookTargetError):
        webhook.update(changes={"url": "gopher://a.example/"}, actor="a")
    assert all("secret" not in vars(e) for e in events)


def test_every_delivery_pool_verifies_tls_with_one_context() -> None:
    # Made once per process (loading the CA certificates costs CPU at each
    # start of the deliveries otherwise), and it checks certificates and names.
    context = tls_context()
    assert context is tls_context()
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
