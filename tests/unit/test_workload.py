"""An engineer's workload: a reservation is refused once the slots still open
(reserved ones whose assignments have not ended, plus those made by hand)
fill the capacity; ended ones are released by the next reservation."""

from __future__ import annotations

from uuid import uuid4

import pytest

from ledger.errors import CapacityReachedError
from ledger.workload import Workload, workload_id


def reserve(workload: Workload, *, capacity: int, ended=(), unreserved_open: int = 0):
    assignment = uuid4()
    workload.reserve(ticket_id=uuid4(), assignment_id=assignment, capacity=capacity,
                     ended=set(ended), unreserved_open=unreserved_open, actor="t")
    return assignment


def test_reservations_stop_at_capacity_and_say_so() -> None:
    workload = Workload.start("ana", actor="t")
    assert workload.id == workload_id("ana")
    reserve(workload, capacity=2)
    reserve(workload, capacity=2)
    with pytest.raises(CapacityReachedError, match="'ana' is at capacity: 2 open assignments of 2"):
        reserve(workload, capacity=2)
    assert workload.open_count == 2
    assert len(workload.pending_events) == 3  # started, and two reservations


def test_assignments_made_by_hand_count_toward_load() -> None:
    workload = Workload.start("ana", actor="t")
    reserve(workload, capacity=3, unreserved_open=1)
    with pytest.raises(CapacityReachedError, match="2 open assignments of 2, 1 of them"):
        reserve(workload, capacity=2, unreserved_open=1)


def test_ended_assignments_are_released_by_the_next_reservation() -> None:
    workload = Workload.start("ana", actor="t")
    first = reserve(workload, capacity=1)
    with pytest.raises(CapacityReachedError):
        reserve(workload, capacity=1)
    second = reserve(workload, capacity=1, ended={first})
    assert set(workload.held) == {second}
    event = workload.pending_events[-1]
    assert (event.released, event.load, event.capacity) == ([first], 1, 1)
