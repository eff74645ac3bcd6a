"""Reading webhook endpoints: the ``webhooks`` view, each row with its delivery
health from the delivery state (never a secret)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from projections.queries import Page, decode_position_cursor, encode_cursor
from projections.store import ReadStore
from projections.webhook_store import WebhookStore
from projections.webhooks import WebhooksProjection

_COLUMNS = ", ".join(c.name for c in WebhooksProjection.table.columns)


class WebhookQueries:
    def __init__(self, store: ReadStore) -> None:
        self.store = store
        self.table = WebhookStore(store)

    def _with_health(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        states = self.table.states([r["id"] for r in rows])
        for row in rows:
            state = states.get(row["id"])
            row["delivery"] = asdict(state) if state is not None else None
        return rows

    def endpoints(self) -> list[dict[str, Any]]:
        """Every endpoint, in the order they were registered."""
        return self._with_health(self.store.rows(
            WebhooksProjection.table,
            f"SELECT {_COLUMNS} FROM webhooks ORDER BY created_position"))

    def page(self, *, limit: int, cursor: str | None) -> Page:
        """A page of the endpoints, in the order they were registered."""
        where, params = "", []
        if cursor:
            where, params = "WHERE created_position > %s", [decode_position_cursor(cursor)]
        rows = self.store.rows(
            WebhooksProjection.table,
            f"SELECT {_COLUMNS} FROM webhooks {where} ORDER BY created_position LIMIT %s",
            [*params, limit + 1])
        more = len(rows) > limit
        items = self._with_health(rows[:limit])
        return Page(items, encode_cursor([items[-1]["created_position"]]) if more else None)

    def endpoint(self, webhook_id: str) -> dict[str, Any] | None:
        rows = self.store.rows(WebhooksProjection.table,
                               f"SELECT {_COLUMNS} FROM webhooks WHERE id = %s", [webhook_id])
        return self._with_health(rows)[0] if rows else None
