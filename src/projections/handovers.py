"""``handovers``: one row per handover of a ticket between teams, with the
snapshot and hash its event froze (``ledger.handover``)."""

from __future__ import annotations

from ledger.domain import Ticket
from projections.base import Handler, Projection, Rows
from projections.tables import Column, Table, sid, ts


class HandoversProjection(Projection):
    """``handovers``: each ``Ticket.HandedOver`` as a row, oldest first per ticket."""

    name = "handovers"
    version = 1
    table = Table(
        "handovers",
        (
            Column("id", "uuid", True),
            Column("ticket_id", "uuid", True),
            #: The ticket's version the handover recorded (its snapshot is of the one before).
            Column("ticket_version", "int", True),
            Column("from_team"),
            Column("to_team", "text", True),
            Column("handed_over_by", "text", True),
            Column("handed_over_at", "ts", True),
            Column("notes"),
            Column("snapshot", "json", True),
            Column("snapshot_hash", "text", True),
            Column("position", "int", True),
        ),
        key=("id",),
        indexes=(("ticket_id", "ticket_version"),),
        fresh_keys=True,
    )
    tables = (table,)

    def handlers(self) -> dict[type, Handler]:
        return {Ticket.HandedOver: self._handed_over}

    def _handed_over(self, e: Ticket.HandedOver, position: int, rows: Rows) -> None:
        rows.put(self.table, {
            "id": sid(e.handover_id),
            "ticket_id": sid(e.originator_id),
            "ticket_version": e.originator_version,
            "from_team": e.from_team,
            "to_team": e.to_team,
            "handed_over_by": e.actor,
            "handed_over_at": ts(e.timestamp),
            "notes": e.notes,
            "snapshot": e.snapshot,
            "snapshot_hash": e.snapshot_hash,
            "position": position,
        })
