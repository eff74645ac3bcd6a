"""An engineer's capacity reservations: the write model's count of the open
assignments the ledger itself chose for them.

Auto-assign and an approved proposal pick an engineer on the read side, which
may lag, and two requests (in one process or several) may pick the same last
slot. So each of those assignments also reserves a slot in the engineer's
``Workload``, saved in the same transaction as the ticket's ``Assigned``
event. Two reservations made on the same workload version cannot both be
stored (the event store's optimistic concurrency: one of the two saves
conflicts and its command runs again on the stored state, where the slot is
gone), so a capacity is never exceeded by the ledger's own choices, however many
processes serve.

Ending an assignment (completed, rejected, removed, escalated, reassigned)
writes nothing here: those commands stay one aggregate. A reservation that
finds the slots held filling the capacity first releases those whose
assignments have ended, as the tickets' stored streams
show them (an assignment never becomes active again once ended, so a slot
released on the evidence of a stored stream is truly free), and records which
it released. An assignment made by hand is the dispatcher's decision and
reserves nothing, but it counts toward load: the caller passes the engineer's
open assignments as the read side shows them, and those not reserved here are
added to the count (see docs/proposals.md, "Capacity").
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import KW_ONLY
from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

from ledger.adapter import create
from ledger.errors import CapacityReachedError

#: Where stored events and workloads name these classes.
TOPIC_PREFIX = "ledger.domain:Workload"

_WORKLOAD_NAMESPACE = uuid5(NAMESPACE_URL, "urn:assignment-ledger:workload")


def workload_id(engineer_id: str) -> UUID:
    """The aggregate id of an engineer's workload: name-based, so every process
    finds (and contends for) the same stream."""
    return uuid5(_WORKLOAD_NAMESPACE, engineer_id)


class Workload(Aggregate):
    """The slots reserved for one engineer: assignment id -> its ticket id."""

    TOPIC = TOPIC_PREFIX

    class Created(Aggregate.Created):
        """eventsourcing's default creation event, never triggered here."""

        TOPIC = f"{TOPIC_PREFIX}.Created"

    class Started(Aggregate.Created):
        TOPIC = f"{TOPIC_PREFIX}.Started"
        engineer_id: str
        _: KW_ONLY
        actor: str

        def apply(self, workload: Workload) -> None:
            workload.engineer_id = self.engineer_id
            workload.held = {}

    class Reserved(Aggregate.Event):
        """A slot taken for ``assignment_id`` on ``ticket_id``; ``released``:
        the reservations whose assignments had ended, freed at the same time."""

        TOPIC = f"{TOPIC_PREFIX}.Reserved"
        ticket_id: UUID
        assignment_id: UUID
        released: list[UUID]
        load: int
        capacity: int
        _: KW_ONLY
        actor: str

        def apply(self, workload: Workload) -> None:
            for assignment_id in self.released:
                workload.held.pop(assignment_id, None)
            workload.held[self.assignment_id] = self.ticket_id

    @classmethod
    def start(cls, engineer_id: str, *, actor: str, timestamp: datetime | None = None) -> Workload:
        return create(
            cls, cls.Started, id=workload_id(engineer_id), engineer_id=engineer_id,
            actor=actor, timestamp=timestamp,
        )

    def reserve(
        self, *, ticket_id: UUID, assignment_id: UUID, capacity: int,
        ended: Collection[UUID], unreserved_open: int, actor: str, **fields: Any,
    ) -> None:
        """Takes a slot, or refuses (``CapacityReachedError``) when the
        reservations still open (those not in ``ended``) plus
        ``unreserved_open`` (the engineer's other open assignments, made by
        hand) already fill ``capacity``."""
        released = [a for a in self.held if a in ended]
        load = len(self.held) - len(released) + unreserved_open
        if load >= capacity:
            by_hand = f", {unreserved_open} of them assigned by hand" if unreserved_open else ""
            msg = (
                f"Engineer {self.engineer_id!r} is at capacity: {load} open "
                f"assignment{'s' if load != 1 else ''} of {capacity}{by_hand}."
            )
            raise CapacityReachedError(msg)
        self.trigger_event(
            self.Reserved, ticket_id=ticket_id, assignment_id=assignment_id,
            released=released, load=load + 1, capacity=capacity, actor=actor, **fields,
        )

    @property
    def open_count(self) -> int:
        return len(self.held)
