"""Batched lookups: keys that queue up together are read with one fetch; each
caller gets its own row, None, or what the fetch raised (no database: the fetch
is a stand-in that records what it was asked)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import pytest

from projections.lookup import BatchedLookup

WAIT = 10


class Fetch:
    """Stands in for ``ReadQueries.assignments_by_id``: rows for keys that start
    with "row"; the first call waits for ``go`` once ``started`` is set."""

    def __init__(self, fail: BaseException | None = None) -> None:
        self.calls: list[list[str]] = []
        self.started = threading.Event()
        self.go = threading.Event()
        self.fail = fail
        self.threads: list[str] = []

    def __call__(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        self.calls.append(list(keys))
        self.threads.append(threading.current_thread().name)
        if len(self.calls) == 1:
            self.started.set()
            assert self.go.wait(WAIT)
        if self.fail is not None:
            raise self.fail
        return {k: {"id": k} for k in keys if k.startswith("row")}


def test_keys_queued_together_are_read_in_one_fetch() -> None:
    fetch = Fetch()
    lookup = BatchedLookup(fetch, name="test-lookups")
    try:
        first = lookup.submit("row-0")
        assert fetch.started.wait(WAIT)  # the thread is busy with the first key
        queued = [lookup.submit(k) for k in ("row-2", "missing", "row-1", "row-2")]
        fetch.go.set()
        assert first.result(WAIT) == {"id": "row-0"}
        results = [f.result(WAIT) for f in queued]
    finally:
        lookup.close()
    assert results == [{"id": "row-2"}, None, {"id": "row-1"}, {"id": "row-2"}]
    # The four queued requests: one fetch, each key once.
    assert fetch.calls == [["row-0"], ["missing", "row-1", "row-2"]]
    assert fetch.threads == ["test-lookups", "test-lookups"]
    assert (lookup.queries, lookup.keys) == (2, 5)


def test_a_batch_is_at_most_max_keys() -> None:
    fetch = Fetch()
    lookup = BatchedLookup(fetch, name="test-lookups", max_keys=2)
    try:
        first = lookup.submit("row-a")
        assert fetch.started.wait(WAIT)
        queued = [lookup.submit(f"row-{i}") for i in range(5)]
        fetch.go.set()
        first.result(WAIT)
        assert [f.result(WAIT) for f in queued] == [{"id": f"row-{i}"} for i in range(5)]
    finally:
        lookup.close()
    assert [len(c) for c in fetch.calls] == [1, 2, 2, 1]


def test_a_failed_fetch_fails_every_caller_of_its_batch_and_the_thread_goes_on() -> None:
    fetch = Fetch(fail=RuntimeError("store unreachable"))
    lookup = BatchedLookup(fetch, name="test-lookups")
    try:
        first = lookup.submit("row-0")
        assert fetch.started.wait(WAIT)
        queued = [lookup.submit(k) for k in ("row-1", "row-2")]
        fetch.go.set()
        for future in (first, *queued):
            with pytest.raises(RuntimeError, match="store unreachable"):
                future.result(WAIT)
        fetch.fail = None
        assert lookup.submit("row-3").result(WAIT) == {"id": "row-3"}
    finally:
        lookup.close()
    assert lookup.queries == 1  # only the successful one


def test_after_close_the_caller_reads_on_its_own_thread() -> None:
    fetch = Fetch()
    fetch.go.set()
    lookup = BatchedLookup(fetch, name="test-lookups")
    assert lookup.submit("row-0").result(WAIT) == {"id": "row-0"}
    lookup.close()
    assert lookup.submit("row-9").result(WAIT) == {"id": "row-9"}
    assert lookup.submit("nothing").result(WAIT) is None
    assert fetch.threads == ["test-lookups", "MainThread", "MainThread"]
