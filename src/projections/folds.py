"""Projections: pure folds from ledger events to read-table row changes.

A projection never touches a database. The runner hands it a ``Rows`` working
set (rows it asked for via ``keys()``, already loaded) and the fold puts or
deletes rows in it. Every value comes from the event, never from the clock, so
replaying the same events yields the same rows, byte for byte.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, ClassVar

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
    Engineer,
    Ticket,
)
from ledger.keys import ApiKey
from projections.tables import Column, Table, sid, ts

Key = tuple[Any, ...]


class Rows:
    """The in-memory working set of one projection for one page of events.

    A row taken from an earlier page is copied on its first change in this page
    and changed in place after that, so a page being written is never touched by
    the next one.
    """

    def __init__(self) -> None:
        #: table -> key -> row (None = known absent / deleted)
        self.rows: dict[str, dict[Key, dict[str, Any] | None]] = {}
        #: table -> keys changed in this page (their rows belong to this page)
        self.dirty: dict[str, dict[Key, None]] = {}
        #: table -> keys of rows created in this page (fresh-key tables only)
        self.new: dict[str, set[Key]] = {}

    def get(self, table: Table, key: Key) -> dict[str, Any] | None:
        bucket = self.rows.get(table.name)
        return bucket.get(key) if bucket else None

    def put(self, table: Table, row: dict[str, Any]) -> None:
        key = table.key_of(row)
        bucket = self.rows.setdefault(table.name, {})
        if table.fresh_keys and bucket.get(key) is None:  # absent or known absent
            self.new.setdefault(table.name, set()).add(key)
        bucket[key] = row
        self.dirty.setdefault(table.name, {})[key] = None

    def patch(self, table: Table, key: Key, **changes: Any) -> None:
        bucket = self.rows.get(table.name)
        row = bucket.get(key) if bucket else None
        if row is None:  # an event for a row this projection never saw
            return
        dirty = self.dirty.setdefault(table.name, {})
        if key in dirty:
            row.update(changes)
        else:
            bucket[key] = {**row, **changes}  # type: ignore[index]
            dirty[key] = None

    def delete(self, table: Table, key: Key) -> None:
        self.rows.setdefault(table.name, {})[key] = None
        self.dirty.setdefault(table.name, {})[key] = None

    def changed(self, table: Table) -> list[tuple[Key, dict[str, Any] | None]]:
        current = self.rows.get(table.name, {})
        return [(key, current[key]) for key in self.dirty.get(table.name, ())]

    def split_changes(
        self, table: Table
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[Key]]:
        """(new rows to insert, rows to upsert, keys to delete) for one table."""
        new = self.new.get(table.name, set())
        inserts: list[dict[str, Any]] = []
        upserts: list[dict[str, Any]] = []
        deletes: list[Key] = []
        for key, row in self.changed(table):
            if row is None:
                deletes.append(key)
            elif key in new:
                inserts.append(row)
            else:
                upserts.append(row)
        return inserts, upserts, deletes

    def changes(self, table: Table) -> tuple[list[dict[str, Any]], list[Key]]:
        """(rows to upsert, keys to delete) for one table."""
        upserts: list[dict[str, Any]] = []
        deletes: list[Key] = []
        for key, row in self.changed(table):
            if row is None:
                deletes.append(key)
            else:
                upserts.append(row)
        return upserts, deletes


Handler = Callable[[Any, int, Rows], None]


class Projection:
    """Base class: a name, a version, tables, and a fold per event class."""

    name: ClassVar[str]
    version: ClassVar[int]
    tables: ClassVar[tuple[Table, ...]]

    def __init__(self) -> None:
        self._handlers: dict[type, Handler] = self.handlers()
        self._keys: dict[type, Callable[[Any], Iterable[tuple[Table, Key]]]] = self.key_rules()
        self._creates: dict[type, Callable[[Any], Iterable[tuple[Table, Key]]]] = (
            self.create_rules()
        )
        #: The event classes this projection folds.
        self.event_types: frozenset[type] = frozenset(self._handlers)
        #: Whether any fold reads existing rows (else the runner caches nothing).
        self.reads_rows: bool = bool(self._keys)

    def handlers(self) -> dict[type, Handler]:
        raise NotImplementedError

    def key_rules(self) -> dict[type, Callable[[Any], Iterable[tuple[Table, Key]]]]:
        """For each event class, the existing rows its fold reads."""
        return {}

    def create_rules(self) -> dict[type, Callable[[Any], Iterable[tuple[Table, Key]]]]:
        """For each event class, the rows its fold creates (so a later event in the
        same page need not look them up in the store). Optional: an omission only
        costs a lookup."""
        return {}

    def creates(self, event: Any) -> Iterable[tuple[Table, Key]]:
        rule = self._creates.get(type(event))
        return rule(event) if rule else ()

    def handles(self, event: Any) -> bool:
        return type(event) in self._handlers

    def keys(self, event: Any) -> Iterable[tuple[Table, Key]]:
        rule = self._keys.get(type(event))
        return rule(event) if rule else ()

    def fold(self, event: Any, position: int, rows: Rows) -> None:
        handler = self._handlers.get(type(event))
        if handler is not None:
            handler(event, position, rows)


_sid = sid


# ---------------------------------------------------------------- tickets


class TicketsProjection(Projection):
    """``tickets``: one row per ticket with its status and current assignment."""

    name = "tickets"
    version = 1
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
        ),
        key=("id",),
        indexes=(("opened_position",), ("status", "opened_position"), ("reference",),
                 ("current_engineer_id",)),
        fresh_keys=True,
    )
    tables = (table,)

    def key_rules(self) -> dict[type, Callable[[Any], Iterable[tuple[Table, Key]]]]:
        own = lambda e: [(self.table, (_sid(e.originator_id),))]  # noqa: E731
        return {cls: own for cls in self.handlers() if cls is not Ticket.Opened}

    def create_rules(self) -> dict[type, Callable[[Any], Iterable[tuple[Table, Key]]]]:
        return {Ticket.Opened: lambda e: [(self.table, (_sid(e.originator_id),))]}

    def handlers(self) -> dict[type, Handler]:
        return {
            Ticket.Opened: self._opened,
            Ticket.Assigned: self._assigned,
            Ticket.Accepted: self._status("assigned"),
            Ticket.Started: self._status("in_progress"),
            Ticket.Rejected: self._ended,
            Ticket.Removed: self._ended,
            Ticket.Completed: self._completed,
            Ticket.Escalated: self._handed_over,
            Ticket.Reassigned: self._handed_over,
            Ticket.Closed: self._closed,
            Ticket.Reopened: self._reopened,
        }

    def _touch(self, e: Any, rows: Rows, **changes: Any) -> None:
        rows.patch(
            self.table,
            (_sid(e.originator_id),),
            version=e.originator_version,
            updated_at=ts(e.timestamp),
            **changes,
        )

    def _opened(self, e: Ticket.Opened, position: int, rows: Rows) -> None:
        at = ts(e.timestamp)
        rows.put(
            self.table,
            {
                "id": _sid(e.originator_id),
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
            },
        )

    def _assigned(self, e: Ticket.Assigned, position: int, rows: Rows) -> None:
        self._touch(
            e,
            rows,
            status="assigned",
            current_assignment_id=_sid(e.assignment_id),
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

    def _handed_over(self, e: Any, position: int, rows: Rows) -> None:
        self._touch(
            e,
            rows,
            status="assigned",
            current_assignment_id=_sid(e.new_assignment_id),
            current_engineer_id=e.new_engineer_id,
            current_tier=e.tier,
            assignment_count=e.sequence,
        )

    def _closed(self, e: Ticket.Closed, position: int, rows: Rows) -> None:
        self._touch(e, rows, status="closed", closed_at=ts(e.timestamp))

    def _reopened(self, e: Ticket.Reopened, position: int, rows: Rows) -> None:
        self._touch(e, rows, status="open", closed_at=None, resolved_at=None)


# ---------------------------------------------------------------- engineer_assignments


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
)


class EngineerAssignmentsProjection(Projection):
    """``engineer_assignments``: one row per assignment (the EngineerAssignment)."""

    name = "engineer_assignments"
    version = 1
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

    def key_rules(self) -> dict[type, Callable[[Any], Iterable[tuple[Table, Key]]]]:
        old = lambda e: [(self.table, (_sid(e.assignment_id),))]  # noqa: E731
        return {
            cls: old
            for cls in (
                Ticket.Accepted, Ticket.Rejected, Ticket.Started, Ticket.Completed,
                Ticket.Escalated, Ticket.Reassigned, Ticket.Removed,
            )
        }

    def create_rules(self) -> dict[type, Callable[[Any], Iterable[tuple[Table, Key]]]]:
        new = lambda e: [(self.table, (_sid(e.new_assignment_id),))]  # noqa: E731
        return {
            Ticket.Assigned: lambda e: [(self.table, (_sid(e.assignment_id),))],
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
            id=_sid(assignment_id),
            ticket_id=_sid(e.originator_id),
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
        )
        return row

    def _patch(self, e: Any, rows: Rows, **changes: Any) -> None:
        rows.patch(self.table, (_sid(e.assignment_id),), updated_at=ts(e.timestamp), **changes)

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

    def key_rules(self) -> dict[type, Callable[[Any], Iterable[tuple[Table, Key]]]]:
        own = lambda e: [(self.table, (_sid(e.originator_id),))]  # noqa: E731
        return {Ticket.Accepted: own, Ticket.Started: own}

    def create_rules(self) -> dict[type, Callable[[Any], Iterable[tuple[Table, Key]]]]:
        own = lambda e: [(self.table, (_sid(e.originator_id),))]  # noqa: E731
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
                "ticket_id": _sid(e.originator_id),
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
            rows.patch(self.table, (_sid(e.originator_id),), status=status)

        return handler

    def _ended(self, e: Any, position: int, rows: Rows) -> None:
        rows.delete(self.table, (_sid(e.originator_id),))


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
                    "ticket_id": _sid(e.originator_id),
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
            "assignment_id": _sid(e.assignment_id), "new_engineer": e.engineer_id,
            "action": "created", "reason": e.reason,
        }])

    def _simple(self, action: str) -> Handler:
        def handler(e: Any, position: int, rows: Rows) -> None:
            self._rows(e, position, rows, [{
                "assignment_id": _sid(e.assignment_id), "previous_engineer": e.engineer_id,
                "new_engineer": e.engineer_id, "action": action,
            }])

        return handler

    def _ending(self, action: str) -> Handler:
        def handler(e: Any, position: int, rows: Rows) -> None:
            self._rows(e, position, rows, [{
                "assignment_id": _sid(e.assignment_id), "previous_engineer": e.engineer_id,
                "action": action, "reason": e.reason,
            }])

        return handler

    def _completed(self, e: Ticket.Completed, position: int, rows: Rows) -> None:
        self._rows(e, position, rows, [{
            "assignment_id": _sid(e.assignment_id), "previous_engineer": e.engineer_id,
            "new_engineer": e.engineer_id, "action": "completed",
            "reason": e.completion_status,
        }])

    def _handover(self, action: str) -> Handler:
        def handler(e: Any, position: int, rows: Rows) -> None:
            common = {"previous_engineer": e.engineer_id, "new_engineer": e.new_engineer_id,
                      "reason": e.reason}
            self._rows(e, position, rows, [
                {"assignment_id": _sid(e.assignment_id), "action": action, **common},
                {"assignment_id": _sid(e.new_assignment_id), "action": "created", **common},
            ])

        return handler


# ---------------------------------------------------------------- engineers


class EngineersProjection(Projection):
    """``engineers``: the roster, with each engineer's count of open assignments."""

    name = "engineers"
    version = 1
    table = Table(
        "engineers",
        (
            Column("id", "text", True),
            Column("name", "text", True),
            Column("skills", "json", True),
            Column("tier", "int", True),
            Column("capacity", "int", True),
            Column("availability", "float", True),
            Column("active", "bool", True),
            Column("open_assignments", "int", True),
            Column("registered_position", "int", True),
            Column("created_at", "ts", True),
            Column("updated_at", "ts", True),
        ),
        key=("id",),
        indexes=(("registered_position",),),
        fresh_keys=True,
    )
    tables = (table,)

    def key_rules(self) -> dict[type, Callable[[Any], Iterable[tuple[Table, Key]]]]:
        def engineers(e: Any) -> Iterator[tuple[Table, Key]]:
            for name in ("engineer_id", "new_engineer_id"):
                value = getattr(e, name, None)
                if value is not None:
                    yield self.table, (value,)

        return {cls: engineers for cls in self.handlers() if cls is not Engineer.Registered}

    def create_rules(self) -> dict[type, Callable[[Any], Iterable[tuple[Table, Key]]]]:
        return {Engineer.Registered: lambda e: [(self.table, (e.engineer_id,))]}

    def handlers(self) -> dict[type, Handler]:
        return {
            Engineer.Registered: self._registered,
            Engineer.Updated: self._updated,
            Ticket.Assigned: self._load(engineer_id=+1),
            Ticket.Rejected: self._load(engineer_id=-1),
            Ticket.Completed: self._load(engineer_id=-1),
            Ticket.Removed: self._load(engineer_id=-1),
            Ticket.Escalated: self._load(engineer_id=-1, new_engineer_id=+1),
            Ticket.Reassigned: self._load(engineer_id=-1, new_engineer_id=+1),
        }

    def _registered(self, e: Engineer.Registered, position: int, rows: Rows) -> None:
        at = ts(e.timestamp)
        rows.put(self.table, {
            "id": e.engineer_id, "name": e.name, "skills": list(e.skills), "tier": e.tier,
            "capacity": e.capacity, "availability": e.availability, "active": True,
            "open_assignments": 0, "registered_position": position,
            "created_at": at, "updated_at": at,
        })

    def _updated(self, e: Engineer.Updated, position: int, rows: Rows) -> None:
        rows.patch(self.table, (e.engineer_id,), updated_at=ts(e.timestamp), **e.changes)

    def _load(self, **deltas: int) -> Handler:
        def handler(e: Any, position: int, rows: Rows) -> None:
            for attribute, delta in deltas.items():
                key = (getattr(e, attribute),)
                row = rows.get(self.table, key)
                if row is not None:
                    rows.patch(self.table, key, open_assignments=row["open_assignments"] + delta)

        return handler


# ---------------------------------------------------------------- api_keys


class ApiKeysProjection(Projection):
    """``api_keys``: one row per API key, looked up by the SHA-256 of a presented
    token. The token itself is never in an event, so never in this table."""

    name = "api_keys"
    version = 1
    table = Table(
        "api_keys",
        (
            Column("id", "uuid", True),
            Column("name", "text", True),
            Column("role", "text", True),
            Column("token_sha256", "text", True),
            Column("revoked", "bool", True),
            Column("created_by"),
            Column("created_position", "int", True),
            Column("created_at", "ts", True),
            Column("revoked_at", "ts"),
            Column("revoked_by"),
            Column("revoke_reason"),
        ),
        key=("id",),
        indexes=(("token_sha256",), ("name",), ("created_position",)),
    )
    tables = (table,)

    def key_rules(self) -> dict[type, Callable[[Any], Iterable[tuple[Table, Key]]]]:
        return {ApiKey.Revoked: lambda e: [(self.table, (_sid(e.originator_id),))]}

    def handlers(self) -> dict[type, Handler]:
        return {ApiKey.Issued: self._created, ApiKey.Revoked: self._revoked}

    def _created(self, e: ApiKey.Issued, position: int, rows: Rows) -> None:
        rows.put(self.table, {
            "id": _sid(e.originator_id), "name": e.name, "role": e.role,
            "token_sha256": e.token_sha256, "revoked": False, "created_by": e.actor,
            "created_position": position, "created_at": ts(e.timestamp),
            "revoked_at": None, "revoked_by": None, "revoke_reason": None,
        })

    def _revoked(self, e: ApiKey.Revoked, position: int, rows: Rows) -> None:
        rows.patch(self.table, (_sid(e.originator_id),), revoked=True,
                   revoked_at=ts(e.timestamp), revoked_by=e.actor, revoke_reason=e.reason)


# Projections in their own modules subclass the classes above, so they are
# imported last (projections/__init__.py imports this module first).
from projections.intervals import AssignmentIntervalsProjection  # noqa: E402
from projections.metrics import TicketMetricsProjection  # noqa: E402
from projections.sla import SlaProjection  # noqa: E402

ALL_PROJECTIONS: tuple[type[Projection], ...] = (
    TicketsProjection,
    EngineerAssignmentsProjection,
    CurrentAssignmentsProjection,
    AssignmentHistoryProjection,
    EngineersProjection,
    ApiKeysProjection,
    AssignmentIntervalsProjection,
    TicketMetricsProjection,
    SlaProjection,
)
