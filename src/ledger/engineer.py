"""The ``Engineer`` aggregate: the roster that assignments draw on.

As on ``Ticket``, each event class declares its fields once, with their
defaults, and applies itself; a command names what its rules or derived values
need and passes the event's other fields through as ``**fields``.

Topics are explicit (``TOPIC``): the class moved out of ``ledger.domain`` and
the stored events still name it there, as new ones do.

``territories`` and ``certifications`` (issue 21) are new fields of
``Registered`` with defaults (None, read as "none"): an event stored before them
lacks them and loads with the default, so they need no ``class_version`` and
no upcaster. ``Updated.changes`` may name them too; older ones never do.
A certification's ``expires_on`` is stored as ISO text (``"2026-10-31"``), the
form JSON holds and ``date.fromisoformat`` reads.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import KW_ONLY
from datetime import date, datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

from ledger.adapter import create

#: Where stored events and engineers name these classes.
TOPIC_PREFIX = "ledger.domain:Engineer"

_ENGINEER_NAMESPACE = uuid5(NAMESPACE_URL, "urn:assignment-ledger:engineer")


def engineer_aggregate_id(engineer_id: str) -> UUID:
    """The aggregate id of an engineer: a name-based UUID of its string id."""
    return uuid5(_ENGINEER_NAMESPACE, engineer_id)


def clean(fields: dict[str, Any]) -> dict[str, Any]:
    """The territories and certifications among ``fields``, in the one form
    events store: territories a list of distinct names in the order given;
    certifications ``{"name", "expires_on"}`` with the date as ISO text (or
    None: no expiry), one per name (the last given wins), sorted by name."""
    found: dict[str, Any] = {}
    if fields.get("territories") is not None:
        found["territories"] = list(dict.fromkeys(fields["territories"]))
    if fields.get("certifications") is not None:
        by_name: dict[str, str | None] = {}
        for certification in fields["certifications"]:
            expires = certification.get("expires_on")
            by_name[certification["name"]] = (
                expires.isoformat() if isinstance(expires, date) else expires
            )
        found["certifications"] = [
            {"name": name, "expires_on": by_name[name]} for name in sorted(by_name)
        ]
    return found


class Engineer(Aggregate):
    """A field or help-desk engineer who can hold assignments (seed 004 ``developers``)."""

    TOPIC = TOPIC_PREFIX

    class Created(Aggregate.Created):
        """eventsourcing's default creation event, which every aggregate class
        has; never triggered here (see the event below), named for completeness."""

        TOPIC = f"{TOPIC_PREFIX}.Created"

    class Registered(Aggregate.Created):
        """v2: ``skills`` is a list. v1 stored them as one comma-separated text, as
        seed 004's ``developers.skills TEXT`` column does."""

        TOPIC = f"{TOPIC_PREFIX}.Registered"
        class_version = 2

        engineer_id: str
        name: str
        skills: list[str]
        # Keyword-only: defaults where each field is declared, stored order kept.
        _: KW_ONLY
        tier: int = 1
        capacity: int = 1
        availability: float = 1.0
        actor: str
        via: str | None = None
        # Issue 21: new fields with defaults, so no upcaster (see the module doc).
        territories: list[str] | None = None
        certifications: list[dict[str, str | None]] | None = None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            skills = state.get("skills")
            if isinstance(skills, str):
                state["skills"] = [s.strip() for s in skills.split(",") if s.strip()]
            elif skills is None:
                state["skills"] = []

        def apply(self, engineer: Engineer) -> None:
            engineer.engineer_id = self.engineer_id
            engineer.name = self.name
            engineer.skills = list(self.skills)
            engineer.tier = self.tier
            engineer.capacity = self.capacity
            engineer.availability = self.availability
            engineer.territories = list(self.territories or [])
            engineer.certifications = list(self.certifications or [])
            engineer.active = True

    class Updated(Aggregate.Event):
        TOPIC = f"{TOPIC_PREFIX}.Updated"
        engineer_id: str
        changes: dict[str, Any]
        actor: str
        via: str | None = None

        def apply(self, engineer: Engineer) -> None:
            for key, value in self.changes.items():
                setattr(engineer, key, value)

    @classmethod
    def register(
        cls, *, engineer_id: str, actor: str, skills: Iterable[str] | None = None,
        timestamp: datetime | None = None, via: str | None = None, **fields: Any,
    ) -> Engineer:
        """``fields``: ``Registered``'s own (name, tier, capacity, ...), declared
        there once; ``skills`` is stored as a list, empty when left out;
        ``territories`` and ``certifications`` in their one form (``clean``)."""
        fields.update(clean({"territories": [], "certifications": [], **fields}))
        return create(
            cls, cls.Registered, id=engineer_aggregate_id(engineer_id),
            engineer_id=engineer_id, skills=list(skills or []), actor=actor,
            timestamp=timestamp, via=via, **fields,
        )

    UPDATABLE = (
        "name", "skills", "tier", "capacity", "availability", "active", "territories",
        "certifications",
    )

    def update(
        self, *, changes: dict[str, Any], actor: str, timestamp: datetime | None = None,
        via: str | None = None, **fields: Any,
    ) -> bool:
        """Records only the fields that really change; returns whether any did.
        ``fields``: ``Updated``'s own beyond the changes, declared there once."""
        effective = {
            key: value
            for key, value in {**changes, **clean(changes)}.items()
            if key in self.UPDATABLE and getattr(self, key) != value
        }
        if not effective:
            return False
        self.trigger_event(
            self.Updated, engineer_id=self.engineer_id, changes=effective, actor=actor,
            timestamp=timestamp, via=via, **fields,
        )
        return True
