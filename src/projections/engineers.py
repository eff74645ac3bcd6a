"""``engineers``: the roster, with each engineer's count of open assignments."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ledger.domain import Engineer, Ticket
from projections.base import Handler, Key, KeyRule, Projection, Rows
from projections.tables import Column, Table, ts


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

    def key_rules(self) -> dict[type, KeyRule]:
        def engineers(e: Any) -> Iterator[tuple[Table, Key]]:
            for name in ("engineer_id", "new_engineer_id"):
                value = getattr(e, name, None)
                if value is not None:
                    yield self.table, (value,)

        return {cls: engineers for cls in self.handlers() if cls is not Engineer.Registered}

    def create_rules(self) -> dict[type, KeyRule]:
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
