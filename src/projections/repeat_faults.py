"""``repeat_faults``: one row per repeat fault, as the contract's RepeatFault."""

from __future__ import annotations

from typing import Any

from ledger.repeat_fault import ACKNOWLEDGED, OPEN, RESOLVED, RepeatFault
from projections.base import Handler, KeyRule, Projection, Rows, row_of
from projections.tables import Column, Table, sid, ts


class RepeatFaultsProjection(Projection):
    name = "repeat_faults"
    version = 1
    table = Table(
        "repeat_faults",
        (
            Column("id", "uuid", True),
            Column("scope", "text", True),
            Column("value", "text", True),
            Column("episode", "int", True),
            Column("ticket_ids", "json", True),
            Column("count", "int", True),
            Column("first_opened_at", "ts", True),
            Column("last_opened_at", "ts", True),
            Column("status", "text", True),
            Column("raised_at", "ts", True),
            Column("raised_position", "int", True),
            Column("acknowledged_by"),
            Column("acknowledged_at", "ts"),
            Column("acknowledge_note"),
            Column("resolved_by"),
            Column("resolved_at", "ts"),
            Column("resolution"),
            Column("version", "int", True),
            Column("updated_at", "ts", True),
        ),
        key=("id",),
        indexes=(("raised_position",), ("status", "raised_position"),
                 ("scope", "value", "raised_position")),
        fresh_keys=True,
    )
    tables = (table,)

    def key_rules(self) -> dict[type, KeyRule]:
        own = row_of(self.table, "originator_id")
        return {RepeatFault.TicketJoined: own, RepeatFault.Acknowledged: own,
                RepeatFault.Resolved: own}

    def create_rules(self) -> dict[type, KeyRule]:
        return {RepeatFault.Raised: row_of(self.table, "originator_id")}

    def handlers(self) -> dict[type, Handler]:
        return {
            RepeatFault.Raised: self._raised,
            RepeatFault.TicketJoined: self._joined,
            RepeatFault.Acknowledged: self._acknowledged,
            RepeatFault.Resolved: self._resolved,
        }

    def _raised(self, e: RepeatFault.Raised, position: int, rows: Rows) -> None:
        at = ts(e.timestamp)
        rows.put(self.table, {
            "id": sid(e.originator_id), "scope": e.scope, "value": e.value,
            "episode": e.episode, "ticket_ids": [sid(t) for t in e.ticket_ids],
            "count": len(e.ticket_ids), "first_opened_at": ts(e.first_opened_at),
            "last_opened_at": ts(e.last_opened_at), "status": OPEN, "raised_at": at,
            "raised_position": position, "acknowledged_by": None, "acknowledged_at": None,
            "acknowledge_note": None, "resolved_by": None, "resolved_at": None,
            "resolution": None, "version": e.originator_version, "updated_at": at,
        })

    def _touch(self, e: Any, rows: Rows, **changes: Any) -> None:
        rows.patch(self.table, (sid(e.originator_id),), version=e.originator_version,
                   updated_at=ts(e.timestamp), **changes)

    def _joined(self, e: RepeatFault.TicketJoined, position: int, rows: Rows) -> None:
        row = rows.get(self.table, (sid(e.originator_id),))
        if row is None:
            return
        opened = ts(e.opened_at)
        ticket_ids = [*row["ticket_ids"], sid(e.ticket_id)]
        self._touch(e, rows, ticket_ids=ticket_ids, count=len(ticket_ids),
                    first_opened_at=min(row["first_opened_at"], opened),
                    last_opened_at=max(row["last_opened_at"], opened))

    def _acknowledged(self, e: RepeatFault.Acknowledged, position: int, rows: Rows) -> None:
        self._touch(e, rows, status=ACKNOWLEDGED, acknowledged_by=e.actor,
                    acknowledged_at=ts(e.timestamp), acknowledge_note=e.note)

    def _resolved(self, e: RepeatFault.Resolved, position: int, rows: Rows) -> None:
        self._touch(e, rows, status=RESOLVED, resolved_by=e.actor, resolved_at=ts(e.timestamp),
                    resolution=e.resolution)
