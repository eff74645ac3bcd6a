"""``assignment_intervals``: who held what, when.

One row per assignment: the engineer, the tier, and the interval during which
the assignment was active, ``[valid_from, valid_to)`` in event time. The
interval opens with the event that created the assignment (``Assigned``, or the
new assignment of an ``Escalated``/``Reassigned``) and closes with the event
that took it out of the active statuses; ``ended_by`` names how (the status the
assignment ended in: completed, failed, rejected, escalated, reassigned,
removed). ``valid_to`` is NULL while it is held.

A ticket cannot be closed while it has an active assignment (the aggregate
refuses it), so ``Ticket.Closed`` never ends an interval and is not folded.

"Who held what at T" is then one indexed range query:
``valid_from <= T AND (valid_to IS NULL OR valid_to > T)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ledger.domain import COMPLETED, ESCALATED, FAILED, REASSIGNED, REJECTED, REMOVED, Ticket
from projections.base import Handler, KeyRule, Projection, Rows, row_of
from projections.tables import Column, Table, sid, ts


class AssignmentIntervalsProjection(Projection):
    """``assignment_intervals``: each assignment's engineer, tier and validity."""

    name = "assignment_intervals"
    version = 1
    table = Table(
        "assignment_intervals",
        (
            Column("assignment_id", "uuid", True),
            Column("ticket_id", "uuid", True),
            Column("engineer_id", "text", True),
            Column("tier", "int", True),
            Column("tier_name"),
            Column("valid_from", "ts", True),
            Column("valid_to", "ts"),
            Column("ended_by"),
            Column("from_position", "int", True),
            Column("to_position", "int"),
        ),
        key=("assignment_id",),
        indexes=(
            ("valid_from", "assignment_id"),
            ("engineer_id", "valid_from"),
            ("ticket_id", "valid_from"),
        ),
        fresh_keys=True,
    )
    tables = (table,)

    def key_rules(self) -> dict[type, KeyRule]:
        old = row_of(self.table, "assignment_id")
        return {
            cls: old
            for cls in (Ticket.Rejected, Ticket.Removed, Ticket.Completed,
                        Ticket.Escalated, Ticket.Reassigned)
        }

    def create_rules(self) -> dict[type, KeyRule]:
        new = row_of(self.table, "new_assignment_id")
        return {
            Ticket.Assigned: row_of(self.table, "assignment_id"),
            Ticket.Escalated: new,
            Ticket.Reassigned: new,
        }

    def handlers(self) -> dict[type, Handler]:
        return {
            Ticket.Assigned: self._assigned,
            Ticket.Rejected: self._ended(lambda e: REJECTED),
            Ticket.Removed: self._ended(lambda e: REMOVED),
            Ticket.Completed: self._ended(
                lambda e: FAILED if e.completion_status == "failed" else COMPLETED),
            Ticket.Escalated: self._transferred(ESCALATED),
            Ticket.Reassigned: self._transferred(REASSIGNED),
        }

    def _open(self, e: Any, position: int, rows: Rows, *, assignment_id: Any,
              engineer_id: str) -> None:
        rows.put(self.table, {
            "assignment_id": sid(assignment_id),
            "ticket_id": sid(e.originator_id),
            "engineer_id": engineer_id,
            "tier": e.tier,
            "tier_name": e.tier_name,
            "valid_from": ts(e.timestamp),
            "valid_to": None,
            "ended_by": None,
            "from_position": position,
            "to_position": None,
        })

    def _close(self, e: Any, position: int, rows: Rows, ended_by: str) -> None:
        rows.patch(self.table, (sid(e.assignment_id),), valid_to=ts(e.timestamp),
                   ended_by=ended_by, to_position=position)

    def _assigned(self, e: Ticket.Assigned, position: int, rows: Rows) -> None:
        self._open(e, position, rows, assignment_id=e.assignment_id, engineer_id=e.engineer_id)

    def _ended(self, how: Callable[[Any], str]) -> Handler:
        def handler(e: Any, position: int, rows: Rows) -> None:
            self._close(e, position, rows, how(e))

        return handler

    def _transferred(self, ended_by: str) -> Handler:
        def handler(e: Any, position: int, rows: Rows) -> None:
            self._close(e, position, rows, ended_by)
            self._open(e, position, rows, assignment_id=e.new_assignment_id,
                       engineer_id=e.new_engineer_id)

        return handler
