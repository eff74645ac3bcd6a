"""Capacity reservations in the write model, on SQLite and PostgreSQL: two
Ledgers on one store (as two processes are) reserve an engineer's last slots at
once, and the event store's optimistic concurrency lets exactly the free slots
through; a slot whose assignment ended is released by the next reservation
that needs it; an assignment made by hand counts toward load."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import pytest

from ledger.application import Ledger
from ledger.autoassign import Pick
from ledger.errors import CapacityReachedError
from ledger.workload import workload_id


@pytest.fixture
def other(database_url: str, ledger: Ledger) -> Iterator[Ledger]:
    """A second Ledger on the same store: another process, as far as the store
    can tell (its own pipeline, cache and connections)."""
    app = Ledger(database_url)
    yield app
    app.close()


def pick(engineer_id: str) -> Pick:
    return Pick(engineer_id, 1, 1.0, "auto: test", 1, 1)


def auto_assign(ledger: Ledger, ticket_id: UUID, engineer_id: str, **kw: Any) -> Any:
    return ledger.auto_assign(ticket_id, pick=pick(engineer_id), picked_at_version=1,
                              actor="t", **kw)


def open_tickets(ledger: Ledger, n: int) -> list[UUID]:
    return [ledger.open_ticket(actor="t", title=f"t{i}").result().aggregate_id for i in range(n)]


def test_two_ledgers_on_one_store_take_exactly_the_free_slots(
    ledger: Ledger, other: Ledger
) -> None:
    ledger.register_engineer(engineer_id="ana", name="Ana", capacity=3, actor="t").result()
    tickets = open_tickets(ledger, 12)
    barrier = threading.Barrier(12)
    outcomes: list[Any] = [None] * 12

    def run(i: int) -> None:
        app = ledger if i % 2 else other
        barrier.wait(timeout=30)
        try:
            outcomes[i] = auto_assign(app, tickets[i], "ana").result(timeout=60)
        except Exception as e:  # noqa: BLE001 - counted below
            outcomes[i] = e

    threads = [threading.Thread(target=run, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=90)

    refused = [o for o in outcomes if isinstance(o, CapacityReachedError)]
    assert len(refused) == 9, outcomes
    assert all("'ana' is at capacity: 3 open assignments of 3" in str(e) for e in refused)
    assert sum(1 for o in outcomes if not isinstance(o, Exception)) == 3, outcomes
    held = ledger.repository.get(workload_id("ana")).held
    assert len(held) == 3
    assert sum(1 for t in tickets if ledger.get_ticket(t).active_assignment) == 3


def test_an_ended_assignment_frees_its_slot_for_the_next_reservation(ledger: Ledger) -> None:
    ledger.register_engineer(engineer_id="bo", name="Bo", capacity=1, actor="t").result()
    first, second, third = open_tickets(ledger, 3)
    done = auto_assign(ledger, first, "bo").result()
    with pytest.raises(CapacityReachedError):
        auto_assign(ledger, second, "bo").result()
    ledger.reject(first, done.assignment_id, actor="t", reason="busy").result()

    again = auto_assign(ledger, second, "bo").result()

    workload = ledger.repository.get(workload_id("bo"))
    assert workload.held == {again.assignment_id: second}
    events = list(ledger.events.get(workload_id("bo")))
    assert events[-1].released == [done.assignment_id]
    with pytest.raises(CapacityReachedError):
        auto_assign(ledger, third, "bo").result()


def test_assignments_made_by_hand_count_toward_load_but_are_never_refused(
    ledger: Ledger,
) -> None:
    ledger.register_engineer(engineer_id="cy", name="Cy", capacity=1, actor="t").result()
    by_hand, more_by_hand, auto = open_tickets(ledger, 3)
    made = ledger.assign(by_hand, engineer_id="cy", tier=1, actor="t").result()
    # A dispatcher may go beyond capacity by hand.
    more = ledger.assign(more_by_hand, engineer_id="cy", tier=1, actor="t").result()
    open_ids = [made.assignment_id, more.assignment_id]  # as the read side shows them
    with pytest.raises(CapacityReachedError, match="2 open assignments of 1, 2 of them"):
        auto_assign(ledger, auto, "cy", open_assignment_ids=open_ids).result()
