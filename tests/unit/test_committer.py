"""The group committer's threads: turns, batches, splits, shutdown (no database:
the save is a stand-in that records what it was handed)."""

from __future__ import annotations

import threading
from typing import Any

from eventsourcing.persistence import RecordConflictError

from ledger.committer import GroupCommitter, window_closed

WAIT = 10


class Aggregate:
    def __init__(self, name: str) -> None:
        self.id = name
        self.pending_events: list[Any] = []


class Save:
    """Stands in for ``Application.save``: records each batch's names; a save
    of a name in ``hold`` stops before its window closes (``in_window``) and
    after it (``committing``) until ``go`` is set."""

    def __init__(self, hold: tuple[str, ...] = (), conflict: tuple[str, ...] = ()) -> None:
        self.calls: list[list[str]] = []
        self.hold = hold
        self.conflict = conflict
        self.in_window = threading.Event()
        self.committing = threading.Event()
        self.go_close = threading.Event()
        self.go_commit = threading.Event()
        self.lock = threading.Lock()

    def __call__(self, *aggregates: Aggregate) -> list[Any]:
        names = [a.id for a in aggregates]
        with self.lock:
            self.calls.append(names)
        if any(n in self.conflict for n in names) and len(names) > 1:
            raise RecordConflictError(f"conflict in {names}")
        if any(n in self.hold for n in names):
            self.in_window.set()
            assert self.go_close.wait(WAIT)
            window_closed()  # what the recorder does once all but the COMMIT is queued
            self.committing.set()
            assert self.go_commit.wait(WAIT)
        else:
            window_closed()
        return []

    def batches(self) -> list[list[str]]:
        with self.lock:
            return [list(c) for c in self.calls]


def wait_until(predicate: Any) -> None:
    event = threading.Event()
    for _ in range(WAIT * 100):
        if predicate():
            return
        event.wait(0.01)
    raise AssertionError("condition never held")


def test_the_next_batch_is_taken_once_the_window_closes_and_saved_while_the_first_commits() -> None:
    save = Save(hold=("first",))
    committer = GroupCommitter(save, threads=2)
    try:
        first = committer.submit(Aggregate("first"))
        assert save.in_window.wait(WAIT)
        later = [committer.submit(Aggregate(f"n{i}")) for i in range(5)]
        # The first transaction still has statements to queue: the other thread
        # has not taken the queued saves.
        threading.Event().wait(0.2)
        assert save.batches() == [["first"]]
        save.go_close.set()
        # Its window closed: the five are saved in one batch while the first
        # is still committing.
        for f in later:
            assert f.result(WAIT) == []
        assert save.committing.is_set() and not first.done()
        assert save.batches() == [["first"], [f"n{i}" for i in range(5)]]
        assert committer.overlaps == 1
        save.go_commit.set()
        assert first.result(WAIT) == []
    finally:
        save.go_close.set()
        save.go_commit.set()
        committer.close()
    assert committer.batches == 2 and committer.saved == 6


def test_one_thread_takes_the_next_batch_only_after_the_commit() -> None:
    save = Save(hold=("first",))
    committer = GroupCommitter(save)  # threads=1 (SQLite)
    try:
        first = committer.submit(Aggregate("first"))
        assert save.in_window.wait(WAIT)
        later = committer.submit(Aggregate("later"))
        save.go_close.set()
        assert save.committing.wait(WAIT)
        threading.Event().wait(0.2)
        assert save.batches() == [["first"]] and not later.done()
        save.go_commit.set()
        assert first.result(WAIT) == [] and later.result(WAIT) == []
    finally:
        save.go_close.set()
        save.go_commit.set()
        committer.close()
    assert committer.overlaps == 0


def test_a_batch_that_splits_keeps_its_turn_until_its_last_save_returns() -> None:
    # "bad" conflicts in any batch of several; alone it saves (and closes its
    # window at once). "slow", saved alone after it, holds its window open.
    save = Save(hold=("slow",), conflict=("bad",))
    committer = GroupCommitter(save, threads=2)
    gate = threading.Event()
    blocker_saved = threading.Event()

    def blocking_save(*aggregates: Aggregate) -> list[Any]:
        if aggregates[0].id == "blocker":
            blocker_saved.set()
            assert gate.wait(WAIT)  # holds the turn: everything else queues
        return save(*aggregates)

    committer._save = blocking_save
    try:
        blocker = committer.submit(Aggregate("blocker"))
        assert blocker_saved.wait(WAIT)
        split = [committer.submit(Aggregate(n)) for n in ("bad", "ok", "slow")]
        wait_until(lambda: committer._queue.qsize() == 3)
        gate.set()
        assert save.in_window.wait(WAIT)
        # "bad" and "ok" saved alone already closed a window each, and "slow"
        # is still in its own: the turn was held, so nothing else was taken.
        after = committer.submit(Aggregate("after"))
        threading.Event().wait(0.2)
        assert save.batches() == [["blocker"], ["bad", "ok", "slow"], ["bad"], ["ok"], ["slow"]]
        save.go_close.set()
        assert save.committing.wait(WAIT)
        threading.Event().wait(0.2)
        assert not after.done()  # held until the split's last save returns
        save.go_commit.set()
        assert after.result(WAIT) == []
        assert [f.result(WAIT) for f in split] == [[], [], []]
        assert blocker.result(WAIT) == []
    finally:
        gate.set()
        save.go_close.set()
        save.go_commit.set()
        committer.close()
    assert save.batches()[-1] == ["after"]
    assert committer.splits == 1


def test_close_stops_every_thread_after_what_was_queued() -> None:
    save = Save()
    committer = GroupCommitter(save, threads=2)
    futures = [committer.submit(Aggregate(f"a{i}")) for i in range(20)]
    threads = list(committer._threads)
    committer.close()
    assert all(f.result(WAIT) == [] for f in futures)
    assert sorted(n for batch in save.batches() for n in batch) == sorted(
        f"a{i}" for i in range(20)
    )
    assert len(threads) == 2 and not any(t.is_alive() for t in threads if t is not None)
    # Closed: a late save is made on the caller's thread.
    assert committer.submit(Aggregate("late")).result(WAIT) == []
    assert save.batches()[-1] == ["late"]


def test_window_closed_elsewhere_does_nothing() -> None:
    window_closed()  # not a committer thread: no turn to pass on
