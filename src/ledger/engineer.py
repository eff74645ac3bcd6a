"""The ``Engineer`` aggregate: the roster that assignments draw on.

Topics are explicit (``TOPIC``): the class moved out of ``ledger.domain`` and
the stored events still name it there, as new ones do.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

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
        tier: int
        capacity: int
        availability: float
        actor: str
        via: str | None = None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            skills = state.get("skills")
            if isinstance(skills, str):
                state["skills"] = [s.strip() for s in skills.split(",") if s.strip()]
            elif skills is None:
                state["skills"] = []

    class Updated(Aggregate.Event):
        TOPIC = f"{TOPIC_PREFIX}.Updated"
        engineer_id: str
        changes: dict[str, Any]
        actor: str
        via: str | None = None

    @event(Registered)
    def __init__(
        self,
        id: UUID,  # noqa: A002
        engineer_id: str,
        name: str,
        skills: list[str],
        tier: int,
        capacity: int,
        availability: float,
        actor: str,
        timestamp: datetime | None = None,
        via: str | None = None,
    ) -> None:
        self.engineer_id = engineer_id
        self.name = name
        self.skills = list(skills)
        self.tier = tier
        self.capacity = capacity
        self.availability = availability
        self.active = True

    @classmethod
    def register(
        cls,
        *,
        engineer_id: str,
        name: str,
        actor: str,
        skills: list[str] | None = None,
        tier: int = 1,
        capacity: int = 1,
        availability: float = 1.0,
        timestamp: datetime | None = None,
        via: str | None = None,
    ) -> Engineer:
        return cls(
            id=engineer_aggregate_id(engineer_id),
            engineer_id=engineer_id,
            name=name,
            skills=list(skills or []),
            tier=tier,
            capacity=capacity,
            availability=availability,
            actor=actor,
            timestamp=timestamp,
            via=via,
        )

    UPDATABLE = ("name", "skills", "tier", "capacity", "availability", "active")

    def update(
        self, *, changes: dict[str, Any], actor: str, timestamp: datetime | None = None,
        via: str | None = None,
    ) -> bool:
        """Records only the fields that really change; returns whether any did."""
        effective = {
            key: value
            for key, value in changes.items()
            if key in self.UPDATABLE and getattr(self, key) != value
        }
        if not effective:
            return False
        self._updated(
            engineer_id=self.engineer_id, changes=effective, actor=actor, timestamp=timestamp,
            via=via,
        )
        return True

    @event(Updated)
    def _updated(
        self,
        engineer_id: str,
        changes: dict[str, Any],
        actor: str,
        timestamp: datetime | None = None,
        via: str | None = None,
    ) -> None:
        for key, value in changes.items():
            setattr(self, key, value)
