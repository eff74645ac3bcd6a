"""Unit tests of the page engine (``run_pages``) against the pure folds, and a
property test: the folded counts and current rows match the aggregates for any
command sequence.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from typing import Any, NamedTuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.domain import (
    ACTIVE_STATUSES,
    Ticket,
)
from projections import pages
from projections.assignments import (
    AssignmentHistoryProjection,
)
from projections.base import Key
from projections.pages import RowCache, Slot, run_pages
from projections.registry import ALL_PROJECTIONS
from projections.store import CatalogEntry, PageWrite
from projections.tables import Table

from fold_harness import CURRENT, ENGINEER_IDS, Harness, busy_story, command_strategy, run_commands

class _MemoryStore:
    """The ``ReadStore`` methods ``run_pages`` uses, in memory."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[Key, dict[str, Any]]] = {}
        self.positions: dict[str, int] = {}
        self.loads = 0

    def load_many(
        self, requests: Sequence[tuple[CatalogEntry, Table, Sequence[Key]]]
    ) -> list[dict[Key, Any]]:
        self.loads += 1
        found = []
        for _entry, table, keys in requests:
            stored = self.tables.setdefault(table.name, {})
            found.append({k: copy.deepcopy(stored[k]) for k in keys if k in stored})
        return found

    def position(self, entry: CatalogEntry) -> int:
        return self.positions.get(entry.tracking_name, 0)

    def write(self, writes: Iterable[PageWrite]) -> None:
        for w in writes:
            for table in w.projection.tables:
                upserts, deletes = w.rows.changes(table)
                stored = self.tables.setdefault(table.name, {})
                for row in upserts:
                    stored[table.key_of(row)] = copy.deepcopy(row)
                for key in deletes:
                    stored.pop(key, None)
            self.positions[w.entry.tracking_name] = w.position


class _Stored(NamedTuple):
    id: int
    event: Any


class _MemoryLog:
    """The parts of a ``Ledger`` ``run_pages`` reads: its notification log (here,
    the events themselves) and its mapper."""

    def __init__(self, events: Sequence[Any]) -> None:
        self.log = [_Stored(position, e) for position, e in enumerate(events, 1)]
        self.recorder = self.mapper = self

    def select_notifications(
        self, start: int, limit: int, stop: int | None = None, topics: Sequence[str] = (),
        *, inclusive_of_start: bool = True,
    ) -> list[_Stored]:
        assert not topics and not inclusive_of_start
        return [n for n in self.log if start < n.id <= (stop or n.id)][:limit]

    def max_notification_id(self) -> int:
        return len(self.log)

    def to_domain_event(self, stored: _Stored) -> Any:
        return stored.event


class _LateWriter:
    """A page writer that writes a page only when its outcome is asked for: the
    slowest schedule ``run_pages`` allows (the next page is read and folded
    before the last one is in the store), made deterministic."""

    def __init__(self, *_args: Any, **_kwargs: Any) -> None:
        pass

    def submit(self, fn: Callable[..., None], *args: Any) -> Future[None]:
        future: Future[None] = Future()
        result = future.result

        def write_then_result(timeout: float | None = None) -> None:
            if not future.done():
                try:
                    future.set_result(fn(*args))
                except BaseException as e:  # noqa: BLE001 - handed to the caller
                    future.set_exception(e)
            return result(timeout)

        future.result = write_then_result  # type: ignore[method-assign]
        return future

    def shutdown(self, wait: bool = True) -> None:
        pass


@pytest.mark.parametrize("late_writes", [False, True])
@pytest.mark.parametrize("page_size", [1, 4, 7, 1000])
def test_run_pages_matches_the_pure_folds(
    page_size: int, late_writes: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``run_pages`` -- the loop of the live runner and of rebuilds: a tiny row
    cache, the next full page folded while the last one is written -- gives the
    same rows as the harness, whatever the page size and however the writes are
    scheduled; every slot ends at the last position."""
    if late_writes:
        monkeypatch.setattr(pages, "ThreadPoolExecutor", _LateWriter)
    story = busy_story()
    expected = Harness().follow(story).snapshot()
    store = _MemoryStore()
    slots = [
        Slot(CatalogEntry(cls.name, cls.version, 1, "live", "x"), cls(), 0, RowCache(maxsize=1))
        for cls in ALL_PROJECTIONS
    ]
    log = _MemoryLog(story.events)
    read = run_pages(log, store, slots, page_size=page_size)  # type: ignore[arg-type]
    assert read == len(story.events)
    assert {name: store.tables.get(name, {}) for name in expected} == expected
    assert {s.position for s in slots} == {len(story.events)}
    assert set(store.positions.values()) == {len(story.events)}



@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(commands=st.lists(command_strategy, max_size=40), page_size=st.integers(1, 9))
def test_property_counts_and_current_rows_match_the_aggregates(
    commands: list[tuple[str, int, int, str, bool]], page_size: int
) -> None:
    story, tickets = run_commands(commands)
    h = Harness().follow(story, page_size=page_size)

    active_per_engineer = dict.fromkeys(ENGINEER_IDS, 0)
    for t in tickets:
        for a in t.assignments.values():
            if a.status in ACTIVE_STATUSES:
                active_per_engineer[a.engineer_id] += 1
    assert h.open_assignments() == active_per_engineer

    current = {r["ticket_id"]: r for r in h.rows(CURRENT)}
    with_active = {str(t.id): t.active_assignment for t in tickets if t.active_assignment}
    assert set(current) == set(with_active)
    for ticket_id, a in with_active.items():
        row = current[ticket_id]
        assert (row["engineer_id"], row["assignment_sequence"], row["assignment_tier"],
                row["status"]) == (a.engineer_id, a.sequence, a.tier, a.status)

    # And the other tables agree with the aggregates too.
    for t in tickets:
        row = h.ticket(t)
        assert (row["status"], row["version"], row["assignment_count"]) == (
            t.status, t.version, len(t.assignments))
        assert row["current_assignment_id"] == (str(t.active_id) if t.active_id else None)
        for a in t.assignments.values():
            assert h.assignment(a.id)["status"] == a.status
    expected_history = sum(
        2 if type(e) in (Ticket.Escalated, Ticket.Reassigned) else 1
        for e in story.events
        if type(e) in AssignmentHistoryProjection().event_types
    )
    assert len(h.history()) == expected_history
    for _table, _column, value in h.all_timestamps():
        assert value in h.event_times
