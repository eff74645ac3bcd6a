"""Process settings for serving: the cyclic garbage collector.

Under load a server allocates many short-lived objects (requests, events, rows)
while holding long-lived ones (modules, caches of tickets and rows). With the
default thresholds CPython then runs a full collection every couple of seconds,
each re-traversing everything long-lived: measured at ~130 ms per collection on
the 2-core benchmark machine, straight into p99. So, while serving: what exists
once the app has started is moved out of the collector's sight (``gc.freeze``:
modules, code, settings; never garbage), and collections run less often.
Reference counting still frees almost everything at once; the collector only
looks for cycles.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

#: (generation 0, 1, 2) thresholds while serving; CPython's defaults are (700, 10, 10).
SERVING_THRESHOLDS = (20_000, 20, 20)


@contextmanager
def serving_gc() -> Iterator[None]:
    previous = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(*SERVING_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*previous)
        gc.unfreeze()
