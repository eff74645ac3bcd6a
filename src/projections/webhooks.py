"""``webhooks``: one row per webhook endpoint, as its events left it (never its
secret, which no event carries)."""

from __future__ import annotations

from ledger.webhook import Webhook
from projections.base import Handler, KeyRule, Projection, Rows, row_of
from projections.tables import Column, Table, sid, ts


class WebhooksProjection(Projection):
    name = "webhooks"
    version = 1
    table = Table(
        "webhooks",
        (
            Column("id", "uuid", True),
            Column("url", "text", True),
            Column("event_types", "json"),
            Column("description"),
            Column("active", "bool", True),
            Column("version", "int", True),
            Column("created_at", "ts", True),
            Column("created_by"),
            Column("created_position", "int", True),
            Column("updated_at", "ts", True),
            Column("deactivated_reason"),
            Column("secret_rotated_at", "ts"),
        ),
        key=("id",),
        indexes=(("created_position",),),
        fresh_keys=True,
    )
    tables = (table,)

    def key_rules(self) -> dict[type, KeyRule]:
        rule = row_of(self.table, "originator_id")
        return {Webhook.Updated: rule, Webhook.Deactivated: rule, Webhook.Activated: rule,
                Webhook.SecretRotated: rule}

    def handlers(self) -> dict[type, Handler]:
        return {
            Webhook.Registered: self._registered,
            Webhook.Updated: self._updated,
            Webhook.Deactivated: self._deactivated,
            Webhook.Activated: self._activated,
            Webhook.SecretRotated: self._rotated,
        }

    def _registered(self, e: Webhook.Registered, position: int, rows: Rows) -> None:
        rows.put(self.table, {
            "id": sid(e.originator_id), "url": e.url, "event_types": e.event_types,
            "description": e.description, "active": True, "version": e.originator_version,
            "created_at": ts(e.timestamp), "created_by": e.actor, "created_position": position,
            "updated_at": ts(e.timestamp), "deactivated_reason": None,
            "secret_rotated_at": None,
        })

    def _patch(self, e: Webhook.Event, rows: Rows, **changes: object) -> None:
        rows.patch(self.table, (sid(e.originator_id),), version=e.originator_version,
                   updated_at=ts(e.timestamp), **changes)

    def _updated(self, e: Webhook.Updated, _position: int, rows: Rows) -> None:
        self._patch(e, rows, **e.changes)

    def _deactivated(self, e: Webhook.Deactivated, _position: int, rows: Rows) -> None:
        self._patch(e, rows, active=False, deactivated_reason=e.reason)

    def _activated(self, e: Webhook.Activated, _position: int, rows: Rows) -> None:
        self._patch(e, rows, active=True, deactivated_reason=None)

    def _rotated(self, e: Webhook.SecretRotated, _position: int, rows: Rows) -> None:
        self._patch(e, rows, secret_rotated_at=ts(e.timestamp))
