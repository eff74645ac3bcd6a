"""The assignment tables: every assignment (``engineer_assignments``), each
ticket's active one (``current_ticket_assignments``) and every change to an
assignment (``assignment_history``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ledger.domain import (
    ACCEPTED,
    ASSIGNED,
    COMPLETED,
    ESCALATED,
    FAILED,
    IN_PROGRESS,
    REASSIGNED,
    REJECTED,
    REMOVED,
    Ticket,
)
from projections.base import Handler, KeyRule, Projection, Rows, row_of
from projections.tables import Column, Table, sid, ts

ASSIGNMENT_COLUMNS = (
    Column("id", "uuid", True),
    Column("ticket_id", "uuid", True),
    Column("engineer_id", "text", True),
    Column("equipment_id"),
    Column("assignment_sequence", "int", True),
    Column("assignment_tier", "int", True),
    Column("assignment_tier_name"),
    Column("assignment_reason"),
    Column("assignment_type", "text", True),
    Column("status", "text", True),
    Column("assigned_by"),
    Column("assigned_at", "ts", True),
    Column("accepted_at", "ts"),
    Column("rejected_at", "ts"),
    Column("rejection_reason"),
    Column("started_at", "ts"),
    Column("completed_at", "ts"),
    Column("completion_status"),
    Column("escalation_reason"),
    Column("time_spent_hours", "float"),
    Column("diagnosis"),
    Column("actions_taken"),
    Column("parts_used", "json"),
    Column("customer_rating", "int"),
    Column("customer_feedback"),
    Column("created_at", "ts", True),
    Column("updated_at", "ts", True),
    # Issue 21: the qualification check when the engineer was named (None: not checked).
    Column("qualification_warnings", "json"),
    Column("override_reason"),
)


class EngineerAssignmentsProjection(Projection):
    """``engineer_assignments``: one row per assignment (the EngineerAssignment)."""

    name = "engineer_assignments"
    version = 2
    table = Table(
        "engineer_assignments",
        ASSIGNMENT_COLUMNS,
        key=("id",),
        indexes=(
            ("ticket_id", "assignment_sequence"),
            ("engineer_id", "assigned_at"),
            ("status", "assigned_at"),
            ("assigned_at", "id"),
        ),
        fresh_keys=True,
    )
    tables = (table,)

    def key_rules(self) -> dict[type, KeyRule]:
        old = row_of(self.table, "assignment_id")
        return {
            cls: old
            for cls in (
                Ticket.Accepted, Ticket.Rejected, Ticket.Started, Ticket.Completed,
                Ticket.Escalated, Ticket.Reassigned, Ticket.Removed,
            )
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
            Ticket.Accepted: self._accepted,
            Ticket.Rejected: self._rejected,
            Ticket.Started: self._started,
            Ticket.Completed: self._completed,
            Ticket.Escalated: self._escalated,
            Ticket.Reassigned: self._reassigned,
            Ticket.Removed: self._removed,
        }

    def _new_row(
        self, e: Any, *, assignment_id: Any, engineer_id: str, reason: str | None,
        assignment_type: str,
    ) -> dict[str, Any]:
        at = ts(e.timestamp)
        row: dict[str, Any] = dict.fromkeys(self.table.column_names)
        row.update(
            id=sid(assignment_id),
            ticket_id=sid(e.originator_id),
            engineer_id=engineer_id,
            equipment_id=e.equipment_id,
            assignment_sequence=e.sequence,
            assignment_tier=e.tier,
            assignment_tier_name=e.tier_name,
            assignment_reason=reason,
            assignment_type=assignment_type,
            status=ASSIGNED,
            assigned_by=e.actor,
            assigned_at=at,
            created_at=at,
            updated_at=at,
            qualification_warnings=e.qualification_warnings,
            override_reason=e.override_reason,
        )
        return row

    def _patch(self, e: Any, rows: Rows, **changes: Any) -> None:
        rows.patch(self.table, (sid(e.assignment_id),), updated_at=ts(e.timestamp), **changes)

    def _assigned(self, e: Ticket.Assigned, position: int, rows: Rows) -> None:
        rows.put(
            self.table,
            self._new_row(
                e, assignment_id=e.assignment_id, engineer_id=e.engineer_id,
                reason=e.reason, assignment_type=e.assignment_type,
            ),
        )

    def _accepted(self, e: Ticket.Accepted, position: int, rows: Rows) -> None:
        self._patch(e, rows, status=ACCEPTED, accepted_at=ts(e.timestamp))

    def _rejected(self, e: Ticket.Rejected, position: int, rows: Rows) -> None:
        self._patch(
            e, rows, status=REJECTED, rejected_at=ts(e.timestamp), rejection_reason=e.reason
        )

    def _started(self, e: Ticket.Started, position: int, rows: Rows) -> None:
        self._patch(e, rows, status=IN_PROGRESS, started_at=ts(e.timestamp))

    def _completed(self, e: Ticket.Completed, position: int, rows: Rows) -> None:
        self._patch(
            e,
            rows,
            status=FAILED if e.completion_status == "failed" else COMPLETED,
            completed_at=ts(e.timestamp),
            completion_status=e.completion_status,
            time_spent_hours=e.time_spent_hours,
            diagnosis=e.diagnosis,
            actions_taken=e.actions_taken,
            parts_used=e.parts_used,
            customer_rating=e.customer_rating,
            customer_feedback=e.customer_feedback,
        )

    def _escalated(self, e: Ticket.Escalated, position: int, rows: Rows) -> None:
        self._patch(
            e,
            rows,
            status=ESCALATED,
            completion_status="escalated",
            escalation_reason=e.reason,
            completed_at=ts(e.timestamp),
        )
        rows.put(
            self.table,
            self._new_row(
                e, assignment_id=e.new_assignment_id, engineer_id=e.new_engineer_id,
                reason=e.reason, assignment_type="manual",
            ),
        )

    def _reassigned(self, e: Ticket.Reassigned, position: int, rows: Rows) -> None:
        self._patch(e, rows, status=REASSIGNED, completed_at=ts(e.timestamp))
        rows.put(
            self.table,
            self._new_row(
                e, assignment_id=e.new_assignment_id, engineer_id=e.new_engineer_id,
                reason=e.reason, assignment_type="manual",
            ),
        )

    def _removed(self, e: Ticket.Removed, position: int, rows: Rows) -> None:
        self._patch(e, rows, status=REMOVED, completed_at=ts(e.timestamp))


# ---------------------------------------------------------------- current_ticket_assignments


class CurrentAssignmentsProjection(Projection):
    """``current_ticket_assignments``: a row per ticket with an active assignment."""

    name = "current_ticket_assignments"
    version = 1
    table = Table(
        "current_ticket_assignments",
        (
            Column("ticket_id", "uuid", True),
            Column("engineer_id", "text", True),
            Column("assignment_sequence", "int", True),
            Column("assignment_tier", "int", True),
            Column("status", "text", True),
            Column("assigned_at", "ts", True),
            Column("completed_at", "ts"),
        ),
        key=("ticket_id",),
        indexes=(("engineer_id",),),
    )
    tables = (table,)

    def key_rules(self) -> dict[type, KeyRule]:
        own = row_of(self.table, "originator_id")
        return {Ticket.Accepted: own, Ticket.Started: own}

    def create_rules(self) -> dict[type, KeyRule]:
        own = row_of(self.table, "originator_id")
        return {Ticket.Assigned: own, Ticket.Escalated: own, Ticket.Reassigned: own}

    def handlers(self) -> dict[type, Handler]:
        return {
            Ticket.Assigned: self._assigned,
            Ticket.Escalated: self._assigned,
            Ticket.Reassigned: self._assigned,
            Ticket.Accepted: self._status(ACCEPTED),
            Ticket.Started: self._status(IN_PROGRESS),
            Ticket.Rejected: self._ended,
            Ticket.Completed: self._ended,
            Ticket.Removed: self._ended,
        }

    def _assigned(self, e: Any, position: int, rows: Rows) -> None:
        rows.put(
            self.table,
            {
                "ticket_id": sid(e.originator_id),
                "engineer_id": getattr(e, "new_engineer_id", None) or e.engineer_id,
                "assignment_sequence": e.sequence,
                "assignment_tier": e.tier,
                "status": ASSIGNED,
                "assigned_at": ts(e.timestamp),
                "completed_at": None,
            },
        )

    def _status(self, status: str) -> Handler:
        def handler(e: Any, position: int, rows: Rows) -> None:
            rows.patch(self.table, (sid(e.originator_id),), status=status)

        return handler

    def _ended(self, e: Any, position: int, rows: Rows) -> None:
        rows.delete(self.table, (sid(e.originator_id),))


# ---------------------------------------------------------------- assignment_history


class AssignmentHistoryProjection(Projection):
    """``assignment_history``: one row per change to an assignment.

    ``id`` is ``position * 8 + n`` (n = the row's index within its event), so ids
    are deterministic across rebuilds and sort in ledger order.
    """

    name = "assignment_history"
    version = 1
    table = Table(
        "assignment_history",
        (
            Column("id", "int", True),
            Column("assignment_id", "uuid", True),
            Column("ticket_id", "uuid", True),
            Column("previous_engineer"),
            Column("new_engineer"),
            Column("action", "text", True),
            Column("reason"),
            Column("changed_by"),
            Column("changed_at", "ts", True),
        ),
        key=("id",),
        indexes=(("ticket_id", "id"), ("assignment_id", "id")),
        fresh_keys=True,
    )
    tables = (table,)

    def handlers(self) -> dict[type, Handler]:
        return {
            Ticket.Assigned: self._assigned,
            Ticket.Accepted: self._simple("accepted"),
            Ticket.Started: self._simple("started"),
            Ticket.Rejected: self._ending("rejected"),
            Ticket.Removed: self._ending("removed"),
            Ticket.Completed: self._completed,
            Ticket.Escalated: self._handover("escalated"),
            Ticket.Reassigned: self._handover("reassigned"),
        }

    def _rows(self, e: Any, position: int, rows: Rows, entries: Iterable[dict[str, Any]]) -> None:
        for n, entry in enumerate(entries):
            rows.put(
                self.table,
                {
                    "id": position * 8 + n,
                    "ticket_id": sid(e.originator_id),
                    "changed_by": e.actor,
                    "changed_at": ts(e.timestamp),
                    "previous_engineer": None,
                    "new_engineer": None,
                    "reason": None,
                    **entry,
                },
            )

    def _assigned(self, e: Ticket.Assigned, position: int, rows: Rows) -> None:
        self._rows(e, position, rows, [{
            "assignment_id": sid(e.assignment_id), "new_engineer": e.engineer_id,
            "action": "created", "reason": e.reason,
        }])

    def _simple(self, action: str) -> Handler:
        def handler(e: Any, position: int, rows: Rows) -> None:
            self._rows(e, position, rows, [{
                "assignment_id": sid(e.assignment_id), "previous_engineer": e.engineer_id,
                "new_engineer": e.engineer_id, "action": action,
            }])

        return handler

    def _ending(self, action: str) -> Handler:
        def handler(e: Any, position: int, rows: Rows) -> None:
            self._rows(e, position, rows, [{
                "assignment_id": sid(e.assignment_id), "previous_engineer": e.engineer_id,
                "action": action, "reason": e.reason,
            }])

        return handler

    def _completed(self, e: Ticket.Completed, position: int, rows: Rows) -> None:
        self._rows(e, position, rows, [{
            "assignment_id": sid(e.assignment_id), "previous_engineer": e.engineer_id,
            "new_engineer": e.engineer_id, "action": "completed",
            "reason": e.completion_status,
        }])

    def _handover(self, action: str) -> Handler:
        def handler(e: Any, position: int, rows: Rows) -> None:
            common = {"previous_engineer": e.engineer_id, "new_engineer": e.new_engineer_id,
                      "reason": e.reason}
            self._rows(e, position, rows, [
                {"assignment_id": sid(e.assignment_id), "action": action, **common},
                {"assignment_id": sid(e.new_assignment_id), "action": "created", **common},
            ])

        return handler
