"""The command executor's rules, with a fake store: one ticket's commands in
arrival order and one at a time, conflicts re-run on the stored state, refusals
on a cached copy judged again, nothing answered before its save is durable."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import RecordConflictError

from ledger.cache import AggregateCache
from ledger.errors import (
    ConcurrentUpdateError,
    LedgerError,
    StaleVersionError,
    StorageUnavailableError,
)
from ledger.executor import CommandExecutor, Job


class Refused(LedgerError):
    """Raised when the fake ticket's rule refuses a command."""


@dataclass
class FakeTicket:
    id: UUID
    version: int = 1
    log: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)

    @property
    def pending_events(self) -> list[str]:
        return self.pending


class FakeStore:
    """Tickets by id; saves are held until ``release`` (so tests can look at
    what is in flight), and may be told to conflict."""

    def __init__(self) -> None:
        self.stored: dict[UUID, FakeTicket] = {}
        self.loads: list[UUID] = []
        self.in_flight: list[tuple[FakeTicket, Future[Any]]] = []
        self.conflicts: dict[UUID, int] = {}
        self.lock = threading.Lock()
        self.saved = threading.Condition(self.lock)

    def load(self, ticket_id: UUID) -> FakeTicket:
        with self.lock:
            self.loads.append(ticket_id)
            stored = self.stored[ticket_id]
            return FakeTicket(stored.id, stored.version, list(stored.log))

    def submit(self, ticket: FakeTicket) -> Future[Any]:
        future: Future[Any] = Future()
        with self.lock:
            self.in_flight.append((ticket, future))
            self.saved.notify_all()
        return future

    def wait_in_flight(self, n: int) -> None:
        with self.lock:
            assert self.saved.wait_for(lambda: len(self.in_flight) >= n, 10)

    def release(self) -> None:
        """Commits (or conflicts) every save in flight."""
        with self.lock:
            batch, self.in_flight = self.in_flight, []
        for ticket, future in batch:
            if self.conflicts.get(ticket.id, 0) > 0:
                self.conflicts[ticket.id] -= 1
                with self.lock:
                    self.stored[ticket.id].version += 1  # someone else wrote
                    self.stored[ticket.id].log.append("elsewhere")
                future.set_exception(RecordConflictError("conflict"))
                continue
            with self.lock:
                ticket.log.extend(ticket.pending)
                ticket.pending = []
                self.stored[ticket.id] = FakeTicket(ticket.id, ticket.version, list(ticket.log))
            future.set_result([len(ticket.log)])


@contextmanager
def _no_translation() -> Any:
    yield


def _executor(store: FakeStore, answer: Any, **options: Any) -> CommandExecutor:
    return CommandExecutor(
        store.load, store.submit, answer, AggregateCache(100),
        retries=3, errors=_no_translation, **options,
    )


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


@pytest.fixture
def executor(store: FakeStore) -> Any:
    ex = _executor(store, lambda t, a, r: (t.version, list(t.log), a))
    yield ex
    store.release()
    ex.close()


def _saved(executor: CommandExecutor, store: FakeStore, job: Job) -> Any:
    """Submits ``job``, lets its one save through, returns its answer."""
    future = executor.submit(job)
    store.wait_in_flight(1)
    store.release()
    return future.result(10)


def _ticket(store: FakeStore) -> UUID:
    tid = uuid4()
    store.stored[tid] = FakeTicket(tid)
    return tid


def _append(name: str, refuse_if: str | None = None) -> Any:
    def command(t: FakeTicket) -> str:
        if refuse_if is not None and refuse_if in t.log:
            raise Refused(f"{name} refused: {refuse_if} happened")
        t.version += 1
        t.pending.append(name)
        return name

    return command


def test_one_tickets_commands_run_one_at_a_time_in_arrival_order(
    executor: CommandExecutor, store: FakeStore
) -> None:
    tid, other = _ticket(store), _ticket(store)
    first = executor.submit(Job(tid, _append("a")))
    second = executor.submit(Job(tid, _append("b")))
    elsewhere = executor.submit(Job(other, _append("x")))
    store.wait_in_flight(2)
    # Only the first command on the ticket is in flight (with the other ticket's);
    # the second waits for its save.
    assert sorted(t.log + t.pending for t, _ in store.in_flight) == [["a"], ["x"]]
    assert not first.done() and not second.done()
    store.release()
    assert first.result(10) == (2, ["a"], "a")
    assert elsewhere.result(10) == (2, ["x"], "x")
    store.wait_in_flight(1)
    store.release()
    assert second.result(10) == (3, ["a", "b"], "b")
    # The second ran on the cached, committed ticket: one load per ticket.
    assert sorted(store.loads) == sorted([tid, other])


def test_a_conflict_reruns_the_command_on_the_stored_ticket(
    executor: CommandExecutor, store: FakeStore
) -> None:
    tid = _ticket(store)
    store.conflicts[tid] = 1
    future = executor.submit(Job(tid, _append("a")))
    store.wait_in_flight(1)
    store.release()  # conflicts: another writer stored version 2
    store.wait_in_flight(1)
    store.release()
    assert future.result(10) == (3, ["elsewhere", "a"], "a")
    assert store.loads == [tid, tid]


def test_conflicting_every_time_answers_concurrent_update(
    executor: CommandExecutor, store: FakeStore
) -> None:
    tid = _ticket(store)
    store.conflicts[tid] = 3
    future = executor.submit(Job(tid, _append("a")))
    for _ in range(3):
        store.wait_in_flight(1)
        store.release()
    with pytest.raises(ConcurrentUpdateError):
        future.result(10)
    # The ticket is free again: the next command runs.
    assert _saved(executor, store, Job(tid, _append("b")))[1][-1] == "b"


def test_a_refusal_on_a_cached_ticket_is_judged_again_on_the_stored_one(
    executor: CommandExecutor, store: FakeStore
) -> None:
    tid = _ticket(store)
    _saved(executor, store, Job(tid, _append("closed")))  # cached: log ["closed"]
    # Another process reopened it: the store no longer says "closed" last.
    store.stored[tid] = FakeTicket(tid, 3, ["reopened"])
    answer = _saved(executor, store, Job(tid, _append("assign", refuse_if="closed")))
    assert answer == (4, ["reopened", "assign"], "assign")


def test_a_refusal_on_the_stored_ticket_is_the_answer(
    executor: CommandExecutor, store: FakeStore
) -> None:
    tid = _ticket(store)
    store.stored[tid].log.append("closed")
    future = executor.submit(Job(tid, _append("assign", refuse_if="closed")))
    with pytest.raises(Refused):
        future.result(10)
    assert store.in_flight == [] and store.loads == [tid]


def test_a_failed_check_is_not_skipped_when_the_command_is_judged_again(
    executor: CommandExecutor, store: FakeStore
) -> None:
    tid = _ticket(store)
    _saved(executor, store, Job(tid, _append("a")))
    checks: list[int] = []

    def check() -> None:
        checks.append(1)
        raise Refused("unknown engineer")

    future = executor.submit(Job(tid, _append("b"), check=check))
    with pytest.raises(Refused, match="unknown engineer"):
        future.result(10)
    assert checks == [1, 1]  # on the cached copy, then on the stored one
    assert store.in_flight == []


def test_a_stale_pinned_version_is_stale_on_the_stored_ticket_too(
    executor: CommandExecutor, store: FakeStore
) -> None:
    tid = _ticket(store)
    future = executor.submit(Job(tid, _append("a"), expected_version=7))
    with pytest.raises(StaleVersionError) as raised:
        future.result(10)
    assert raised.value.current_version == 1


def test_an_unavailable_store_fails_the_job_and_frees_the_ticket(
    executor: CommandExecutor, store: FakeStore
) -> None:
    tid = _ticket(store)
    real_load = store.load
    calls = []

    def broken(ticket_id: UUID) -> FakeTicket:
        calls.append(ticket_id)
        if len(calls) == 1:
            raise StorageUnavailableError("down")
        return real_load(ticket_id)

    executor._load = broken  # noqa: SLF001 - the store goes down for one load
    with pytest.raises(StorageUnavailableError):
        executor.submit(Job(tid, _append("a"))).result(10)
    assert _saved(executor, store, Job(tid, _append("b")))[1] == ["b"]


def test_a_waiting_caller_that_gives_up_does_not_cancel_the_command(
    executor: CommandExecutor, store: FakeStore
) -> None:
    tid = _ticket(store)

    async def give_up() -> Future[Any]:
        job = Job(tid, _append("a"))
        waiting = asyncio.ensure_future(asyncio.wrap_future(executor.submit(job)))
        await asyncio.sleep(0.05)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        return job.future

    future = asyncio.run(give_up())
    assert not future.cancelled()
    store.wait_in_flight(1)
    store.release()
    assert future.result(10)[1] == ["a"]
    assert store.stored[tid].log == ["a"]


def test_close_finishes_what_was_submitted(store: FakeStore) -> None:
    ex = _executor(store, lambda t, a, r: t.version)
    tid = _ticket(store)
    store.conflicts[tid] = 1
    futures = [ex.submit(Job(tid, _append(n))) for n in "abc"]
    releaser_stop = threading.Event()

    def keep_releasing() -> None:
        while not releaser_stop.is_set():
            store.release()
            releaser_stop.wait(0.01)

    releaser = threading.Thread(target=keep_releasing)
    releaser.start()
    try:
        ex.close()
    finally:
        releaser_stop.set()
        releaser.join(10)
    assert [f.result(0) for f in futures] == [3, 4, 5]  # one conflict, then a, b, c
    with pytest.raises(StorageUnavailableError):
        ex.submit(Job(tid, _append("late")))


def test_a_rounds_tickets_are_loaded_together_and_a_failed_batch_falls_back(
    store: FakeStore,
) -> None:
    batches: list[list[UUID]] = []
    fail = [True]

    def load_many(ids: list[UUID]) -> dict[UUID, FakeTicket]:
        batches.append(list(ids))
        if fail[0]:
            fail[0] = False
            raise StorageUnavailableError("blip")
        return {i: store.load(i) for i in ids}

    ex = _executor(store, lambda t, a, r: list(t.log), load_many=load_many)
    try:
        for round_ in range(2):
            tids = [_ticket(store) for _ in range(3)]
            entered, gate = threading.Event(), threading.Event()
            # Hold the thread in a blocker's check so that the three queue up.
            blocker = ex.submit(Job(_ticket(store), _append("b"),
                                    check=lambda: (entered.set(), gate.wait(10))))
            assert entered.wait(10)
            jobs = [ex.submit(Job(t, _append("a"))) for t in tids]
            gate.set()
            store.wait_in_flight(4)
            store.release()
            assert blocker.result(10) == ["b"]
            assert [f.result(10) for f in jobs] == [["a"]] * 3
            assert batches[-1] == tids
            # Each ticket read once: alone after the failed batch (round 0, a
            # blip), together in the batch (round 1).
            assert all(store.loads.count(t) == 1 for t in tids)
        assert len(batches) == 2
    finally:
        ex.close()


def test_a_job_with_its_own_loader_is_never_cached(
    executor: CommandExecutor, store: FakeStore
) -> None:
    tid = _ticket(store)
    job = Job(tid, _append("a"), load=store.load, answer=lambda t, a, r: ("own", a, r))
    assert _saved(executor, store, job) == ("own", "a", [1])
    second = Job(tid, _append("b"), load=store.load, answer=lambda t, a, r: list(t.log))
    assert _saved(executor, store, second) == ["a", "b"]
    assert store.loads == [tid, tid]  # loaded afresh each time


def test_a_command_that_records_nothing_is_answered_without_a_save(
    executor: CommandExecutor, store: FakeStore
) -> None:
    tid = _ticket(store)
    future = executor.submit(Job(tid, lambda t: "nothing"))
    assert future.result(10) == (1, [], "nothing")
    assert store.in_flight == []
