"""``engineers``: the roster, with each engineer's count of open assignments;
and beside it one row per skill, territory and certification an engineer holds
(``engineer_skills``, ``engineer_territories``, ``engineer_certifications``),
and where each can be sent (``engineer_reach``), so coverage queries match
them with index probes on either backend (``projections.coverage``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ledger.domain import Engineer, Ticket
from projections.base import Handler, Key, KeyRule, Projection, Rows
from projections.tables import Column, Table, ts


#: ``engineer_reach``'s territory of an engineer who has none: they work anywhere.
ANYWHERE = "*"


def reach_of(row: dict[str, Any] | None) -> set[tuple[str, str]]:
    """The (skill, territory) pairs of ``engineer_reach`` for an engineer's row."""
    if row is None or not row["active"] or row["availability"] <= 0:
        return set()
    skills = {"", *row["skills"]}
    territories = {"", *row["territories"]} if row["territories"] else {ANYWHERE}
    return {(skill, territory) for skill in skills for territory in territories}


class EngineersProjection(Projection):
    """``engineers``: the roster, with each engineer's count of open assignments."""

    name = "engineers"
    version = 4
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
    #: Where an active, available engineer can be sent: one row per (skill,
    #: territory) they cover, each including "" (the ticket asks no skill /
    #: names no territory); an engineer without territories has "*" (anywhere)
    #: instead. A coverage question is then one index probe (skill, territory
    #: in (T, "*")) per kind of work, not a scan of the roster.
    reach = Table(
        "engineer_reach",
        (Column("skill", "text", True), Column("territory", "text", True),
         Column("engineer_id", "text", True)),
        key=("skill", "territory", "engineer_id"),
    )
    #: One row (``id`` "last"): the log position of the last event that
    #: changed an engineer's reach or certifications. Coverage answers that
    #: depend only on those tables hold as long as it stays the same
    #: (``projections.coverage`` keeps the gaps by it). Put, never read, by
    #: the fold: replays give the same position.
    reach_changed = Table(
        "engineer_reach_changed",
        (Column("id", "text", True), Column("position", "int", True)),
        key=("id",),
    )
    tables = (table, skills, territories, certifications, reach, reach_changed)

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
        self._reach(e.engineer_id, set(), reach_of(rows.get(self.table, (e.engineer_id,))), rows)
        self._changed_reach(position, rows)

    def _updated(self, e: Engineer.Updated, position: int, rows: Rows) -> None:
        before = rows.get(self.table, (e.engineer_id,))
        if before is None:
            return
        self._held(e.engineer_id, before, e.changes, rows)
        reach_before, reach_after = reach_of(before), reach_of({**before, **e.changes})
        self._reach(e.engineer_id, reach_before, reach_after, rows)
        if reach_before != reach_after or "certifications" in e.changes:
            self._changed_reach(position, rows)
        rows.patch(self.table, (e.engineer_id,), updated_at=ts(e.timestamp), **e.changes)

    def _reach(
        self, engineer_id: str, before: set[tuple[str, str]], after: set[tuple[str, str]],
        rows: Rows,
    ) -> None:
        for skill, territory in before - after:
            rows.delete(self.reach, (skill, territory, engineer_id))
        for skill, territory in after - before:
            rows.put(self.reach, {"skill": skill, "territory": territory,
                                  "engineer_id": engineer_id})

    def _changed_reach(self, position: int, rows: Rows) -> None:
        rows.put(self.reach_changed, {"id": "last", "position": position})

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
