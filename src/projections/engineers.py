"""``engineers``: the roster, with each engineer's count of open assignments;
and beside it one row per skill, territory and certification an engineer holds
(``engineer_skills``, ``engineer_territories``, ``engineer_certifications``), so
coverage queries match them with indexed joins on either backend
(``projections.coverage``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ledger.domain import Engineer, Ticket
from projections.base import Handler, Key, KeyRule, Projection, Rows
from projections.tables import Column, Table, ts


class EngineersProjection(Projection):
    """``engineers``: the roster, with each engineer's count of open assignments."""

    name = "engineers"
    version = 2
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
            Column("territories", "json", True),
            Column("certifications", "json", True),
        ),
        key=("id",),
        indexes=(("registered_position",), ("active", "open_assignments")),
        fresh_keys=True,
    )
    skills = Table(
        "engineer_skills",
        (Column("engineer_id", "text", True), Column("skill", "text", True)),
        key=("engineer_id", "skill"),
        indexes=(("skill", "engineer_id"),),
    )
    territories = Table(
        "engineer_territories",
        (Column("engineer_id", "text", True), Column("territory", "text", True)),
        key=("engineer_id", "territory"),
        indexes=(("territory", "engineer_id"),),
    )
    certifications = Table(
        "engineer_certifications",
        (
            Column("engineer_id", "text", True),
            Column("certification", "text", True),
            #: ISO date text (sorts as it reads), or NULL: no expiry.
            Column("expires_on"),
        ),
        key=("engineer_id", "certification"),
        indexes=(("certification", "expires_on"), ("expires_on",)),
    )
    tables = (table, skills, territories, certifications)

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
            "territories": list(e.territories or []),
            "certifications": list(e.certifications or []),
        })
        self._held(e.engineer_id, {}, {
            "skills": e.skills, "territories": e.territories or [],
            "certifications": e.certifications or [],
        }, rows)

    def _updated(self, e: Engineer.Updated, position: int, rows: Rows) -> None:
        before = rows.get(self.table, (e.engineer_id,))
        if before is None:
            return
        self._held(e.engineer_id, before, e.changes, rows)
        rows.patch(self.table, (e.engineer_id,), updated_at=ts(e.timestamp), **e.changes)

    def _held(
        self, engineer_id: str, before: dict[str, Any], changes: dict[str, Any], rows: Rows
    ) -> None:
        """The side tables' rows for the lists ``changes`` names: the old
        ones (``before``, the engineer's row) deleted, the new ones put."""
        for column, table, field in (
            ("skills", self.skills, "skill"), ("territories", self.territories, "territory"),
        ):
            if column in changes:
                for old in before.get(column) or ():
                    rows.delete(table, (engineer_id, old))
                for new in changes[column] or ():
                    rows.put(table, {"engineer_id": engineer_id, field: new})
        if "certifications" in changes:
            for old in before.get("certifications") or ():
                rows.delete(self.certifications, (engineer_id, old["name"]))
            for new in changes["certifications"] or ():
                rows.put(self.certifications, {
                    "engineer_id": engineer_id, "certification": new["name"],
                    "expires_on": new["expires_on"],
                })

    def _load(self, **deltas: int) -> Handler:
        def handler(e: Any, position: int, rows: Rows) -> None:
            for attribute, delta in deltas.items():
                key = (getattr(e, attribute),)
                row = rows.get(self.table, key)
                if row is not None:
                    rows.patch(self.table, key, open_assignments=row["open_assignments"] + delta)

        return handler
