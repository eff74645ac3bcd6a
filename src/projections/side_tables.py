"""Tables a feature keeps beside the read tables, in the same database, that
are not projections (no rebuild touches them): checkpoints, idempotency keys,
webhook secrets and deliveries, policy positions. Each store subclasses ``SideTables``."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any


class SideTables:
    """Statements written with ``%s`` placeholders, on the read store's datastore
    (SQLite or PostgreSQL)."""

    def __init__(self, store: Any) -> None:
        self.datastore = store.datastore
        self.postgres = store.placeholder == "%s"

    def _sql(self, statement: str) -> str:
        return statement if self.postgres else statement.replace("%s", "?")

    def create(self, statements: Sequence[str]) -> None:
        """Runs ``CREATE … IF NOT EXISTS`` statements in one transaction, again
        if another process was creating them at the same moment."""
        for attempt in range(3):
            try:
                with self.datastore.transaction(commit=True) as c:
                    for statement in statements:
                        c.execute(statement)
                return
            except Exception:  # noqa: BLE001 - two processes creating them at once (PostgreSQL)
                if attempt == 2:
                    raise
                time.sleep(0.1)

    def write(self, statement: str, params: Sequence[Any]) -> None:
        """One statement in its own committed transaction."""
        with self.datastore.transaction(commit=True) as c:
            c.execute(self._sql(statement), params)

    def read(self, statement: str, params: Sequence[Any]) -> list[Any]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(self._sql(statement), params)
            return c.fetchall()
