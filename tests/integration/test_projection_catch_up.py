"""The read side on a real store (SQLite and PostgreSQL): catch-up and positions.

The central property: however the events are paged or replayed, the public read
tables end up identical, row for row, value for value and type for type.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from ledger.application import Ledger
from projections.engineers import EngineersProjection
from projections.registry import ALL_PROJECTIONS
from projections.runner import ReadSide
from projections.store import LIVE, ReadStore

from projection_checks import (
    ACTOR,
    assert_looks_realistic,
    assert_same,
    expected_history_rows,
    live_entry,
    seed,
    snapshot,
    table_exists,
)

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


