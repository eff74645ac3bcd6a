"""The ``Ledger``'s webhook commands (a mixin: ``Ledger`` inherits it).

Each records ``Webhook`` events through the write pipeline, as API keys do. The
signing secret never passes through here: the API keeps it beside the log."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from ledger.errors import WebhookNotFoundError
from ledger.executor import Job
from ledger.pipeline import WritePipeline, then
from ledger.results import CommandResult, recorded
from ledger.webhook import Webhook


class WebhookCommands:
    """Register, update, deactivate and note secret rotations of endpoints."""

    # Ledger's own.
    _pipeline: WritePipeline
    _get: Callable[[UUID], Any]

    def get_webhook(self, webhook_id: UUID) -> Webhook:
        try:
            webhook = self._get(webhook_id)
        except AggregateNotFoundError:
            webhook = None
        if not isinstance(webhook, Webhook):
            raise WebhookNotFoundError(f"Webhook {webhook_id} does not exist.")
        return webhook

    def register_webhook(
        self, *, webhook_id: UUID, url: str, event_types: list[str] | None,
        description: str | None, actor: str,
    ) -> Future[CommandResult]:
        webhook = Webhook.register(webhook_id=webhook_id, url=url, event_types=event_types,
                                   description=description, actor=actor)
        return then(self._pipeline.saving(webhook), lambda saved: recorded(webhook, saved))

    def _webhook_job(
        self, webhook_id: UUID, command: Any, expected_version: int | None = None
    ) -> Future[CommandResult | None]:
        """``None`` when the command recorded nothing (nothing changed)."""
        return self._pipeline.submit(Job(
            webhook_id, command, expected_version, load=self.get_webhook,
            answer=lambda webhook, _r, saved: recorded(webhook, saved) if saved else None,
            label=f"Webhook {webhook_id}",
        ))

    def update_webhook(
        self, webhook_id: UUID, *, changes: dict[str, Any], actor: str,
        expected_version: int | None = None,
    ) -> Future[CommandResult | None]:
        return self._webhook_job(
            webhook_id, lambda w: w.update(changes=changes, actor=actor), expected_version)

    def deactivate_webhook(
        self, webhook_id: UUID, *, reason: str, actor: str
    ) -> Future[CommandResult | None]:
        return self._webhook_job(webhook_id, lambda w: w.deactivate(reason=reason, actor=actor))

    def record_secret_rotation(self, webhook_id: UUID, *, actor: str) -> Future[CommandResult]:
        return self._webhook_job(webhook_id, lambda w: w.rotate_secret(actor=actor))  # type: ignore[return-value]
