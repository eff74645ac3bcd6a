"""The ``Webhook`` aggregate: one endpoint that receives the event log.

Its configuration changes are events, as auditable as any ticket's. Its signing
secret is not: auditors receive the event log, so it must carry no credential.
The secret lives in its own table beside the log (``projections.webhook_store``);
``SecretRotated`` records only that, when and by whom it was replaced.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

from eventsourcing.domain import Aggregate

from ledger.adapter import create
from ledger.errors import WebhookTargetError

#: Where stored events name these classes (``GET /events`` types ``Webhook.*``).
TOPIC_PREFIX = "ledger.domain:Webhook"

#: The message type of ``POST /webhooks/{id}/test``; never an event of the log.
TEST_TYPE = "webhook.test"

#: The actor of what the delivery job records (a deactivation after failures).
SYSTEM = "system"

SCHEMES = ("http", "https")


def check_url(url: str) -> None:
    """A webhook URL is absolute http(s) with a host and no credentials."""
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise WebhookTargetError(f"Webhook URLs must be http or https, not {parts.scheme!r}.")
    if not parts.hostname:
        raise WebhookTargetError("A webhook URL needs a host.")
    if parts.username or parts.password:
        raise WebhookTargetError("A webhook URL may not carry credentials.")


class Webhook(Aggregate):
    """An endpoint: its URL, the event types it receives (None: all) and whether
    deliveries go to it."""

    TOPIC = TOPIC_PREFIX

    class Created(Aggregate.Created):
        """eventsourcing's default creation event; never triggered (see below)."""

        TOPIC = f"{TOPIC_PREFIX}.Created"

    class Registered(Aggregate.Created):
        TOPIC = f"{TOPIC_PREFIX}.Registered"
        url: str
        event_types: list[str] | None
        description: str | None
        actor: str

        def apply(self, webhook: Webhook) -> None:
            webhook.url = self.url
            webhook.event_types = self.event_types
            webhook.description = self.description
            webhook.active = True

    class Updated(Aggregate.Event):
        """Only the fields that changed (url, event_types, description)."""

        TOPIC = f"{TOPIC_PREFIX}.Updated"
        changes: dict[str, Any]
        actor: str

        def apply(self, webhook: Webhook) -> None:
            for key, value in self.changes.items():
                setattr(webhook, key, value)

    class Deactivated(Aggregate.Event):
        """``reason``: ``deleted``, ``patched`` or, from the delivery job (actor
        ``system``), the failures in a row that made it give up."""

        TOPIC = f"{TOPIC_PREFIX}.Deactivated"
        reason: str
        actor: str

        def apply(self, webhook: Webhook) -> None:
            webhook.active = False

    class Activated(Aggregate.Event):
        TOPIC = f"{TOPIC_PREFIX}.Activated"
        actor: str

        def apply(self, webhook: Webhook) -> None:
            webhook.active = True

    class SecretRotated(Aggregate.Event):
        """That the secret was replaced; never the secret."""

        TOPIC = f"{TOPIC_PREFIX}.SecretRotated"
        actor: str

        def apply(self, webhook: Webhook) -> None:
            pass

    UPDATABLE = ("url", "event_types", "description")

    @classmethod
    def register(
        cls, *, webhook_id: UUID, url: str, event_types: list[str] | None,
        description: str | None, actor: str,
    ) -> Webhook:
        check_url(url)
        return create(cls, cls.Registered, id=webhook_id, url=url, event_types=event_types,
                      description=description, actor=actor)

    def update(self, *, changes: dict[str, Any], actor: str) -> bool:
        """Records the fields that really change (``active`` included, as its own
        event); returns whether anything did."""
        if "url" in changes:
            check_url(changes["url"])
        effective = {k: v for k, v in changes.items()
                     if k in self.UPDATABLE and getattr(self, k) != v}
        if effective:
            self.trigger_event(self.Updated, changes=effective, actor=actor)
        active = changes.get("active")
        if active is True and not self.active:
            self.trigger_event(self.Activated, actor=actor)
            return True
        if active is False:
            return self.deactivate(reason="patched", actor=actor) or bool(effective)
        return bool(effective)

    def deactivate(self, *, reason: str, actor: str) -> bool:
        """Stops deliveries; False (nothing recorded) if already inactive."""
        if not self.active:
            return False
        self.trigger_event(self.Deactivated, reason=reason, actor=actor)
        return True

    def rotate_secret(self, *, actor: str) -> None:
        self.trigger_event(self.SecretRotated, actor=actor)
