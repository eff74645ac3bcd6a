"""``ticket_metrics`` and ``completions``: assignment metrics as Zendesk and
ServiceNow define them (issue 7), folded from the ticket events.

Per ticket (exact formulas in docs/operations.md, "Metrics"):

* ``assignee_stations``: assignments the ticket has had (assign, escalate and
  reassign each create one), repeats of the same engineer counted;
* ``unique_assignees``: distinct engineers among them;
* ``escalations``: escalations; ``reassignment_count``: hand-overs to a
  *different* engineer than the previous assignment's (by reassign, escalation or
  a new assignment after a rejection or an unsuccessful completion);
* first assigned / accepted / resolved times and the durations between them;
* ``resolved_on_first_assignment``: the successful completion was the ticket's
  first and only assignment (null while unresolved).

``completions`` has one row per completed (or failed) assignment with its
``time_spent_hours`` and ``parts_cost``: what engineer reports sum for billing.
A completion's ``parts_cost`` is the sum of its ``parts_used`` entries' ``cost``,
each the cost of that line's parts all together (the API documents ``cost`` so;
``quantity`` is how many, already priced in); a ticket's is the sum over its
completions.

``daily_figures`` (one row per UTC day: tickets opened, resolutions, first-time
resolutions, escalations by the tier escalated to) and ``daily_engineer_hours``
(per day and engineer: completions and hours) roll the same events up by day,
so the console's reports read a row a day instead of every ticket.
"""

from __future__ import annotations

from typing import Any

from ledger.domain import Ticket
from projections.base import Handler, Key, KeyRule, Projection, Rows, row_of
from projections.sla import seconds_between
from projections.tables import Column, Table, sid, ts


def day_of(event: Any) -> str:
    """The UTC day of an event, as ``YYYY-MM-DD`` (canonical times begin with it)."""
    return ts(event.timestamp)[:10]


def hours_id(event: Any) -> str:
    """The key of an engineer's day in ``daily_engineer_hours``."""
    return f"{day_of(event)} {event.engineer_id}"


def parts_cost(parts_used: list[dict[str, Any]] | None) -> float:
    """The cost of a completion's parts: the sum of its lines' ``cost``, rounded to
    cents."""
    return round(sum((float(part.get("cost") or 0) for part in parts_used or ()), 0.0), 2)


class TicketMetricsProjection(Projection):
    """One ``ticket_metrics`` row per ticket, one ``completions`` row per completion."""

    name = "ticket_metrics"
    version = 2  # 2: parts_cost, the daily roll-ups
    metrics = Table(
        "ticket_metrics",
        (
            Column("ticket_id", "uuid", True),
            Column("priority", "text", True),
            Column("opened_at", "ts", True),
            Column("first_assigned_at", "ts"),
            Column("first_accepted_at", "ts"),
            Column("first_resolved_at", "ts"),
            Column("resolved_at", "ts"),
            Column("assignee_stations", "int", True),
            Column("unique_assignees", "int", True),
            Column("assignees", "json", True),
            Column("last_engineer_id"),
            Column("current_tier", "int"),
            Column("escalations", "int", True),
            Column("reassignment_count", "int", True),
            Column("rejections", "int", True),
            Column("reopens", "int", True),
            Column("resolved_on_first_assignment", "bool"),
            Column("time_to_first_assignment_seconds", "float"),
            Column("time_to_first_accept_seconds", "float"),
            Column("time_to_first_resolution_seconds", "float"),
            Column("time_to_resolution_seconds", "float"),
            Column("time_spent_hours", "float", True),
            Column("parts_cost", "float", True),
            Column("updated_at", "ts", True),
        ),
        key=("ticket_id",),
        indexes=(("opened_at", "ticket_id"),),
        fresh_keys=True,
    )
    completions = Table(
        "completions",
        (
            Column("assignment_id", "uuid", True),
            Column("ticket_id", "uuid", True),
            Column("engineer_id", "text", True),
            Column("assignment_tier", "int"),
            Column("completion_status", "text", True),
            Column("time_spent_hours", "float", True),
            Column("parts_cost", "float", True),
            Column("completed_at", "ts", True),
        ),
        key=("assignment_id",),
        indexes=(("completed_at", "engineer_id"), ("engineer_id", "completed_at")),
        fresh_keys=True,
    )
    daily = Table(
        "daily_figures",
        (
            Column("day", "text", True),
            Column("opened", "int", True),
            #: Successful completions that day.
            Column("resolved", "int", True),
            #: Of those, the ones by the ticket's first and only assignment.
            Column("resolved_first_time", "int", True),
            #: Escalations that day by the tier escalated to: {"2": 3, "3": 1}.
            Column("escalations", "json", True),
        ),
        key=("day",),
    )
    engineer_hours = Table(
        "daily_engineer_hours",
        (
            #: ``<day> <engineer id>``: read tables that a fold reads have one key column.
            Column("id", "text", True),
            Column("day", "text", True),
            Column("engineer_id", "text", True),
            Column("completed", "int", True),
            Column("hours", "float", True),
        ),
        key=("id",),
        indexes=(("day", "engineer_id"),),
    )
    tables = (metrics, completions, daily, engineer_hours)

    def key_rules(self) -> dict[type, KeyRule]:
        own = row_of(self.metrics, "originator_id")
        rules: dict[type, KeyRule] = {
            cls: own for cls in self.handlers() if cls is not Ticket.Opened}

        def with_day(event: Any) -> list[tuple[Table, Key]]:
            return [*own(event), (self.daily, (day_of(event),))]

        def with_engineer_day(event: Any) -> list[tuple[Table, Key]]:
            return [*with_day(event), (self.engineer_hours, (hours_id(event),))]

        rules[Ticket.Opened] = lambda event: [(self.daily, (day_of(event),))]
        rules[Ticket.Escalated] = with_day
        rules[Ticket.Completed] = with_engineer_day
        return rules

    def create_rules(self) -> dict[type, KeyRule]:
        return {
            Ticket.Opened: row_of(self.metrics, "originator_id"),
            Ticket.Completed: row_of(self.completions, "assignment_id"),
        }

    def _count_day(self, e: Any, rows: Rows, **add: int) -> dict[str, Any]:
        """The day's row with ``add`` added to its counters (created on its first event)."""
        key = (day_of(e),)
        row = rows.get(self.daily, key) or {
            "day": key[0], "opened": 0, "resolved": 0, "resolved_first_time": 0,
            "escalations": {}}
        row = {**row, **{name: row[name] + n for name, n in add.items()}}
        rows.put(self.daily, row)
        return row

    def handlers(self) -> dict[type, Handler]:
        return {
            Ticket.Opened: self._opened,
            Ticket.Assigned: self._station,
            Ticket.Escalated: self._station,
            Ticket.Reassigned: self._station,
            Ticket.Accepted: self._accepted,
            Ticket.Rejected: self._rejected,
            Ticket.Completed: self._completed,
            Ticket.Reopened: self._reopened,
        }

    def _opened(self, e: Ticket.Opened, position: int, rows: Rows) -> None:
        at = ts(e.timestamp)
        rows.put(self.metrics, {
            "ticket_id": sid(e.originator_id), "priority": e.priority, "opened_at": at,
            "first_assigned_at": None, "first_accepted_at": None, "first_resolved_at": None,
            "resolved_at": None, "assignee_stations": 0, "unique_assignees": 0,
            "assignees": [], "last_engineer_id": None, "current_tier": None,
            "escalations": 0, "reassignment_count": 0, "rejections": 0, "reopens": 0,
            "resolved_on_first_assignment": None, "time_to_first_assignment_seconds": None,
            "time_to_first_accept_seconds": None, "time_to_first_resolution_seconds": None,
            "time_to_resolution_seconds": None, "time_spent_hours": 0.0, "parts_cost": 0.0,
            "updated_at": at,
        })
        self._count_day(e, rows, opened=1)

    def _row(self, e: Any, rows: Rows) -> tuple[Key, dict[str, Any] | None]:
        key = (sid(e.originator_id),)
        return key, rows.get(self.metrics, key)

    def _station(self, e: Any, position: int, rows: Rows) -> None:
        key, row = self._row(e, rows)
        if row is None:
            return
        engineer = getattr(e, "new_engineer_id", None) or e.engineer_id
        changes: dict[str, Any] = {
            "assignee_stations": row["assignee_stations"] + 1,
            "last_engineer_id": engineer,
            "current_tier": e.tier,
            "updated_at": ts(e.timestamp),
        }
        if engineer not in row["assignees"]:
            assignees = [*row["assignees"], engineer]  # a new list: rows are copied shallowly
            changes.update(assignees=assignees, unique_assignees=len(assignees))
        if row["last_engineer_id"] is not None and row["last_engineer_id"] != engineer:
            changes["reassignment_count"] = row["reassignment_count"] + 1
        if isinstance(e, Ticket.Escalated):
            changes["escalations"] = row["escalations"] + 1
            day = self._count_day(e, rows)
            tier = str(e.tier)
            day["escalations"] = {**day["escalations"], tier: day["escalations"].get(tier, 0) + 1}
        if row["first_assigned_at"] is None:
            changes["first_assigned_at"] = ts(e.timestamp)
            changes["time_to_first_assignment_seconds"] = seconds_between(
                row["opened_at"], e.timestamp)
        rows.patch(self.metrics, key, **changes)

    def _accepted(self, e: Ticket.Accepted, position: int, rows: Rows) -> None:
        key, row = self._row(e, rows)
        if row is None or row["first_accepted_at"] is not None:
            return
        rows.patch(
            self.metrics, key, first_accepted_at=ts(e.timestamp), updated_at=ts(e.timestamp),
            time_to_first_accept_seconds=seconds_between(row["first_assigned_at"], e.timestamp)
            if row["first_assigned_at"] else None,
        )

    def _rejected(self, e: Ticket.Rejected, position: int, rows: Rows) -> None:
        key, row = self._row(e, rows)
        if row is not None:
            rows.patch(self.metrics, key, rejections=row["rejections"] + 1,
                       updated_at=ts(e.timestamp))

    def _completed(self, e: Ticket.Completed, position: int, rows: Rows) -> None:
        key, row = self._row(e, rows)
        if row is None:
            return
        at = ts(e.timestamp)
        cost = parts_cost(e.parts_used)
        rows.put(self.completions, {
            "assignment_id": sid(e.assignment_id), "ticket_id": sid(e.originator_id),
            "engineer_id": e.engineer_id, "assignment_tier": row["current_tier"],
            "completion_status": e.completion_status,
            "time_spent_hours": float(e.time_spent_hours), "parts_cost": cost,
            "completed_at": at,
        })
        changes: dict[str, Any] = {
            "time_spent_hours": round(row["time_spent_hours"] + e.time_spent_hours, 2),
            "parts_cost": round(row["parts_cost"] + cost, 2),
            "updated_at": at,
        }
        hours = rows.get(self.engineer_hours, (hours_id(e),)) or {
            "id": hours_id(e), "day": day_of(e), "engineer_id": e.engineer_id, "completed": 0,
            "hours": 0.0}
        rows.put(self.engineer_hours, {**hours, "completed": hours["completed"] + 1,
                                       "hours": round(hours["hours"] + e.time_spent_hours, 2)})
        if e.completion_status == "success":
            self._count_day(e, rows, resolved=1,
                            resolved_first_time=int(row["assignee_stations"] == 1))
            since_open = seconds_between(row["opened_at"], e.timestamp)
            changes.update(
                resolved_at=at,
                time_to_resolution_seconds=since_open,
                # A completion is always of the latest assignment: the first and only
                # one exactly when the ticket has had one station.
                resolved_on_first_assignment=row["assignee_stations"] == 1,
            )
            if row["first_resolved_at"] is None:
                changes.update(first_resolved_at=at, time_to_first_resolution_seconds=since_open)
        rows.patch(self.metrics, key, **changes)

    def _reopened(self, e: Ticket.Reopened, position: int, rows: Rows) -> None:
        key, row = self._row(e, rows)
        if row is not None:
            rows.patch(
                self.metrics, key, reopens=row["reopens"] + 1, resolved_at=None,
                time_to_resolution_seconds=None, resolved_on_first_assignment=None,
                updated_at=ts(e.timestamp),
            )
