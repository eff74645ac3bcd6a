"""Group commit and the ticket cache, on SQLite and PostgreSQL.

A batch holding one conflicting aggregate commits the others and fails that one
only; the Ledger then answers that command from the stored state (409 rules, or
412 for a pinned version) while its neighbours succeed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import RecordConflictError

from ledger.application import Ledger
from ledger.committer import GroupCommitter
from ledger.domain import Ticket
from ledger.errors import ActiveAssignmentExistsError, StaleVersionError


def _events(ledger: Ledger, ticket_id: UUID) -> list[Any]:
    return list(ledger.events.get(ticket_id))


class GatedSave:
    """Wraps Application.save: records each call's batch size and outcome; the
    first call waits at the gate so that the next ones queue up into one batch."""

    def __init__(self, save: Callable[..., Any]) -> None:
        self.save = save
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.calls: list[tuple[int, str]] = []
        self._first = True

    def __call__(self, *aggregates: Any, **kwargs: Any) -> Any:
        if self._first:
            self._first = False
            self.entered.set()
            assert self.gate.wait(30)
        try:
            result = self.save(*aggregates, **kwargs)
        except RecordConflictError:
            self.calls.append((len(aggregates), "conflict"))
            raise
        self.calls.append((len(aggregates), "ok"))
        return result


def _run_all(funcs: list[Callable[[], Any]]) -> list[Any]:
    """Runs each function on its own thread; returns results or exceptions."""
    out: list[Any] = [None] * len(funcs)

    def run(i: int) -> None:
        try:
            out[i] = funcs[i]()
        except Exception as e:  # noqa: BLE001 - the test inspects it
            out[i] = e

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(funcs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return out


def _wait_queued(committer: GroupCommitter, n: int) -> None:
    for _ in range(3000):
        if committer._queue.qsize() >= n:
            return
        threading.Event().wait(0.01)
    raise AssertionError(f"{n} saves never queued up")


def test_a_conflicting_aggregate_fails_alone_and_its_batch_neighbours_commit(
    ledger: Ledger,
) -> None:
    ids = [ledger.open_ticket(title=f"t{i}", actor="a").result().aggregate_id for i in range(5)]
    stale = ledger.get_ticket(ids[2])
    ledger.close_ticket(ids[2], reason="meanwhile", actor="other").result()  # version 2 taken
    stale.close(reason="too late", actor="a")  # also wants version 2

    gated = GatedSave(ledger.save)
    committer = GroupCommitter(gated)
    blocker = ledger.get_ticket(ids[0])
    blocker.close(reason="first", actor="a")
    others = []
    for tid in (ids[1], ids[3], ids[4]):
        t = ledger.get_ticket(tid)
        t.close(reason="batched", actor="a")
        others.append(t)
    try:
        first = threading.Thread(target=committer.commit, args=(blocker,))
        first.start()
        assert gated.entered.wait(30)
        batch = [stale, *others]
        results: list[Any] = []
        runner = threading.Thread(
            target=lambda: results.extend(_run_all([lambda a=a: committer.commit(a)
                                                    for a in batch]))
        )
        runner.start()
        _wait_queued(committer, len(batch))
        gated.gate.set()
        runner.join(30)
        first.join(30)
    finally:
        committer.close()

    # One transaction for the blocker, one batch of four that conflicted, then
    # each of the four alone: only the stale one conflicted.
    assert gated.calls[0] == (1, "ok")
    assert gated.calls[1] == (4, "conflict")
    assert sorted(gated.calls[2:]) == [(1, "conflict"), (1, "ok"), (1, "ok"), (1, "ok")]
    assert committer.splits == 1
    assert isinstance(results[0], RecordConflictError)
    for aggregate, result in zip(others, results[1:], strict=True):
        assert not isinstance(result, Exception), result
        assert [r.domain_event.originator_id for r in result] == [aggregate.id]
        assert result[-1].notification.id > 0
        assert [type(e).__name__ for e in _events(ledger, aggregate.id)] == ["Opened", "Closed"]
    # the stale one recorded nothing; the other writer's close stands
    closed = _events(ledger, ids[2])
    assert len(closed) == 2 and closed[-1].reason == "meanwhile"


def test_a_batch_of_new_aggregates_commits_in_one_transaction(ledger: Ledger) -> None:
    gated = GatedSave(ledger.save)
    committer = GroupCommitter(gated)
    tickets = [Ticket.open(ticket_id=uuid4(), title=f"n{i}", actor="a") for i in range(4)]
    try:
        first = threading.Thread(target=committer.commit, args=(tickets[0],))
        first.start()
        assert gated.entered.wait(30)
        results: list[Any] = []
        runner = threading.Thread(
            target=lambda: results.extend(_run_all([lambda t=t: committer.commit(t)
                                                    for t in tickets[1:]]))
        )
        runner.start()
        _wait_queued(committer, 3)
        gated.gate.set()
        runner.join(30)
        first.join(30)
    finally:
        committer.close()
    assert gated.calls == [(1, "ok"), (3, "ok")]
    positions = [r[-1].notification.id for r in results]
    assert len(set(positions)) == 3
    for t in tickets:
        assert ledger.get_ticket(t.id).version == 1


def _second_process(database_url: str) -> Ledger:
    return Ledger(database_url)


def test_commands_batched_with_a_stale_cached_ticket(database_url: str) -> None:
    """Ledger level: this process caches ticket A; another process assigns it.
    Concurrent commands here (batched by the committer) succeed, and the assign
    on A is judged on the stored state: 409 (an active assignment exists), and a
    pinned version answers 412 with the stored version."""
    here, there = Ledger(database_url), _second_process(database_url)
    try:
        for e in ("e1", "e2"):
            here.register_engineer(engineer_id=e, name=e, actor="a", capacity=99).result()
        a = here.open_ticket(title="A", actor="a").result().aggregate_id
        here.close_ticket(a, reason="x", actor="a").result()
        here.reopen_ticket(a, reason="y", actor="a").result()  # cached here at version 3
        there.assign(a, engineer_id="e2", tier=1, actor="other").result()  # version 4, elsewhere
        others = [here.open_ticket(title=f"o{i}", actor="a").result().aggregate_id for i in range(6)]

        calls = [lambda t=t: here.assign(t, engineer_id="e1", tier=1, actor="a").result()
                 for t in others]
        calls.append(lambda: here.assign(a, engineer_id="e1", tier=1, actor="a").result())
        calls.append(lambda: here.close_ticket(a, reason="pinned", actor="a",
                                               expected_version=3).result())
        results = _run_all(calls)
        for tid, result in zip(others, results[:6], strict=True):
            assert not isinstance(result, Exception), result
            assert here.get_ticket(tid).active_assignment is not None
        assert isinstance(results[6], ActiveAssignmentExistsError)
        assert isinstance(results[7], StaleVersionError)
        assert results[7].current_version == 4
        stored = here.get_ticket(a)
        assert stored.version == 4
        assert stored.active_assignment.engineer_id == "e2"
    finally:
        here.close()
        there.close()


def test_a_stale_cached_ticket_is_reloaded_and_the_command_rerun(database_url: str) -> None:
    here, there = Ledger(database_url), _second_process(database_url)
    try:
        here.register_engineer(engineer_id="e1", name="e1", actor="a").result()
        t = here.open_ticket(title="T", actor="a").result().aggregate_id
        first = here.assign(t, engineer_id="e1", tier=1, actor="a").result()  # cached at 2
        there.accept(t, first.assignment_id, actor="e1").result()  # version 3 elsewhere
        # Here the cached copy says "assigned"; the store says "accepted".
        result = here.start(t, first.assignment_id, actor="e1").result()
        assert result.version == 4
        assert [type(e).__name__ for e in _events(here, t)][-2:] == ["Accepted", "Started"]
    finally:
        here.close()
        there.close()


@pytest.mark.parametrize("group_commit", [True, False])
def test_the_ticket_cache_serialises_commands_on_one_ticket(
    database_url: str, group_commit: bool
) -> None:
    ledger = Ledger(database_url, group_commit=group_commit)
    try:
        tid = ledger.open_ticket(title="busy", actor="a").result().aggregate_id
        results = _run_all([
            (lambda i=i: ledger.close_ticket(tid, reason=f"c{i}", actor="a").result()
             if i % 2 == 0 else ledger.reopen_ticket(tid, reason=f"r{i}", actor="a").result())
            for i in range(8)
        ])
        succeeded = [r for r in results if not isinstance(r, Exception)]
        # No lost update and no duplicate version: versions are 2.. in order.
        assert sorted(r.version for r in succeeded) == list(range(2, 2 + len(succeeded)))
        assert ledger.get_ticket(tid).version == 1 + len(succeeded)
    finally:
        ledger.close()


def test_a_create_whose_commit_was_in_doubt_is_not_answered_as_taken(ledger) -> None:  # noqa: ANN001
    """The recorder retries an insert whose connection broke after COMMIT; meeting
    its own row is success, not 'id already taken' (seen when PostgreSQL stops)."""
    from uuid import uuid4

    from ledger.domain import Ticket
    from ledger.errors import TicketExistsError

    ticket = Ticket.open(ticket_id=uuid4(), title="in doubt", description=None,
                         priority="medium", required_skill=None, equipment_id=None,
                         reference=None, actor="d", timestamp=None)
    twin = Ticket.open(ticket_id=ticket.id, title="in doubt", description=None,
                       priority="medium", required_skill=None, equipment_id=None,
                       reference=None, actor="d", timestamp=ticket.created_on)
    ledger.save(ticket)  # the first attempt, committed
    result = ledger._record_new(twin, TicketExistsError("taken")).result()  # noqa: SLF001 - the retry
    assert result.aggregate_id == ticket.id and result.position >= 1
    other = Ticket.open(ticket_id=ticket.id, title="someone else", description=None,
                        priority="medium", required_skill=None, equipment_id=None,
                        reference=None, actor="e", timestamp=None)
    import pytest

    with pytest.raises(TicketExistsError):
        ledger._record_new(other, TicketExistsError("taken")).result()  # noqa: SLF001


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
@pytest.mark.postgres
def test_tickets_loaded_together_equal_tickets_loaded_one_by_one(ledger: Ledger) -> None:
    """The command thread reads the streams of a round's tickets in one query."""
    ledger.register_engineer(engineer_id="e1", name="e1", actor="a").result()
    ids = [ledger.open_ticket(title=f"t{i}", actor="a").result().aggregate_id for i in range(4)]
    ledger.assign(ids[0], engineer_id="e1", tier=1, actor="a").result()
    ledger.close_ticket(ids[1], reason="done", actor="a").result()
    engineer = ledger.get_engineer("e1").id
    missing = uuid4()
    loaded = ledger._load_tickets([*ids, engineer, missing])  # noqa: SLF001
    assert sorted(loaded) == sorted(ids)  # not the engineer, not the unknown id
    for tid in ids:
        one = ledger.get_ticket(tid)
        assert loaded[tid].version == one.version
        assert loaded[tid].__dict__ == one.__dict__


def test_a_round_of_commands_loads_its_tickets_together(database_url: str) -> None:
    """Commands queued together on tickets not cached here are all answered
    (their tickets read together on PostgreSQL, one by one on SQLite), each with
    its own outcome: success, a refusal, an unknown ticket."""
    writer, ledger = Ledger(database_url), Ledger(database_url)
    try:
        writer.register_engineer(engineer_id="e1", name="e1", actor="a").result()
        ids = [writer.open_ticket(title=f"t{i}", actor="a").result().aggregate_id for i in range(8)]
        writer.close_ticket(ids[3], reason="closed", actor="a").result()
        unknown = uuid4()
        calls = [lambda t=t: ledger.assign(t, engineer_id="e1", tier=1, actor="a").result()
                 for t in [*ids, unknown]]
        results = _run_all(calls)
        from ledger.errors import TicketClosedError, TicketNotFoundError

        assert isinstance(results[3], TicketClosedError)
        assert isinstance(results[8], TicketNotFoundError)
        for i in (0, 1, 2, 4, 5, 6, 7):
            assert results[i].version == 2, results[i]
            assert writer.get_ticket(ids[i]).active_assignment.engineer_id == "e1"
    finally:
        writer.close()
        ledger.close()
