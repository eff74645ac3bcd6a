"""Process settings for serving: the cyclic garbage collector, malloc arenas.

Under load a server allocates many short-lived objects (requests, events, rows)
while holding long-lived ones (modules, caches of tickets and rows). With the
default thresholds CPython then runs a full collection every couple of seconds,
each re-traversing everything long-lived, straight into p99 (figures in
benchmarks/RESULTS.md). So, while serving: what exists
once the app has started is moved out of the collector's sight (``gc.freeze``:
modules, code, settings; the process's first start collects its garbage before),
and collections run less often.
Reference counting still frees almost everything at once; the collector only
looks for cycles.
"""

from __future__ import annotations

import ctypes
import gc
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from projections.gcpolicy import raised_thresholds

#: (generation 0, 1, 2) thresholds while serving; CPython's defaults are (700, 10, 10).
SERVING_THRESHOLDS = (20_000, 20, 20)


#: Whether this process has made its start-up collection (``serving_gc``).
_collected = False


@contextmanager
def serving_gc() -> Iterator[None]:
    """Serving's collector settings for the block. Only the process's first
    serving start collects before freezing (its import and start-up garbage
    would otherwise be kept while it serves): a full collection traverses the whole
    heap, and a process that serves again (a test suite starts an app for
    most of its tests) would pay it every time to find only the previous
    app, which the unfreeze at this block's end hands back to the collector."""
    global _collected
    if not _collected:
        gc.collect()
        _collected = True
    gc.freeze()
    try:
        # Held with the runner's own (a catch-up still running as serving starts).
        with raised_thresholds(SERVING_THRESHOLDS):
            yield
    finally:
        gc.unfreeze()


#: glibc's mallopt parameter M_ARENA_MAX.
_M_ARENA_MAX = -8
#: Arenas while serving (glibc's default: up to 8 per core).
SERVING_ARENAS = 2


def limit_malloc_arenas(arenas: int = SERVING_ARENAS) -> bool:
    """Caps glibc's malloc arenas, before the serving threads start.

    glibc gives threads that allocate at the same time arenas of their own, up
    to 8 per core; the thread pool, the group committer and the runner then
    each hold freed memory in their own arena, and the process grows (two arenas
    keep the peak lower at the same throughput: benchmarks/RESULTS.md). An explicit ``MALLOC_ARENA_MAX`` in the
    environment is left to glibc. Returns whether the cap was set."""
    if "MALLOC_ARENA_MAX" in os.environ or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc (musl, ...)
        return False
    return bool(libc.mallopt(_M_ARENA_MAX, arenas))
