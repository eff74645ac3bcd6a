"""A test-only projection in two code generations, for the rolling deploy test
(tests/e2e/test_rolling_deploy.py): ``LEDGER_TEST_PROBE_VERSION`` (1 or 2)
selects its version and its fold, as two releases of one projection would.
Loaded into ``ledger`` processes through ``LEDGER_PROJECTION_PLUGINS``.

One row per ticket: how many of the ticket's events were folded (``events``),
the position of the last (``last_position``), and which version folded them
(``folded_by``); version 2 also keeps the title in capitals, so the two folds
differ."""

from __future__ import annotations

import os
from typing import Any

from projections.base import Handler, KeyRule, Projection, Rows, row_of
from projections.tables import Column, Table, sid
from projections.tickets import TicketsProjection

VERSION_ENV = "LEDGER_TEST_PROBE_VERSION"
PLUGIN = "deploy_probe:DeployProbe"
TABLE = Table(
    "deploy_probe",
    (
        Column("ticket_id", "uuid", True),
        Column("title", "text", True),
        Column("folded_by", "int", True),
        Column("events", "int", True),
        Column("last_position", "int", True),
    ),
    key=("ticket_id",),
)


def ticket_events() -> list[type]:
    """The Ticket event classes the probe folds (those of the tickets projection)."""
    return list(TicketsProjection().handlers())


class DeployProbe(Projection):
    name = "deploy_probe"
    version = int(os.environ.get(VERSION_ENV, "1"))
    table = TABLE
    tables = (TABLE,)

    def handlers(self) -> dict[type, Handler]:
        return {cls: self._counted for cls in ticket_events()}

    def key_rules(self) -> dict[type, KeyRule]:
        own = row_of(self.table, "originator_id")
        return {cls: own for cls in ticket_events() if cls.__name__ != "Opened"}

    def _counted(self, e: Any, position: int, rows: Rows) -> None:
        key = (sid(e.originator_id),)
        row = rows.get(self.table, key)
        if row is None:
            title = e.title.upper() if self.version == 2 else e.title
            rows.put(self.table, {"ticket_id": key[0], "title": title,
                                  "folded_by": self.version, "events": 1,
                                  "last_position": position})
        else:
            rows.patch(self.table, key, events=row["events"] + 1, last_position=position)
