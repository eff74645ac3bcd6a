"""``ticket_notes``: one row per note on a ticket (internal, client or system)."""

from __future__ import annotations

from ledger.domain import Ticket
from projections.base import Handler, KeyRule, Projection, Rows, row_of
from projections.tables import Column, Table, sid, ts


class TicketNotesProjection(Projection):
    name = "ticket_notes"
    version = 1
    table = Table(
        "ticket_notes",
        (
            Column("id", "uuid", True),
            Column("ticket_id", "uuid", True),
            Column("kind", "text", True),
            Column("text", "text", True),
            Column("author", "text", True),
            Column("created_at", "ts", True),
            Column("position", "int", True),
        ),
        key=("id",),
        indexes=(("ticket_id", "position"),),
        fresh_keys=True,
    )
    tables = (table,)

    def create_rules(self) -> dict[type, KeyRule]:
        return {Ticket.NoteAdded: row_of(self.table, "note_id")}

    def handlers(self) -> dict[type, Handler]:
        return {Ticket.NoteAdded: self._added}

    def _added(self, e: Ticket.NoteAdded, position: int, rows: Rows) -> None:
        rows.put(self.table, {
            "id": sid(e.note_id), "ticket_id": sid(e.originator_id), "kind": e.kind,
            "text": e.text, "author": e.actor, "created_at": ts(e.timestamp),
            "position": position,
        })
