"""Tables the read side keeps beside its read tables (checkpoints, policy
positions), on the read store's connections, written in SQL both backends
take (``%s`` placeholders, turned into SQLite's ``?``)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any


def create_side_tables(datastore: Any, statements: Sequence[str]) -> None:
    """Runs the ``CREATE ... IF NOT EXISTS`` statements in one transaction,
    tried three times: two PostgreSQL processes creating the same table at once
    can collide in the catalog even with ``IF NOT EXISTS``."""
    for attempt in range(3):
        try:
            with datastore.transaction(commit=True) as c:
                for statement in statements:
                    c.execute(statement)
            return
        except Exception:  # noqa: BLE001 - the other process's creation; try again
            if attempt == 2:
                raise
            time.sleep(0.1)


class SideTable:
    """A table beside the read tables: ``setup`` creates it (``create_side_tables``)."""

    def __init__(self, store: Any) -> None:
        self.datastore = store.datastore
        self.postgres = store.placeholder == "%s"

    def _sql(self, statement: str) -> str:
        return statement if self.postgres else statement.replace("%s", "?")
