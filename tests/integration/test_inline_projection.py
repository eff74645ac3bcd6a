"""Inline projections (PostgreSQL): a command's read rows are written in its own
transaction, by whichever process serves it, and fall back to the runner
whenever that is not safe. Whatever path each event took, the read tables equal
a rebuild from the log."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.persistence import RecordConflictError

from api.demo import seed_demo
from ledger.application import CommandResult, Ledger
from projections import inline as inline_module
from projections.inline import InlineProjection
from projections.registry import ALL_PROJECTIONS
from projections.runner import ReadSide
from projections.store import ReadStore

ACTOR = "it-dispatcher"


def postgres_only(test: Any) -> Any:
    """Inline projection needs PostgreSQL's recorder: the test runs there only."""
    test = pytest.mark.parametrize("backend", ["postgres"], indirect=True)(test)
    return pytest.mark.postgres(test)
TABLES = {
    "tickets": "id",
    "engineer_assignments": "id",
    "current_ticket_assignments": "ticket_id",
    "assignment_history": "id",
    "engineers": "id",
    "assignment_intervals": "assignment_id",
    "sla_clocks": "assignment_id",
}


@pytest.fixture
def read_side(ledger: Ledger, store: ReadStore) -> Iterator[ReadSide]:
    rs = ReadSide(ledger, store, poll_interval=0.2)
    rs.setup()
    rs.start()
    deadline = time.monotonic() + 10
    while not rs.leading and time.monotonic() < deadline:
        time.sleep(0.01)
    assert rs.leading
    yield rs
    rs.stop()


def snapshot(store: ReadStore) -> dict[str, list[dict[str, Any]]]:
    return {t: store.select(f"SELECT * FROM {t} ORDER BY {k}") for t, k in TABLES.items()}


def rebuilt(read_side: ReadSide, store: ReadStore) -> dict[str, list[dict[str, Any]]]:
    read_side.rebuild([p.name for p in ALL_PROJECTIONS])
    return snapshot(store)


def inline_of(ledger: Ledger) -> InlineProjection:
    assert isinstance(ledger.inline, InlineProjection)
    return ledger.inline


def story(ledger: Ledger, engineer: str) -> list[CommandResult]:
    """Open, assign, accept, start, escalate, accept, complete, close: one ticket's life."""
    out = [ledger.open_ticket(title=f"inline {engineer}", actor=ACTOR).result()]
    t = out[0].aggregate_id
    a = ledger.assign(t, engineer_id=engineer, tier=1, actor=ACTOR).result()
    aid: UUID = a.assignment_id  # type: ignore[assignment]
    out += [a, ledger.accept(t, aid, actor=engineer).result(), ledger.start(t, aid, actor=engineer).result()]
    b = ledger.escalate(t, next_engineer_id="sipho.d", reason="up", actor=ACTOR).result()
    bid: UUID = b.assignment_id  # type: ignore[assignment]
    out += [b, ledger.accept(t, bid, actor="sipho.d").result(),
            ledger.complete(t, bid, actor="sipho.d", completion_status="success",
                            time_spent_hours=1.5).result()]
    out.append(ledger.close_ticket(t, reason="done", actor=ACTOR).result())
    return out


def test_sqlite_keeps_the_runner(backend: str, ledger: Ledger, store: ReadStore) -> None:
    """Saves project themselves on PostgreSQL only, while the read side runs."""
    rs = ReadSide(ledger, store)
    rs.start()
    try:
        assert isinstance(ledger.inline, InlineProjection) is (backend == "postgres")
    finally:
        rs.stop()
    assert ledger.inline is None


@postgres_only
def test_commands_are_readable_when_they_return_and_equal_a_rebuild(
    ledger: Ledger, store: ReadStore, read_side: ReadSide
) -> None:
    seed_demo(ledger, tickets=5)
    assert read_side.wait_for(ledger.head(), 5)
    inline = inline_of(ledger)
    before = inline.projected
    results: list[list[CommandResult]] = [[] for _ in range(8)]
    readable: list[bool] = []
    engineers = ["aisha.k", "maria.g", "pieter.v", "chen.w"]

    def run(i: int) -> None:
        for _ in range(3):
            done = story(ledger, engineers[i % len(engineers)])
            # Written in the command's own transaction: the read tables hold
            # its position by the time it returns, without any wait (unless
            # its save stood aside for the runner, which is rare).
            readable.append(read_side.live_position() >= done[-1].position)
            results[i] += done

    threads = [threading.Thread(target=run, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    flat = [r for rs in results for r in rs]
    assert len(flat) == 8 * 3 * 8
    assert sum(readable) >= 0.75 * len(readable), readable
    assert inline.projected > before
    assert inline.failed == 0
    # The group committer batched concurrent commands, and the read rows
    # still equal a rebuild (below).
    stats = ledger.commit_stats()
    assert stats is not None and stats["saved"] > stats["batches"]
    closed = store.select("SELECT count(*) AS n FROM tickets WHERE status = 'closed' "
                          "AND title LIKE 'inline %%'")
    assert closed == [{"n": 24}]
    assert read_side.last_error is None
    assert snapshot(store) == rebuilt(read_side, store)


@postgres_only
def test_events_recorded_by_another_process_are_projected_by_the_runner_first(
    ledger: Ledger, store: ReadStore, read_side: ReadSide, database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seed_demo(ledger, tickets=3)
    assert read_side.wait_for(ledger.head(), 5)
    # The runner is held back while another process records (so their events
    # are certainly not projected yet when this process saves next).
    catch_up = read_side.catch_up
    monkeypatch.setattr(read_side, "catch_up", lambda: 0)
    other = Ledger(database_url)  # e.g. `ledger import` while the server runs
    try:
        theirs = story(other, "aisha.k")
    finally:
        other.close()
    # This process's next save finds those events unprojected before its own:
    # it must not move the positions over them.
    inline = inline_of(ledger)
    deferred = inline.deferred
    first = ledger.open_ticket(title="inline first", actor=ACTOR).result()
    assert inline.deferred == deferred + 1
    assert read_side.live_position() < theirs[0].position < first.position
    monkeypatch.setattr(read_side, "catch_up", catch_up)
    assert read_side.wait_for(first.position, 5)
    mine = story(ledger, "maria.g")
    assert read_side.wait_for(mine[-1].position, 5)
    assert read_side.wait_for(theirs[-1].position, 5)
    rows = store.select("SELECT title, status FROM tickets WHERE title LIKE 'inline %%' "
                        "ORDER BY title")
    assert rows == [{"title": "inline aisha.k", "status": "closed"},
                    {"title": "inline first", "status": "open"},
                    {"title": "inline maria.g", "status": "closed"}]
    assert inline.projected > 0
    assert snapshot(store) == rebuilt(read_side, store)


@pytest.fixture
def seeded(ledger: Ledger, read_side: ReadSide) -> InlineProjection:
    """A few demo tickets, projected; the ledger's inline projection."""
    seed_demo(ledger, tickets=3)
    assert read_side.wait_for(ledger.head(), 5)
    return inline_of(ledger)


def assert_recorded_alone_then_projected(
    ledger: Ledger, store: ReadStore, read_side: ReadSide, inline: InlineProjection
) -> None:
    """A save whose read-side part failed its transaction is made again without
    it: the command succeeds, its event is stored once, the runner projects it,
    and the next commands project inline again."""
    opened = ledger.open_ticket(title="inline failing", actor=ACTOR).result()
    assert [type(e).__name__ for e in ledger.events.get(opened.aggregate_id)] == ["Opened"]
    assert inline.failed == 1
    assert read_side.wait_for(opened.position, 5)
    assert store.select("SELECT status FROM tickets WHERE id = %s",
                        [str(opened.aggregate_id)]) == [{"status": "open"}]
    projected = inline.projected
    done = story(ledger, "pieter.v")
    assert inline.projected > projected
    assert read_side.wait_for(done[-1].position, 5)
    assert snapshot(store) == rebuilt(read_side, store)


@postgres_only
def test_an_error_while_writing_the_rows_records_the_events_alone(
    ledger: Ledger, store: ReadStore, read_side: ReadSide, seeded: InlineProjection,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = store.write_on  # type: ignore[attr-defined]
    calls = {"n": 0}

    def write_on(cursor: Any, writes: Any) -> None:
        calls["n"] += 1
        real(cursor, writes)  # queued in the transaction...
        if calls["n"] == 1:
            raise ValueError("injected read-side failure")  # ...which must not commit

    monkeypatch.setattr(store, "write_on", write_on)
    assert_recorded_alone_then_projected(ledger, store, read_side, seeded)


@postgres_only
@pytest.mark.parametrize("failing", [
    ["SELECT 1 / 0"],  # a data error
    # an integrity error (eventsourcing's IntegrityError is a RecordConflictError,
    # which must not pass for the events' own conflict)
    ["CREATE TEMP TABLE inline_probe (a int PRIMARY KEY)",
     "INSERT INTO inline_probe VALUES (1), (1)"],
], ids=["data-error", "integrity-error"])
def test_a_read_side_statement_failing_at_commit_records_the_events_alone(
    ledger: Ledger, store: ReadStore, read_side: ReadSide, seeded: InlineProjection,
    monkeypatch: pytest.MonkeyPatch, failing: list[str],
) -> None:
    real = inline_module._Hook._after
    calls = {"n": 0}

    def then_fail(self: Any, curs: Any, ids: Any) -> None:
        calls["n"] += 1
        real(self, curs, ids)
        if calls["n"] == 1:
            assert self.writes is not None  # the rows were queued in the transaction
            # Statements that fail only when the pipeline syncs, at COMMIT:
            # the transaction (events and rows) rolls back.
            for statement in failing:
                curs.execute(statement)

    monkeypatch.setattr(inline_module._Hook, "_after", then_fail)
    assert_recorded_alone_then_projected(ledger, store, read_side, seeded)


@postgres_only
def test_a_failed_save_keeps_nothing_and_moves_no_position(
    ledger: Ledger, store: ReadStore, read_side: ReadSide, seeded: InlineProjection,
) -> None:
    """A save that fails on its own (the events' conflict) after the hooks
    queued their reads: no event, no row, no position; the next saves project."""
    opened = ledger.open_ticket(title="inline once", actor=ACTOR).result()
    position = read_side.live_position()
    assert position >= opened.position
    ticket = ledger.get_ticket(opened.aggregate_id)
    ticket.close(reason="stale copy", actor=ACTOR)
    ledger.close_ticket(opened.aggregate_id, reason="first", actor=ACTOR).result()
    position = read_side.live_position()
    with pytest.raises(RecordConflictError):
        ledger.save(ticket)  # version 2 exists already
    assert read_side.live_position() == position
    assert ledger.head() == position
    assert seeded.failed == 0
    done = story(ledger, "chen.w")
    assert read_side.wait_for(done[-1].position, 5)
    assert snapshot(store) == rebuilt(read_side, store)


@postgres_only
def test_the_runner_catches_up_while_inline_saves_keep_coming(
    ledger: Ledger, store: ReadStore, read_side: ReadSide, seeded: InlineProjection,
    database_url: str,
) -> None:
    """Under a steady stream of saves, events the runner must project (here:
    recorded by another process) are projected within moments: the saves, which
    stand aside while the read tables are behind, must not keep the runner from
    its lock (after a database outage, every save stands aside until it has)."""
    stop = threading.Event()
    errors: list[BaseException] = []

    def keep_saving() -> None:
        while not stop.is_set():
            try:
                ledger.open_ticket(title="inline steady", actor=ACTOR).result()
            except BaseException as e:  # noqa: BLE001 - reported below
                errors.append(e)
                return

    threads = [threading.Thread(target=keep_saving) for _ in range(6)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.3)
        other = Ledger(database_url)
        try:
            theirs = other.open_ticket(title="inline from elsewhere", actor=ACTOR).result()
        finally:
            other.close()
        caught_up = read_side.wait_for(theirs.position, 10)
        lag_while_saving = ledger.head() - read_side.live_position()
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert errors == []
    assert caught_up, "the runner never got its turn"
    assert lag_while_saving < 1000
    assert read_side.wait_for(ledger.head(), 10)
    assert snapshot(store) == rebuilt(read_side, store)


@pytest.fixture
def follower(database_url: str, read_side: ReadSide) -> Iterator[tuple[Ledger, ReadSide]]:
    """A second serving process on the same store (``uvicorn --workers 2``): its
    runner follows, its saves project inline all the same."""
    from projections.backend import build_store

    app = Ledger(database_url)
    store = build_store(app.store, pool_size=4)
    rs = ReadSide(app, store, poll_interval=0.2)
    rs.setup()
    rs.start()
    try:
        assert not rs.leading
        yield app, rs
    finally:
        rs.stop()
        store.close()
        app.close()


@postgres_only
def test_every_process_projects_its_own_saves(
    ledger: Ledger, store: ReadStore, read_side: ReadSide,
    follower: tuple[Ledger, ReadSide],
) -> None:
    """Two processes saving side by side: each one's commands are readable as they
    return (from its own positions, without waiting on the other's runner), and
    the tables equal a rebuild."""
    other, other_rs = follower
    seed_demo(ledger, tickets=3)
    assert read_side.wait_for(ledger.head(), 5)
    mine, theirs = inline_of(ledger), inline_of(other)
    readable: list[bool] = []
    errors: list[BaseException] = []
    engineers = ["aisha.k", "maria.g", "pieter.v", "chen.w"]

    def run(app: Ledger, rs: ReadSide, i: int) -> None:
        try:
            for _ in range(3):
                done = story(app, engineers[i % len(engineers)])
                readable.append(rs.live_position() >= done[-1].position)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(app, rs, i))
               for i in range(4) for app, rs in ((ledger, read_side), (other, other_rs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert len(readable) == 8 * 3
    assert sum(readable) >= 0.75 * len(readable), readable
    assert mine.projected > 0 and theirs.projected > 0
    assert mine.failed == theirs.failed == 0  # their writes never collided
    # The follower's runner never wrote: its saves' rows came from its own
    # transactions (deferred ones, if any, were projected by the leader).
    assert read_side.wait_for(ledger.head(), 5)
    assert read_side.last_error is None and other_rs.last_error is None
    closed = store.select("SELECT count(*) AS n FROM tickets WHERE status = 'closed' "
                          "AND title LIKE 'inline %%'")
    assert closed == [{"n": 24}]
    assert snapshot(store) == rebuilt(read_side, store)


@postgres_only
def test_a_follower_leaves_engineer_changes_to_the_leaders_runner(
    ledger: Ledger, store: ReadStore, read_side: ReadSide,
    follower: tuple[Ledger, ReadSide],
) -> None:
    """The leader answers 'is this engineer active?' from memory, learning of
    changes from what its runner folds: a follower's Engineer events must reach
    that runner, not be projected behind its back."""
    from ledger.errors import InvalidReferenceError

    other, other_rs = follower
    seed_demo(ledger, tickets=3)
    assert read_side.wait_for(ledger.head(), 5)
    first = ledger.open_ticket(title="inline cached", actor=ACTOR).result()
    ledger.assign(first.aggregate_id, engineer_id="chen.w", tier=1, actor=ACTOR).result()  # cached
    theirs = inline_of(other)
    deferred = theirs.deferred
    changed = other.update_engineer("chen.w", changes={"active": False}, actor=ACTOR).result()
    assert changed is not None
    assert theirs.deferred == deferred + 1
    assert read_side.wait_for(changed.position, 5)
    second = ledger.open_ticket(title="inline after", actor=ACTOR).result()
    with pytest.raises(InvalidReferenceError):
        ledger.assign(second.aggregate_id, engineer_id="chen.w", tier=1, actor=ACTOR).result()
    # The follower projects its ticket saves again once the runner has caught up.
    projected = theirs.projected
    done = story(other, "maria.g")
    assert theirs.projected > projected
    assert other_rs.live_position() >= done[-1].position
    assert snapshot(store) == rebuilt(read_side, store)
