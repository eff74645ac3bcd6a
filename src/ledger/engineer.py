"""The ``Engineer`` aggregate: the roster that assignments draw on.

As on ``Ticket``, each event class declares its fields once, with their
defaults, and applies itself; a command names what its rules or derived values
need and passes the event's other fields through as ``**fields``.

Topics are explicit (``TOPIC``): the class moved out of ``ledger.domain`` and
the stored events still name it there, as new ones do.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import KW_ONLY
from datetime import datetime
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
        there once; ``skills`` is stored as a list, empty when left out."""
        return create(
            cls, cls.Registered, id=engineer_aggregate_id(engineer_id),
            engineer_id=engineer_id, skills=list(skills or []), actor=actor,
            timestamp=timestamp, via=via, **fields,
        )

    UPDATABLE = ("name", "skills", "tier", "capacity", "availability", "active")

    def update(
        self, *, changes: dict[str, Any], actor: str, timestamp: datetime | None = None,
        via: str | None = None, **fields: Any,
    ) -> bool:
        """Records only the fields that really change; returns whether any did.
        ``fields``: ``Updated``'s own beyond the changes, declared there once."""
        effective = {
            key: value
            for key, value in changes.items()
            if key in self.UPDATABLE and getattr(self, key) != value
        }
        if not effective:
            return False
        self.trigger_event(
            self.Updated, engineer_id=self.engineer_id, changes=effective, actor=actor,
            timestamp=timestamp, via=via, **fields,
        )
        return True
