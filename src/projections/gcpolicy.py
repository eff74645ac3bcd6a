"""The cyclic garbage collector's thresholds, raised by whoever needs it.

Two phases of a process want CPython's collector to run less often: serving
(``api.runtime.serving_gc``) and replaying many events (catch-up at start,
rebuilds: ``projections.pages.relaxed_gc``). They overlap -- a server starts
serving while its runner is still catching up, a rebuild runs while serving --
and they end in any order, so none of them may simply restore "the thresholds
it found" (it could restore the other's, or the defaults under the other).
Each holds its thresholds here instead; the collector runs with the highest of
every held value, and with the thresholds from before the first hold when none
is held.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

Thresholds = tuple[int, int, int]

_lock = threading.Lock()
_held: list[Thresholds] = []
_before: Thresholds | None = None


@contextmanager
def raised_thresholds(thresholds: Thresholds) -> Iterator[None]:
    """Runs the collector with at least ``thresholds`` (generation 0, 1, 2)
    until the block ends."""
    global _before
    with _lock:
        if not _held:
            _before = gc.get_threshold()  # type: ignore[assignment]
        _held.append(thresholds)
        _apply()
    try:
        yield
    finally:
        with _lock:
            _held.remove(thresholds)
            _apply()


def _apply() -> None:
    if _held:
        gc.set_threshold(*(max(values) for values in zip(*_held, strict=True)))
    elif _before is not None:
        gc.set_threshold(*_before)
