"""A webhook delivery job as the integration tests run one: fast retries,
private addresses allowed (the receiver is on 127.0.0.1)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ledger.application import Ledger
from projections.event_queries import EventQueries
from projections.store import ReadStore
from projections.webhook_delivery import DeliveryConfig, WebhookDelivery

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def job(ledger: Ledger, store: ReadStore) -> WebhookDelivery:
    config = DeliveryConfig(allow_private=True, retry_base=0.05, retry_max=0.2,
                            poll_interval=0.05)
    delivery = WebhookDelivery(ledger, store, EventQueries(ledger, store), config)
    delivery.table.setup()
    return delivery


def wait_until(condition: Callable[[], Any], seconds: float = 20.0, what: str = "") -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)
