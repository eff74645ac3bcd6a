"""The read side on a real store (SQLite and PostgreSQL): crash recovery, rebuilds,
read-your-writes with the background runner, and two read sides on one store.

The central property: however the events are interrupted or replayed, the public
read tables end up identical, row for row, value for value and type for type.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from uuid import UUID, uuid4

import pytest

from api.demo import seed_demo
from ledger.application import CommandResult, Ledger
from projections import bulk
from projections.assignments import EngineerAssignmentsProjection
from projections.engineers import EngineersProjection
from projections.registry import ALL_PROJECTIONS
from projections.runner import ReadSide
from projections.store import BUILDING, LIVE, RETIRED, ReadStore
from projections.tables import physical_name

from projection_checks import (
    ACTOR,
    PUBLIC,
    PUBLIC_PROJECTIONS,
    assert_same,
    count,
    entries,
    expected_history_rows,
    live_entry,
    seed,
    snapshot,
    table_exists,
)

# ===================================================================== crash recovery


class SimulatedCrash(RuntimeError):
    pass


def _bad_row(table: Any) -> dict[str, Any]:
    """A row the database refuses (NULL in NOT NULL columns), with a valid key."""
    row: dict[str, Any] = dict.fromkeys(table.column_names)
    for key in table.key:
        row[key] = {"uuid": str(uuid4()), "int": -1}.get(table.types[key], "bad-row")
    return row


def _crash_on_page(
    monkeypatch: pytest.MonkeyPatch, store: ReadStore, page: int, mode: str
) -> None:
    """Makes the ``page``-th page write fail.

    before: raises before anything is written; inside: the database refuses a row
    of the last projection in the page, after the other projections' rows went
    into the same transaction (so it must roll back); after: the write commits,
    then the caller sees an error (an ambiguous commit).
    """
    calls = {"n": 0}
    original = store.write

    def failing_write(writes: Any) -> None:
        calls["n"] += 1
        if calls["n"] != page:
            original(writes)
            return
        if mode == "inside":
            last = writes[-1]
            table = last.projection.tables[0]
            last.rows.put(table, _bad_row(table))
            try:
                original(writes)
            except Exception as e:
                raise SimulatedCrash(f"simulated crash (inside): {e}") from e
            raise AssertionError("the database accepted a row with NULL in NOT NULL columns")
        if mode == "after":
            original(writes)
        raise SimulatedCrash(f"simulated crash ({mode})")

    monkeypatch.setattr(store, "write", failing_write)


@pytest.mark.parametrize("mode", ["before", "inside", "after"])
def test_crash_during_catch_up_resumes_exactly_once(
    ledger: Ledger, store: ReadStore, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    head = seed(ledger, tickets=20)
    page, k = 9, 4
    crashing = ReadSide(ledger, store, page_size=page)
    crashing.setup()
    _crash_on_page(monkeypatch, store, k, mode)
    with pytest.raises(SimulatedCrash):
        crashing.catch_up()
    monkeypatch.undo()

    committed = page * k if mode == "after" else page * (k - 1)
    for s in crashing.status():
        assert s["position"] == committed, s  # all projections move together
    assert count(store, "assignment_history") < expected_history_rows(ledger)

    # The process restarts: a fresh read side picks up at the stored position.
    restarted = ReadSide(ledger, store, page_size=page)
    restarted.setup()
    assert restarted.live_position() == committed
    assert restarted.catch_up() == head - committed
    recovered = snapshot(store)
    assert len(recovered["assignment_history"]) == expected_history_rows(ledger)
    ids = [dict((k, v) for k, _t, v in r)["id"] for r in recovered["assignment_history"]]
    assert len(ids) == len(set(ids))

    ReadSide(ledger, store).rebuild()  # a clean build from scratch
    assert_same(snapshot(store), recovered)


@pytest.mark.parametrize("mode", [
    "before",
    "inside",
    "after",
])
def test_same_read_side_retries_after_a_failed_page(
    ledger: Ledger, store: ReadStore, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    """A page that failed is simply retried by the same runner (its row cache is
    dropped, so nothing half-written is remembered), also once new events arrived."""
    seed(ledger, tickets=12)
    rs = ReadSide(ledger, store, page_size=6)
    rs.setup()
    _crash_on_page(monkeypatch, store, 3, mode)
    with pytest.raises(SimulatedCrash):
        rs.catch_up()
    monkeypatch.undo()
    ledger.open_ticket(title="arrives after the failure", actor=ACTOR).result()
    rs.catch_up()
    retried = snapshot(store)
    assert len(retried["assignment_history"]) == expected_history_rows(ledger)
    ReadSide(ledger, store).rebuild()
    assert_same(snapshot(store), retried)


# ===================================================================== rebuilds


def test_rebuild_one_projection_switches_only_that_one(
    ledger: Ledger, store: ReadStore, read_side: ReadSide
) -> None:
    seed(ledger, tickets=10)
    read_side.catch_up()
    before = snapshot(store)
    catalog = {e.name: e for e in store.catalog()}
    assert {e.generation for e in catalog.values()} == {1}

    (entry,) = read_side.rebuild(["engineers"])
    assert (entry.name, entry.generation) == ("engineers", 2)
    after = {(e.name, e.generation): e for e in store.catalog()}
    assert after[("engineers", 1)].state == RETIRED
    assert after[("engineers", 2)].state == LIVE
    for name, old in catalog.items():
        if name != "engineers":
            assert after[(name, 1)] == old  # untouched, same switched_at
            assert (name, 2) not in after
    version = EngineersProjection.version
    assert not table_exists(store, physical_name("engineers", version, 1))  # dropped
    assert table_exists(store, physical_name("engineers", version, 2))
    assert_same(snapshot(store), before)

    # keep=True: the old physical tables stay (for comparison or rollback).
    (entry,) = read_side.rebuild(["engineer_assignments"], keep=True)
    assert entry.generation == 2
    assignments_version = EngineerAssignmentsProjection.version
    assert table_exists(store, physical_name("engineer_assignments", assignments_version, 1))
    assert table_exists(store, physical_name("engineer_assignments", assignments_version, 2))
    assert live_entry(store, "engineer_assignments").generation == 2
    assert live_entry(store, "tickets").generation == 1
    assert_same(snapshot(store), before)

    # The live runner now maintains the new builds.
    r = ledger.open_ticket(title="after the switch", actor=ACTOR).result()
    a = ledger.assign(r.aggregate_id, engineer_id="chen.w", tier=3, actor=ACTOR).result()
    assert read_side.wait_for(a.position, 2)
    assert store.select("SELECT status FROM engineer_assignments WHERE id = %s",
                        [str(a.assignment_id)]) == [{"status": "assigned"}]
    retired = physical_name("engineer_assignments", assignments_version, 1)
    kept = store.select(f"SELECT id FROM {retired} WHERE id = %s", [str(a.assignment_id)])
    assert kept == []  # the retired copy is frozen
    for s in read_side.status():
        assert s["lag"] == 0
        assert s["generation"] == (2 if s["name"] in ("engineers", "engineer_assignments") else 1)

    with pytest.raises(KeyError, match="nope"):
        read_side.rebuild(["nope"])


def test_interrupted_rebuild_keeps_serving_and_resumes(
    ledger: Ledger, store: ReadStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bulk, "FLUSH_PAGES", 1)  # a new build writes every page
    rs = ReadSide(ledger, store, page_size=7)
    rs.setup()
    seed(ledger, tickets=10)
    rs.catch_up()
    live = snapshot(store)

    head = ledger.head()
    seen: list[int] = []
    entries_built = rs.rebuild(progress=lambda position, _head: seen.append(position),
                               should_stop=lambda: len(seen) >= 2)  # after the first page
    # It stops after the first page (or the page already being written then).
    assert seen[:2] == [0, 7]
    stopped = seen[-1]
    assert stopped in (7, 14) and stopped < head
    assert {(e.generation, e.state) for e in entries_built} == {(2, BUILDING)}
    for name in PUBLIC_PROJECTIONS:
        assert {(e.generation, e.state) for e in entries(store, name)} == {
            (1, LIVE), (2, BUILDING)}
    building = [s for s in rs.status() if s["state"] == BUILDING]
    assert {(s["status"], s["position"]) for s in building} == {("building", stopped)}
    assert_same(snapshot(store), live)  # the public views still show the live build

    # The live build keeps following the ledger meanwhile.
    extra = ledger.open_ticket(title="during the rebuild", actor=ACTOR).result()
    assert rs.wait_for(extra.position, 2)
    live = snapshot(store)
    assert str(extra.aggregate_id) in {
        str(dict((k, v) for k, _t, v in r)["id"]) for r in live["tickets"]}

    seen.clear()
    switched = rs.rebuild(progress=lambda position, _head: seen.append(position))
    assert seen[0] == stopped  # resumed, not restarted
    assert {(e.generation, e.version) for e in switched} == {
        (2, cls.version) for cls in ALL_PROJECTIONS}
    for name in PUBLIC_PROJECTIONS:
        assert {(e.generation, e.state) for e in entries(store, name)} == {
            (1, RETIRED), (2, LIVE)}
    table_versions = {t.name: c.version for c in ALL_PROJECTIONS for t in c.tables}
    for name in PUBLIC:
        assert not table_exists(store, physical_name(name, table_versions[name], 1))
    assert_same(snapshot(store), live)
    assert {s["lag"] for s in rs.status()} == {0}


def test_rows_do_not_depend_on_the_row_cache_size(
    ledger: Ledger, store: ReadStore, read_side: ReadSide, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The row cache is an optimisation: a tiny cache (rows evicted between pages)
    must still give the same rows from a real store. (However page writes are
    scheduled: tests/unit/test_folds_pages.py, ``test_run_pages_matches_the_pure_folds``.)"""
    seed(ledger, tickets=15)
    read_side.catch_up()
    expected = snapshot(store)

    from projections import pages

    monkeypatch.setattr(pages.RowCache.__init__, "__defaults__", (3,))
    ReadSide(ledger, store, page_size=7).rebuild()
    monkeypatch.undo()
    assert_same(snapshot(store), expected)


@pytest.mark.parametrize(("flush_pages", "filter_bits"), [(1, 1 << 23), (3, 8)])
def test_bulk_rebuild_reads_back_the_rows_it_dropped(
    ledger: Ledger, store: ReadStore, read_side: ReadSide, monkeypatch: pytest.MonkeyPatch,
    flush_pages: int, filter_bits: int,
) -> None:
    """A new build keeps only a few rows per table in memory (here 2): the rows
    it drops are read back from its tables when a later event needs them, and
    the tables end as the live runner folded them. An 8-bit filter of dropped
    keys says "maybe" to nearly every key: reads that find nothing change nothing."""
    seed(ledger, tickets=15)
    read_side.catch_up()
    expected = snapshot(store)

    monkeypatch.setattr(bulk, "TABLE_ROWS", 2)
    monkeypatch.setattr(bulk, "FLUSH_PAGES", flush_pages)
    monkeypatch.setattr(bulk, "FILTER_BITS", filter_bits)
    monkeypatch.setattr(bulk, "_MASK", filter_bits - 1)
    reads: list[str] = []
    load = store.load
    monkeypatch.setattr(store, "load", lambda entry, table, keys: (
        reads.append(table.name), load(entry, table, keys))[1])
    ReadSide(ledger, store, page_size=7).rebuild()
    monkeypatch.undo()
    assert reads  # rows were dropped, then read back
    assert_same(snapshot(store), expected)


# ===================================================================== live runner


def test_read_your_writes_with_the_background_runner(
    ledger: Ledger, store: ReadStore, read_side: ReadSide
) -> None:
    seed_demo(ledger, tickets=3)
    read_side.catch_up()
    read_side.start()
    try:
        waits: list[float] = []

        def command(run: Callable[[], CommandResult]) -> CommandResult:
            result = run()
            started = time.monotonic()
            assert read_side.wait_for(result.position, 2) is True
            waits.append(time.monotonic() - started)
            return result

        t = command(lambda: ledger.open_ticket(title="live", actor=ACTOR).result()).aggregate_id
        a = command(lambda: ledger.assign(t, engineer_id="aisha.k", tier=1, actor=ACTOR).result())
        assert store.select("SELECT engineer_id, status FROM current_ticket_assignments "
                            "WHERE ticket_id = %s", [str(t)]) == [
            {"engineer_id": "aisha.k", "status": "assigned"}]
        aid: UUID = a.assignment_id  # type: ignore[assignment]
        command(lambda: ledger.accept(t, aid, actor="aisha.k").result())
        command(lambda: ledger.start(t, aid, actor="aisha.k").result())
        b = command(lambda: ledger.escalate(t, next_engineer_id="sipho.d", reason="up",
                                            actor=ACTOR).result())
        assert store.select("SELECT engineer_id FROM current_ticket_assignments "
                            "WHERE ticket_id = %s", [str(t)]) == [{"engineer_id": "sipho.d"}]
        bid: UUID = b.assignment_id  # type: ignore[assignment]
        command(lambda: ledger.accept(t, bid, actor="sipho.d").result())
        command(lambda: ledger.complete(t, bid, actor="sipho.d", completion_status="success",
                                        time_spent_hours=1.0).result())
        assert store.select("SELECT status FROM tickets WHERE id = %s", [str(t)]) == [
            {"status": "resolved"}]
        assert store.select("SELECT ticket_id FROM current_ticket_assignments "
                            "WHERE ticket_id = %s", [str(t)]) == []
        assert max(waits) < 0.5, waits
        assert read_side.last_error is None
    finally:
        read_side.stop()
    assert read_side._thread is None


# ===================================================================== two writers


def test_two_read_sides_on_one_store_do_not_double_count(ledger: Ledger, store: ReadStore) -> None:
    server = ReadSide(ledger, store)
    server.setup()
    cli = ReadSide(ledger, store)  # e.g. `ledger demo` run while the API is up
    cli.setup()
    seed_demo(ledger, tickets=4)
    server.catch_up()
    seed_demo(ledger, tickets=8, seed=11)
    cli.catch_up()  # the other process catches up first ...
    try:
        server.catch_up()  # ... so this one's page is refused (or silently re-applied)
    except Exception:  # noqa: BLE001 - the background runner would retry
        pass
    ledger.open_ticket(title="one more", actor=ACTOR).result()
    server.catch_up()
    served = snapshot(store)
    ReadSide(ledger, store).rebuild()
    assert_same(served, snapshot(store))
