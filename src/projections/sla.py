"""``sla_clocks``: each assignment's own SLA clocks (seed 003; issue 7), and
each ticket's own clock (issue 22, docs/field-service.md).

Every assignment starts two clocks when it is created (assign, escalate or
reassign):

* the *accept* clock stops when the assignment is accepted, or when it ends
  without having been accepted (rejected, escalated, reassigned, removed);
* the *resolve* clock stops when the assignment ends in any way (completed with
  any outcome, failed, rejected, escalated, reassigned, removed).

An escalation or reassignment ends the old assignment's clocks and the new
assignment's clocks start at zero, so the time L1 used is never charged to L2.

The fold stores only what the events say (start, stop times and elapsed
seconds); it knows no targets. Breaches are judged at query time against the
targets in the settings (``LEDGER_SLA_TARGETS``), so changing the targets needs
no rebuild and re-judges history with the new ones (docs/operations.md).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ledger.domain import COMPLETED, ESCALATED, FAILED, REASSIGNED, REJECTED, REMOVED, Ticket
from projections.base import Handler, KeyRule, Projection, Rows, row_of
from projections.tables import Column, Table, parse_ts, sid, ts


def seconds_between(start: str, end: datetime) -> float:
    """Elapsed seconds from a stored canonical time to an event's time."""
    return (end - parse_ts(start)).total_seconds()


class SlaProjection(Projection):
    """``sla_clocks`` (one row per assignment) and ``sla_tickets`` (each ticket's
    priority, which the clocks of its assignments carry, and the ticket's own
    clock: from opening to resolution or closing, against its ``resolve_by``)."""

    name = "sla_clocks"
    version = 3  # 3: the clocks' seconds in the (priority, tier, start) index
    tickets = Table(
        "sla_tickets",
        (
            Column("ticket_id", "uuid", True),
            Column("priority", "text", True),
            Column("opened_at", "ts", True),
            Column("due_at", "ts"),
            #: When the ticket was resolved or closed, whichever came first since it
            #: was last (re)opened; None while it is open.
            Column("finished_at", "ts"),
            Column("finished_as"),
            #: Seconds from opening to ``finished_at``.
            Column("finished_seconds", "float"),
        ),
        key=("ticket_id",),
        indexes=(("opened_at", "ticket_id"),),
        fresh_keys=True,
    )
    clocks = Table(
        "sla_clocks",
        (
            Column("assignment_id", "uuid", True),
            Column("ticket_id", "uuid", True),
            Column("assignment_sequence", "int", True),
            Column("engineer_id", "text", True),
            Column("assignment_tier", "int", True),
            Column("priority", "text", True),
            Column("started_at", "ts", True),
            Column("accepted_at", "ts"),
            Column("ended_at", "ts"),
            Column("end_reason"),
            #: Seconds on the accept clock when it stopped (None: still running).
            Column("accept_seconds", "float"),
            #: Seconds on the resolve clock when it stopped (None: still running).
            Column("resolve_seconds", "float"),
        ),
        key=("assignment_id",),
        indexes=(
            ("started_at", "assignment_id"),
            ("engineer_id", "started_at"),
            # With the stopped seconds, the reports' breach counts read this index alone.
            ("priority", "assignment_tier", "started_at", "accept_seconds", "resolve_seconds"),
            ("ticket_id", "assignment_sequence"),
        ),
        fresh_keys=True,
    )
    tables = (tickets, clocks)

    def key_rules(self) -> dict[type, KeyRule]:
        ticket = row_of(self.tickets, "originator_id")
        clock = row_of(self.clocks, "assignment_id")
        both = lambda e: [*clock(e), *ticket(e)]  # noqa: E731
        return {
            Ticket.Assigned: ticket,
            Ticket.Accepted: clock,
            Ticket.Rejected: clock,
            Ticket.Removed: clock,
            Ticket.Completed: both,
            Ticket.Escalated: both,
            Ticket.Reassigned: both,
            Ticket.Closed: ticket,
            Ticket.Reopened: ticket,
            Ticket.Updated: ticket,
        }

    def create_rules(self) -> dict[type, KeyRule]:
        new = row_of(self.clocks, "new_assignment_id")
        return {
            Ticket.Opened: row_of(self.tickets, "originator_id"),
            Ticket.Assigned: row_of(self.clocks, "assignment_id"),
            Ticket.Escalated: new,
            Ticket.Reassigned: new,
        }

    def handlers(self) -> dict[type, Handler]:
        return {
            Ticket.Opened: self._opened,
            Ticket.Assigned: self._assigned,
            Ticket.Accepted: self._accepted,
            Ticket.Rejected: self._ends(REJECTED),
            Ticket.Removed: self._ends(REMOVED),
            Ticket.Completed: self._completed,
            Ticket.Escalated: self._transferred(ESCALATED),
            Ticket.Reassigned: self._transferred(REASSIGNED),
            Ticket.Closed: self._closed,
            Ticket.Reopened: self._reopened,
            Ticket.Updated: self._updated,
        }

    def _opened(self, e: Ticket.Opened, position: int, rows: Rows) -> None:
        rows.put(self.tickets, {
            "ticket_id": sid(e.originator_id), "priority": e.priority,
            "opened_at": ts(e.timestamp), "due_at": ts(e.due_at),
            "finished_at": None, "finished_as": None, "finished_seconds": None,
        })

    def _updated(self, e: Ticket.Updated, position: int, rows: Rows) -> None:
        """A new priority or due date moves the ticket's deadline (and the priority
        is the one later assignments' clocks carry)."""
        changes = {k: v for k, v in e.changes.items() if k in ("priority", "due_at")}
        if "due_at" in changes:
            changes["due_at"] = ts(changes["due_at"])
        if changes:
            rows.patch(self.tickets, (sid(e.originator_id),), **changes)

    def _finish(self, e: Any, rows: Rows, finished_as: str) -> None:
        """Stops the ticket's clock, unless it stopped already (closing a
        resolved ticket keeps the time it was resolved)."""
        key = (sid(e.originator_id),)
        ticket = rows.get(self.tickets, key)
        if ticket is not None and ticket["finished_at"] is None:
            rows.patch(self.tickets, key, finished_at=ts(e.timestamp), finished_as=finished_as,
                       finished_seconds=seconds_between(ticket["opened_at"], e.timestamp))

    def _closed(self, e: Ticket.Closed, position: int, rows: Rows) -> None:
        self._finish(e, rows, "closed")

    def _reopened(self, e: Ticket.Reopened, position: int, rows: Rows) -> None:
        rows.patch(self.tickets, (sid(e.originator_id),), finished_at=None, finished_as=None,
                   finished_seconds=None)

    def _start(
        self, e: Any, rows: Rows, *, assignment_id: Any, engineer_id: str, priority: str
    ) -> None:
        rows.put(self.clocks, {
            "assignment_id": sid(assignment_id),
            "ticket_id": sid(e.originator_id),
            "assignment_sequence": e.sequence,
            "engineer_id": engineer_id,
            "assignment_tier": e.tier,
            "priority": priority,
            "started_at": ts(e.timestamp),
            "accepted_at": None,
            "ended_at": None,
            "end_reason": None,
            "accept_seconds": None,
            "resolve_seconds": None,
        })

    def _priority(self, e: Any, rows: Rows) -> str | None:
        ticket = rows.get(self.tickets, (sid(e.originator_id),))
        return ticket["priority"] if ticket is not None else None

    def _assigned(self, e: Ticket.Assigned, position: int, rows: Rows) -> None:
        priority = self._priority(e, rows)
        if priority is not None:
            self._start(e, rows, assignment_id=e.assignment_id, engineer_id=e.engineer_id,
                        priority=priority)

    def _accepted(self, e: Ticket.Accepted, position: int, rows: Rows) -> None:
        key = (sid(e.assignment_id),)
        clock = rows.get(self.clocks, key)
        if clock is not None and clock["accept_seconds"] is None:
            rows.patch(self.clocks, key, accepted_at=ts(e.timestamp),
                       accept_seconds=seconds_between(clock["started_at"], e.timestamp))

    def _stop(self, e: Any, rows: Rows, reason: str) -> dict[str, Any] | None:
        """Stops both clocks of ``e.assignment_id`` (the accept clock only if it
        still runs); returns the clock row as it was."""
        key = (sid(e.assignment_id),)
        clock = rows.get(self.clocks, key)
        if clock is None:
            return None
        elapsed = seconds_between(clock["started_at"], e.timestamp)
        changes: dict[str, Any] = {
            "ended_at": ts(e.timestamp), "end_reason": reason, "resolve_seconds": elapsed,
        }
        if clock["accept_seconds"] is None:
            changes["accept_seconds"] = elapsed
        rows.patch(self.clocks, key, **changes)
        return clock

    def _ends(self, reason: str) -> Handler:
        def handler(e: Any, position: int, rows: Rows) -> None:
            self._stop(e, rows, reason)

        return handler

    def _completed(self, e: Ticket.Completed, position: int, rows: Rows) -> None:
        self._stop(e, rows, FAILED if e.completion_status == "failed" else COMPLETED)
        if e.completion_status == "success":
            self._finish(e, rows, "resolved")

    def _transferred(self, reason: str) -> Handler:
        def handler(e: Any, position: int, rows: Rows) -> None:
            old = self._stop(e, rows, reason)
            priority = old["priority"] if old is not None else self._priority(e, rows)
            if priority is not None:
                self._start(e, rows, assignment_id=e.new_assignment_id,
                            engineer_id=e.new_engineer_id, priority=priority)

        return handler
