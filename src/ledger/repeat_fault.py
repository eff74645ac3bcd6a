"""The ``RepeatFault`` aggregate: a place (a pole, a PON, a zone or a drop) where
tickets keep being opened, raised by the repeat-fault policy
(``ledger.repeat_policy``) and acknowledged and resolved by people.

Its id is a function of the place and of how many faults that place had before
(``repeat_fault_id``): two processes that decide to raise the same fault make
the same id, and the event store lets only one of them create it. Joining is
idempotent: a ticket already on the fault is not recorded again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

from ledger.adapter import create
from ledger.errors import RepeatFaultStateError

#: Where stored events and repeat faults name these classes.
TOPIC_PREFIX = "ledger.domain:RepeatFault"

#: The places a ticket's ``location`` names, each its own scope.
SCOPES = ("pole", "pon", "zone", "dr")

OPEN = "open"
ACKNOWLEDGED = "acknowledged"
RESOLVED = "resolved"
FAULT_STATUSES = (OPEN, ACKNOWLEDGED, RESOLVED)

_NAMESPACE = uuid5(NAMESPACE_URL, "urn:assignment-ledger:repeat-fault")


def repeat_fault_id(scope: str, value: str, episode: int) -> UUID:
    """The id of the ``episode``-th repeat fault (1, 2, ...) at one place."""
    return uuid5(_NAMESPACE, f"{scope}\x1f{value}\x1f{episode}")


class RepeatFault(Aggregate):
    """Tickets opened at one place within the window reached its scope's threshold."""

    TOPIC = TOPIC_PREFIX

    class Created(Aggregate.Created):
        """eventsourcing's default creation event, never triggered (see ``Raised``)."""

        TOPIC = f"{TOPIC_PREFIX}.Created"

    class Raised(Aggregate.Created):
        """``ticket_ids`` reached the threshold together (oldest first);
        ``episode``: the place's how-manieth fault this is."""

        TOPIC = f"{TOPIC_PREFIX}.Raised"
        scope: str
        value: str
        episode: int
        ticket_ids: list[UUID]
        first_opened_at: datetime
        last_opened_at: datetime
        actor: str

        def apply(self, fault: RepeatFault) -> None:
            fault.scope = self.scope
            fault.value = self.value
            fault.episode = self.episode
            fault.ticket_ids = list(self.ticket_ids)
            fault.first_opened_at = self.first_opened_at
            fault.last_opened_at = self.last_opened_at
            fault.status = OPEN

    class TicketJoined(Aggregate.Event):
        TOPIC = f"{TOPIC_PREFIX}.TicketJoined"
        ticket_id: UUID
        opened_at: datetime
        actor: str

        def apply(self, fault: RepeatFault) -> None:
            fault.ticket_ids = [*fault.ticket_ids, self.ticket_id]
            fault.first_opened_at = min(fault.first_opened_at, self.opened_at)
            fault.last_opened_at = max(fault.last_opened_at, self.opened_at)

    class Acknowledged(Aggregate.Event):
        TOPIC = f"{TOPIC_PREFIX}.Acknowledged"
        note: str | None
        actor: str

        def apply(self, fault: RepeatFault) -> None:
            fault.status = ACKNOWLEDGED

    class Resolved(Aggregate.Event):
        TOPIC = f"{TOPIC_PREFIX}.Resolved"
        resolution: str
        actor: str

        def apply(self, fault: RepeatFault) -> None:
            fault.status = RESOLVED

    @classmethod
    def raise_fault(
        cls, *, scope: str, value: str, episode: int,
        tickets: list[tuple[UUID, datetime]], actor: str, timestamp: datetime | None = None,
    ) -> RepeatFault:
        """``tickets``: (ticket id, opened at) of those that reached the threshold."""
        if scope not in SCOPES:
            msg = f"Scope {scope!r} is not one of {', '.join(SCOPES)}."
            raise ValueError(msg)
        times = [at for _id, at in tickets]
        return create(
            cls, cls.Raised, id=repeat_fault_id(scope, value, episode), scope=scope,
            value=value, episode=episode, ticket_ids=[ticket for ticket, _at in tickets],
            first_opened_at=min(times), last_opened_at=max(times), actor=actor,
            timestamp=timestamp,
        )

    def check_status(self, command: str, allowed: tuple[str, ...]) -> None:
        if self.status not in allowed:
            msg = (
                f"Cannot {command} repeat fault {self.id}: it is {self.status}; "
                f"{command} needs {' or '.join(allowed)}."
            )
            raise RepeatFaultStateError(msg)

    def join(
        self, *, ticket_id: UUID, opened_at: datetime, actor: str, **fields: Any
    ) -> bool:
        """Adds a ticket unless it is on the fault already; returns whether it
        was added. Whatever the status: the policy decides in the log's order, so
        a ticket opened before the resolution joins even if the policy records
        that after it."""
        if ticket_id in self.ticket_ids:
            return False
        self.trigger_event(
            self.TicketJoined, ticket_id=ticket_id, opened_at=opened_at, actor=actor, **fields
        )
        return True

    def acknowledge(self, *, note: str | None, actor: str, **fields: Any) -> None:
        self.check_status("acknowledge", (OPEN,))
        self.trigger_event(self.Acknowledged, note=note, actor=actor, **fields)

    def resolve(self, *, resolution: str, actor: str, **fields: Any) -> None:
        self.check_status("resolve", (OPEN, ACKNOWLEDGED))
        self.trigger_event(self.Resolved, resolution=resolution, actor=actor, **fields)
