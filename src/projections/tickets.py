"""``tickets``: one row per ticket with its status and current assignment."""

from __future__ import annotations

from typing import Any

import orjson

from ledger.domain import Ticket
from ledger.ticket_details import LOCATION_KEYS
from projections.base import Handler, KeyRule, Projection, Rows, row_of
from projections.tables import Column, Table, sid, ts


def location_columns(location: dict[str, Any] | None) -> dict[str, Any]:
    """A ticket's location as its columns (``location_pole`` ...)."""
    return {f"location_{key}": (location or {}).get(key) for key in LOCATION_KEYS}


class TicketsProjection(Projection):
    """``tickets``: one row per ticket with its status and current assignment."""

    name = "tickets"
    version = 4
    table = Table(
        "tickets",
        (
            Column("id", "uuid", True),
            Column("title", "text", True),
            Column("description"),
            Column("priority", "text", True),
            Column("required_skill"),
            Column("equipment_id"),
            Column("reference"),
            Column("status", "text", True),
            Column("version", "int", True),
            Column("current_assignment_id", "uuid"),
            Column("current_engineer_id"),
            Column("current_tier", "int"),
            Column("assignment_count", "int", True),
            Column("opened_by"),
            Column("opened_position", "int", True),
            Column("created_at", "ts", True),
            Column("updated_at", "ts", True),
            Column("resolved_at", "ts"),
            Column("closed_at", "ts"),
            Column("territory"),
            Column("required_certification"),
            Column("due_at", "ts"),
            *(Column(f"location_{key}") for key in LOCATION_KEYS),
            Column("owner_team"),
            #: What the ticket asks of its engineer, as ``ticket_needs.need``.
            Column("need", "text", True),
        ),
        key=("id",),
        indexes=(("opened_position",), ("status", "opened_position"), ("reference",),
                 ("current_engineer_id",), ("territory", "opened_position"),
                 *((f"location_{key}", "opened_position") for key in LOCATION_KEYS),
                 ("owner_team", "opened_position"),
                 ("need", "status")),
        # Help-desk tickets have no place, territory, team or outside reference:
        # every command rewrites the row (its status changes), and each of these
        # indexes would take a new entry for it, inside the commit's window.
        sparse=("reference", "territory", *(f"location_{key}" for key in LOCATION_KEYS),
                "owner_team"),
        fresh_keys=True,
    )
    #: Every combination of (territory, required skill, required certification)
    #: a ticket has asked for, once each (rows are only ever added: a fold
    #: cannot know when the last ticket of one stops asking). Coverage gaps
    #: are judged per row here, then counted on ``tickets`` by ``need``.
    needs = Table(
        "ticket_needs",
        (Column("need", "text", True), Column("territory"), Column("skill"),
         Column("certification")),
        key=("need",),
    )
    tables = (table, needs)

    def key_rules(self) -> dict[type, KeyRule]:
        own = row_of(self.table, "originator_id")
        return {cls: own for cls in self.handlers() if cls is not Ticket.Opened}

    def create_rules(self) -> dict[type, KeyRule]:
        return {Ticket.Opened: row_of(self.table, "originator_id")}

    def handlers(self) -> dict[type, Handler]:
        return {
            Ticket.Opened: self._opened,
            Ticket.Updated: self._updated,
            Ticket.Assigned: self._assigned,
            Ticket.Accepted: self._status("assigned"),
            Ticket.Started: self._status("in_progress"),
            Ticket.Rejected: self._ended,
            Ticket.Removed: self._ended,
            Ticket.Completed: self._completed,
            Ticket.Escalated: self._transferred,
            Ticket.Reassigned: self._transferred,
            Ticket.Closed: self._closed,
            Ticket.Reopened: self._reopened,
            Ticket.HandedOver: self._handed_over,
            Ticket.NoteAdded: self._noted,
        }

    def _touch(self, e: Any, rows: Rows, **changes: Any) -> None:
        rows.patch(
            self.table,
            (sid(e.originator_id),),
            version=e.originator_version,
            updated_at=ts(e.timestamp),
            **changes,
        )

    def _noted(self, e: Ticket.NoteAdded, position: int, rows: Rows) -> None:
        """A note changes nothing shown here but the version (the ETag)."""
        self._touch(e, rows)

    def _opened(self, e: Ticket.Opened, position: int, rows: Rows) -> None:
        at = ts(e.timestamp)
        rows.put(
            self.table,
            {
                "id": sid(e.originator_id),
                "title": e.title,
                "description": e.description,
                "priority": e.priority,
                "required_skill": e.required_skill,
                "equipment_id": e.equipment_id,
                "reference": e.reference,
                "status": "open",
                "version": e.originator_version,
                "current_assignment_id": None,
                "current_engineer_id": None,
                "current_tier": None,
                "assignment_count": 0,
                "opened_by": e.actor,
                "opened_position": position,
                "created_at": at,
                "updated_at": at,
                "resolved_at": None,
                "closed_at": None,
                "territory": e.territory,
                "required_certification": e.required_certification,
                "due_at": ts(e.due_at),
                **location_columns(e.location),
                "owner_team": None,
                "need": self._need(rows, e.territory, e.required_skill,
                                   e.required_certification),
            },
        )

    def _need(
        self, rows: Rows, territory: str | None, skill: str | None, certification: str | None
    ) -> str:
        """The need's key (JSON of the three), its ``ticket_needs`` row put."""
        need = orjson.dumps([territory, skill, certification]).decode()
        rows.put(self.needs, {"need": need, "territory": territory, "skill": skill,
                              "certification": certification})
        return need

    def _updated(self, e: Ticket.Updated, position: int, rows: Rows) -> None:
        changes = dict(e.changes)
        if "location" in changes:
            changes.update(location_columns(changes.pop("location")))
        if "due_at" in changes:
            changes["due_at"] = ts(changes["due_at"])
        row = rows.get(self.table, (sid(e.originator_id),))
        if row is not None and changes.keys() & {
            "territory", "required_skill", "required_certification"
        }:
            now = {**row, **changes}
            changes["need"] = self._need(
                rows, now["territory"], now["required_skill"], now["required_certification"])
        self._touch(e, rows, **changes)

    def _assigned(self, e: Ticket.Assigned, position: int, rows: Rows) -> None:
        self._touch(
            e,
            rows,
            status="assigned",
            current_assignment_id=sid(e.assignment_id),
            current_engineer_id=e.engineer_id,
            current_tier=e.tier,
            assignment_count=e.sequence,
        )

    def _status(self, status: str) -> Handler:
        def handler(e: Any, position: int, rows: Rows) -> None:
            self._touch(e, rows, status=status)

        return handler

    def _ended(self, e: Any, position: int, rows: Rows) -> None:
        self._touch(
            e, rows, status="open", current_assignment_id=None,
            current_engineer_id=None, current_tier=None,
        )

    def _completed(self, e: Ticket.Completed, position: int, rows: Rows) -> None:
        if e.completion_status == "success":
            self._touch(
                e, rows, status="resolved", resolved_at=ts(e.timestamp),
                current_assignment_id=None, current_engineer_id=None, current_tier=None,
            )
        else:
            self._ended(e, position, rows)

    def _transferred(self, e: Any, position: int, rows: Rows) -> None:
        self._touch(
            e,
            rows,
            status="assigned",
            current_assignment_id=sid(e.new_assignment_id),
            current_engineer_id=e.new_engineer_id,
            current_tier=e.tier,
            assignment_count=e.sequence,
        )

    def _closed(self, e: Ticket.Closed, position: int, rows: Rows) -> None:
        self._touch(e, rows, status="closed", closed_at=ts(e.timestamp))

    def _reopened(self, e: Ticket.Reopened, position: int, rows: Rows) -> None:
        self._touch(e, rows, status="open", closed_at=None, resolved_at=None)

    def _handed_over(self, e: Ticket.HandedOver, position: int, rows: Rows) -> None:
        self._touch(e, rows, owner_team=e.to_team)
