"""The group committer's thread: batches, splits, shutdown (no database: the
save is a stand-in that records what it was handed)."""

from __future__ import annotations

import threading
from typing import Any

from eventsourcing.persistence import RecordConflictError

from ledger.committer import GroupCommitter

WAIT = 10


class Aggregate:
    def __init__(self, name: str) -> None:
        self.id = name
        self.pending_events: list[Any] = [f"{name}-event"]


class Save:
    """Stands in for ``Application.save``: records each batch's names; a save
    of a name in ``hold`` waits for ``go`` (``saving`` is set meanwhile); a
    batch of several holding a name in ``conflict`` conflicts."""

    def __init__(self, hold: tuple[str, ...] = (), conflict: tuple[str, ...] = ()) -> None:
        self.calls: list[list[str]] = []
        self.hold = hold
        self.conflict = conflict
        self.saving = threading.Event()
        self.go = threading.Event()
        self.lock = threading.Lock()

    def __call__(self, *aggregates: Aggregate) -> list[Any]:
        names = [a.id for a in aggregates]
        with self.lock:
            self.calls.append(names)
        if any(n in self.conflict for n in names) and len(names) > 1:
            raise RecordConflictError(f"conflict in {names}")
        if any(n in self.hold for n in names):
            self.saving.set()
            assert self.go.wait(WAIT)
        for a in aggregates:
            a.pending_events.clear()
        return []

    def batches(self) -> list[list[str]]:
        with self.lock:
            return [list(c) for c in self.calls]


def test_what_queues_during_a_commit_is_saved_as_one_batch_after_it() -> None:
    save = Save(hold=("first",))
    committer = GroupCommitter(save)
    try:
        first = committer.submit(Aggregate("first"))
        assert save.saving.wait(WAIT)
        later = [committer.submit(Aggregate(f"n{i}")) for i in range(5)]
        threading.Event().wait(0.2)
        assert save.batches() == [["first"]] and not any(f.done() for f in later)
        save.go.set()
        assert first.result(WAIT) == [] and all(f.result(WAIT) == [] for f in later)
    finally:
        save.go.set()
        committer.close()
    assert save.batches() == [["first"], [f"n{i}" for i in range(5)]]
    assert committer.stats() == {"batches": 2, "saved": 6, "splits": 0}


def test_a_batch_that_conflicts_is_saved_one_by_one_and_only_the_culprit_fails() -> None:
    save = Save(hold=("blocker",), conflict=("bad",))
    committer = GroupCommitter(save)
    try:
        blocker = committer.submit(Aggregate("blocker"))
        assert save.saving.wait(WAIT)
        aggregates = [Aggregate(n) for n in ("bad", "ok", "fine")]
        split = [committer.submit(a) for a in aggregates]
        save.go.set()
        assert blocker.result(WAIT) == []
        assert [f.result(WAIT) for f in split[1:]] == [[], []]
        # Alone, "bad" saves in this stand-in: what matters is that each was
        # saved alone with its events put back after the failed batch.
        assert split[0].result(WAIT) == []
    finally:
        save.go.set()
        committer.close()
    assert save.batches() == [["blocker"], ["bad", "ok", "fine"], ["bad"], ["ok"], ["fine"]]
    assert committer.splits == 1


def test_a_failed_batch_puts_the_events_back_and_fails_every_caller() -> None:
    def failing(*aggregates: Aggregate) -> list[Any]:
        for a in aggregates:
            a.pending_events.clear()  # as Application.save collects them
        raise OSError("disk on fire")

    committer = GroupCommitter(failing)
    aggregate = Aggregate("a")
    try:
        future = committer.submit(aggregate)
        error = future.exception(WAIT)
    finally:
        committer.close()
    assert isinstance(error, OSError)
    assert aggregate.pending_events == ["a-event"]


def test_close_stops_the_thread_after_what_was_queued() -> None:
    save = Save()
    committer = GroupCommitter(save)
    futures = [committer.submit(Aggregate(f"a{i}")) for i in range(20)]
    threads = list(committer._threads)
    committer.close()
    assert all(f.result(WAIT) == [] for f in futures)
    assert sorted(n for batch in save.batches() for n in batch) == sorted(
        f"a{i}" for i in range(20)
    )
    assert len(threads) == 1 and not threads[0].is_alive()
    # Closed: a late save is made on the caller's thread.
    assert committer.submit(Aggregate("late")).result(WAIT) == []
    assert save.batches()[-1] == ["late"]


def test_a_request_with_companions_is_saved_whole_and_split_whole() -> None:
    """A command's aggregate and its companions (a ticket and the engineer's
    workload) go into one save; when a batch conflicts, they are saved alone
    together, never apart."""
    class Clash(Save):
        """The batch conflicts while "other" shares it with the workload."""

        def __call__(self, *aggregates: Aggregate) -> list[Any]:
            names = {a.id for a in aggregates}
            if {"other", "workload"} <= names:
                with self.lock:
                    self.calls.append([a.id for a in aggregates])
                raise RecordConflictError("conflict")
            return super().__call__(*aggregates)

    save = Clash(hold=("first",))
    committer = GroupCommitter(save)
    try:
        first = committer.submit(Aggregate("first"))
        assert save.saving.wait(WAIT)
        both = committer.submit(Aggregate("ticket"), Aggregate("workload"))
        other = committer.submit(Aggregate("other"))
        save.go.set()
        for future in (first, both, other):
            future.result(WAIT)
    finally:
        committer.close()
    assert save.batches() == [
        ["first"], ["ticket", "workload", "other"], ["ticket", "workload"], ["other"]]
