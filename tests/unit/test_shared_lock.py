"""The read side's thread lock: runner passes hold it alone, inline saves share it."""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

import pytest

from projections.locks import SharedLock
from projections.recent import CommittedRows

WAIT = 10


def in_thread(target: Any) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def test_sharers_hold_it_together_and_keep_a_lone_holder_out() -> None:
    lock = SharedLock()
    assert lock.acquire_shared(timeout=0)
    assert lock.acquire_shared(timeout=0)
    assert not lock.acquire(timeout=0.05)
    lock.release_shared()
    assert not lock.acquire(blocking=False)
    lock.release_shared()
    assert lock.acquire(timeout=0)
    assert not lock.acquire_shared(timeout=0.05)
    assert not lock.acquire(blocking=False)
    lock.release()
    assert lock.acquire_shared(timeout=0)
    lock.release_shared()


def test_a_waiting_lone_holder_goes_before_newcomers() -> None:
    lock = SharedLock()
    assert lock.acquire_shared()
    got_it = threading.Event()

    def alone() -> None:
        assert lock.acquire(timeout=WAIT)
        got_it.set()
        lock.release()

    waiter = in_thread(alone)
    for _ in range(WAIT * 100):
        with lock._cond:
            if lock._waiting_alone:
                break
        threading.Event().wait(0.01)
    # A newcomer would share with the holder, but the lone one is waiting.
    assert not lock.acquire_shared(timeout=0.05)
    lock.release_shared()
    assert got_it.wait(WAIT)
    waiter.join(WAIT)
    assert lock.acquire_shared(timeout=0)
    lock.release_shared()


def test_a_lone_holder_that_gives_up_lets_sharers_in() -> None:
    lock = SharedLock()
    assert lock.acquire_shared()
    assert not lock.acquire(timeout=0.05)  # gives up
    assert lock.acquire_shared(timeout=0)  # not kept out by a waiter that left
    lock.release_shared()
    lock.release_shared()


def test_releasing_what_is_not_held_is_an_error() -> None:
    lock = SharedLock()
    with pytest.raises(RuntimeError):
        lock.release()
    with pytest.raises(RuntimeError):
        lock.release_shared()
    with lock:
        assert not lock.acquire_shared(timeout=0)
    assert lock.acquire_shared(timeout=0)
    lock.release_shared()


def _write(position: int, row: dict[str, Any]) -> Any:
    table = SimpleNamespace(name="engineers")
    rows = SimpleNamespace(changed=lambda t: [(("aisha.k",), row)])
    return SimpleNamespace(projection=SimpleNamespace(tables=[table]), rows=rows,
                           position=position)


def test_remembered_rows_told_out_of_commit_order_keep_the_later_one() -> None:
    # Two saves in flight together commit in one order and may tell the read
    # side in the other (projections.inline).
    recent = CommittedRows(["engineers"])
    recent.remember([_write(12, {"open_assignments": 2})])
    recent.remember([_write(11, {"open_assignments": 1})])
    assert recent.get("engineers", ("aisha.k",), 11) == {"open_assignments": 2}
    assert recent.get("engineers", ("aisha.k",), 12) == {"open_assignments": 2}
    recent.remember([_write(13, {"open_assignments": 3})])
    assert recent.get("engineers", ("aisha.k",), 13) == {"open_assignments": 3}
