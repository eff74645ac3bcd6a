"""What the API holds for webhooks: the delivery job (with its tables) built
from the settings, and new signing secrets."""

from __future__ import annotations

import base64
import secrets
from typing import Any

from api.settings import Settings
from projections.webhook_delivery import DeliveryConfig, WebhookDelivery

#: Standard Webhooks' secret prefix; the rest is base64 of the key's bytes.
SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    """A fresh signing secret: ``whsec_`` and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def delivery_config(settings: Settings) -> DeliveryConfig:
    return DeliveryConfig(
        allow_private=settings.webhook_allow_private,
        max_failures=settings.webhook_max_failures,
        retry_base=settings.webhook_retry_base,
        retry_max=settings.webhook_retry_max,
        connect_timeout=settings.webhook_connect_timeout,
        request_timeout=settings.webhook_request_timeout,
        log_days=settings.webhook_log_days,
    )


def build_webhooks(settings: Settings, ledger: Any, store: Any, events: Any) -> WebhookDelivery:
    """The delivery job, its tables created (started by the lifespan)."""
    job = WebhookDelivery(ledger, store, events, delivery_config(settings))
    job.table.setup()
    return job
