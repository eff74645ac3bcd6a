"""The read side on a real store (SQLite and PostgreSQL): catch-up, rebuilds,
positions, crash recovery and read-your-writes.

The central property: however the events are paged, interrupted or replayed,
the public read tables end up identical, row for row, value for value and
type for type.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from uuid import UUID, uuid4

import pytest

from api.demo import seed_demo
from ledger.application import CommandResult, Ledger
from ledger.domain import Ticket
from projections import bulk
from projections.assignments import EngineerAssignmentsProjection
from projections.engineers import EngineersProjection
from projections.registry import ALL_PROJECTIONS
from projections.runner import ReadSide
from projections.store import BUILDING, LIVE, RETIRED, CatalogEntry, ReadStore
from projections.tables import physical_name

#: The public read tables and the key each is ordered by.
PUBLIC = {
    "tickets": "id",
    "engineer_assignments": "id",
    "current_ticket_assignments": "ticket_id",
    "assignment_history": "id",
    "engineers": "id",
    "assignment_intervals": "assignment_id",
    "ticket_metrics": "ticket_id",
    "completions": "assignment_id",
    "sla_tickets": "ticket_id",
    "sla_clocks": "assignment_id",
}
#: The projections that own those tables (a projection may own several).
PUBLIC_PROJECTIONS = sorted(
    {cls.name for cls in ALL_PROJECTIONS for t in cls.tables if t.name in PUBLIC})
ACTOR = "it-dispatcher"

Snapshot = dict[str, list[tuple[tuple[str, str, Any], ...]]]


# --------------------------------------------------------------------- helpers


def snapshot(store: ReadStore) -> Snapshot:
    """Every public table, ordered by key, each value with its Python type."""
    out: Snapshot = {}
    for table, key in PUBLIC.items():
        rows = store.select(f"SELECT * FROM {table} ORDER BY {key}")
        out[table] = [tuple((k, type(v).__name__, v) for k, v in row.items()) for row in rows]
    return out


def assert_same(actual: Snapshot, expected: Snapshot) -> None:
    for table in PUBLIC:
        assert len(actual[table]) == len(expected[table]), table
        for a, e in zip(actual[table], expected[table], strict=True):
            assert a == e, table
    assert actual == expected


def table_exists(store: ReadStore, name: str) -> bool:
    if store.placeholder == "?":
        sql = "SELECT name FROM sqlite_master WHERE type = 'table' AND name = %s"
    else:
        sql = "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename = %s"
    return bool(store.select(sql, [name]))


def all_events(ledger: Ledger) -> list[Any]:
    notifications = ledger.recorder.select_notifications(start=1, limit=1_000_000)
    return [ledger.mapper.to_domain_event(n) for n in notifications]


def expected_history_rows(ledger: Ledger) -> int:
    """One row per assignment change; escalate/reassign also create the new one."""
    count = 0
    for e in all_events(ledger):
        if isinstance(e, Ticket.Escalated | Ticket.Reassigned):
            count += 2
        elif isinstance(e, Ticket.Assigned | Ticket.Accepted | Ticket.Rejected | Ticket.Started
                        | Ticket.Completed | Ticket.Removed):
            count += 1
    return count


def count(store: ReadStore, table: str) -> int:
    return len(store.select(f"SELECT {PUBLIC[table]} FROM {table}"))


def entries(store: ReadStore, name: str) -> list[CatalogEntry]:
    return [e for e in store.catalog() if e.name == name]


def live_entry(store: ReadStore, name: str) -> CatalogEntry:
    (entry,) = [e for e in entries(store, name) if e.state == LIVE]
    return entry


def drive_mix(ledger: Ledger) -> list[CommandResult]:
    """Commands the demo does not make: updates, deactivation, failed and
    escalated-from-assigned outcomes, removals, close/reopen, reject."""
    results = [
        ledger.register_engineer(engineer_id="zoe.q", name="Zoe Q", skills=["fibre"], tier=1,
                                 capacity=3, availability=0.5, actor=ACTOR).result(),
    ]
    upd = ledger.update_engineer("thandi.n", changes={"capacity": 9, "skills": ["fibre", "otdr"]},
                                 actor=ACTOR).result()
    assert upd is not None
    results.append(upd)
    t1 = ledger.open_ticket(title="Mixed story", actor=ACTOR, priority="low",
                            equipment_id="EQ-1", reference="MIX-1").result()
    results.append(t1)
    t = t1.aggregate_id
    r = ledger.assign(t, engineer_id="zoe.q", tier=1, reason="first", assignment_type="auto",
                      actor=ACTOR).result()
    results.append(r)
    r = ledger.escalate(t, next_engineer_id="sipho.d", reason="straight to L2", actor=ACTOR).result()
    results.append(r)
    r = ledger.reassign(t, r.assignment_id, new_engineer_id="maria.g", reason="swap",
                        actor=ACTOR).result()
    results.append(r)
    a = r.assignment_id
    results.append(ledger.accept(t, a, actor="maria.g").result())
    results.append(ledger.start(t, a, actor="maria.g").result())
    results.append(ledger.complete(
        t, a, actor="maria.g", completion_status="failed", time_spent_hours=1.25,
        diagnosis="Could not reach cabinet", parts_used=[
            {"part_number": "C-1", "part_name": "Connector", "quantity": 3, "cost": 1.5}]).result())
    r = ledger.assign(t, engineer_id="chen.w", tier=3, tier_name="Core", actor=ACTOR).result()
    results.append(r)
    results.append(ledger.accept(t, r.assignment_id, actor="chen.w").result())
    results.append(ledger.complete(
        t, r.assignment_id, actor="chen.w", completion_status="success", time_spent_hours=6.5,
        actions_taken="Swapped card", customer_rating=4, customer_feedback="Thanks").result())
    results.append(ledger.close_ticket(t, reason="done", actor=ACTOR).result())
    results.append(ledger.reopen_ticket(t, reason="came back", actor=ACTOR).result())
    r = ledger.assign(t, engineer_id="zoe.q", tier=1, actor=ACTOR).result()
    results.append(r)
    results.append(ledger.reject(t, r.assignment_id, reason="not mine", actor="zoe.q").result())
    r = ledger.assign(t, engineer_id="zoe.q", tier=1, actor=ACTOR).result()
    results.append(r)
    results.append(ledger.remove(t, r.assignment_id, reason="dup", actor=ACTOR).result())
    deactivated = ledger.update_engineer("zoe.q", changes={"active": False}, actor=ACTOR).result()
    assert deactivated is not None
    results.append(deactivated)
    waiting = ledger.open_ticket(title="Left assigned", actor=ACTOR).result()
    results.append(waiting)
    results.append(ledger.assign(waiting.aggregate_id, engineer_id="pieter.v", tier=1,
                                 actor=ACTOR).result())
    return results


def seed(ledger: Ledger, tickets: int = 60) -> int:
    seed_demo(ledger, tickets=tickets)
    drive_mix(ledger)
    return ledger.head()


def assert_looks_realistic(snap: Snapshot) -> None:
    statuses = {dict((k, v) for k, _t, v in row)["status"] for row in snap["engineer_assignments"]}
    assert {"assigned", "accepted", "in_progress", "completed", "rejected", "escalated",
            "reassigned", "removed", "failed"} <= statuses
    for table in PUBLIC:
        assert snap[table], f"{table} is empty"


# ===================================================================== equivalence


def test_incremental_catch_up_equals_one_pass_and_rebuild(
    ledger: Ledger, store: ReadStore, read_side: ReadSide
) -> None:
    """Catching up after every single command gives the same tables as one pass over
    everything at the end (a rebuild), with big pages and with awkward small ones."""
    ledger.add_listener(lambda _position: read_side.catch_up())
    head = seed(ledger)
    assert read_side.live_position() == head  # the listener kept it up to date
    live = snapshot(store)
    assert_looks_realistic(live)
    assert len(live["assignment_history"]) == expected_history_rows(ledger)

    read_side.rebuild()  # one catch-up over everything, default pages
    assert_same(snapshot(store), live)

    ReadSide(ledger, store, page_size=7).rebuild()  # pages split mid-story
    assert_same(snapshot(store), live)
    assert {e.generation for e in store.catalog() if e.state == LIVE} == {3}


def test_catch_up_page_size_one_equals_5000(ledger: Ledger, store: ReadStore) -> None:
    tiny = ReadSide(ledger, store, page_size=1)
    tiny.setup()
    head = seed(ledger)
    assert tiny.catch_up() == head  # one event per page, one transaction each
    one_by_one = snapshot(store)
    assert_looks_realistic(one_by_one)

    ReadSide(ledger, store, page_size=5000).rebuild()
    assert_same(snapshot(store), one_by_one)


def test_a_second_read_side_resumes_from_the_stored_position(
    ledger: Ledger, store: ReadStore, read_side: ReadSide
) -> None:
    head = seed(ledger, tickets=10)
    read_side.catch_up()
    before = snapshot(store)
    catalog = store.catalog()

    again = ReadSide(ledger, store)
    again.setup()  # idempotent: no new builds
    assert store.catalog() == catalog
    assert again.live_position() == head
    assert again.catch_up() == 0  # nothing re-read, nothing re-folded
    assert_same(snapshot(store), before)


def test_the_first_pass_replays_with_a_relaxed_collector(
    ledger: Ledger, store: ReadStore, read_side: ReadSide, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What was recorded while the process was down is a bulk replay: the cyclic
    # collector runs far less often (docs/architecture.md, "Waking up"). Later
    # passes, a few events each, do not.
    import gc

    from projections import pages, runner

    head = seed(ledger, tickets=5)
    seen: list[tuple[int, ...]] = []
    real = runner.run_pages

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(gc.get_threshold())
        return real(*args, **kwargs)

    monkeypatch.setattr(runner, "run_pages", spy)
    usual = gc.get_threshold()
    read_side.start()
    assert read_side.wait_until_led(timeout=10)
    assert read_side.live_position() == head
    assert seen and seen[0] == pages.RELAXED_THRESHOLDS
    ledger.open_ticket(title="after the first pass", actor=ACTOR).result()
    read_side.catch_up()
    assert seen[-1] == usual
    assert gc.get_threshold() == usual


# ===================================================================== positions


def test_status_and_wait_for(ledger: Ledger, store: ReadStore, read_side: ReadSide) -> None:
    assert read_side.wait_for(0, 0.1) is True  # empty ledger
    head = seed(ledger, tickets=8)
    names = {cls.name for cls in ALL_PROJECTIONS}

    behind = read_side.status()
    assert {s["name"] for s in behind} == names
    for s in behind:
        assert (s["position"], s["head"], s["lag"], s["status"]) == (0, head, head, "catching_up")

    assert read_side.wait_for(head, 2) is True
    versions = {cls.name: cls.version for cls in ALL_PROJECTIONS}
    for s in read_side.status():
        assert (s["position"], s["head"], s["lag"], s["state"], s["status"], s["version"]) == (
            head, head, 0, "live", "live", versions[s["name"]])

    started = time.monotonic()
    assert read_side.wait_for(head + 3, 0.3) is False
    assert time.monotonic() - started >= 0.3

    result = ledger.open_ticket(title="after", actor=ACTOR).result()
    assert result.position == head + 1
    assert read_side.wait_for(result.position, 2) is True
    row = store.select("SELECT id, status FROM tickets WHERE id = %s",
                       [str(result.aggregate_id)])
    assert [str(r["id"]) for r in row] == [str(result.aggregate_id)]
    assert {s["lag"] for s in read_side.status()} == {0}


def test_status_reports_a_stale_version(ledger: Ledger, store: ReadStore, read_side: ReadSide) -> None:
    """New code with a new projection version: the live build is stale until rebuilt,
    and the rebuild makes ``<table>_v2``."""
    seed(ledger, tickets=6)
    read_side.catch_up()
    before = snapshot(store)

    old, new = EngineersProjection.version, EngineersProjection.version + 1

    class EngineersV2(EngineersProjection):
        version = new

    projections = [cls() for cls in ALL_PROJECTIONS if cls is not EngineersProjection]
    v2 = ReadSide(ledger, store, [*projections, EngineersV2()])
    v2.setup()
    assert v2.pending_builds == ["engineers"]
    by_name = {s["name"]: s for s in v2.status()}
    assert by_name["engineers"]["status"] == "stale_version"
    assert by_name["tickets"]["status"] == "live"

    (entry,) = v2.rebuild(["engineers"])
    assert (entry.name, entry.version, entry.generation) == ("engineers", new, 1)
    assert v2.pending_builds == []
    assert live_entry(store, "engineers").version == new
    assert table_exists(store, f"engineers_v{new}")
    assert not table_exists(store, f"engineers_v{old}")
    assert {s["status"] for s in v2.status()} == {"live"}
    assert_same(snapshot(store), before)


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
    scheduled: tests/unit/test_folds.py, ``test_run_pages_matches_the_pure_folds``.)"""
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
