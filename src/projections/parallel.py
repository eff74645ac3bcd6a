"""Rebuilds spread over processes: each projection's build and switch are
independent, so groups of projections are rebuilt side by side, one process per
group, each reading the log once and folding only its own projections. Python
folds on one core per process; PostgreSQL absorbs the writes."""

from __future__ import annotations

import multiprocessing as mp
import queue
from collections.abc import Callable, Sequence
from typing import Any

#: Relative cost per event (decode and fold of its event types, measured one
#: projection at a time on replay.py's stories): how groups are balanced. A
#: projection not listed (a plugin) counts as a middling one.
WEIGHTS = {
    "tickets": 57,
    "ticket_metrics": 49,
    "engineer_assignments": 46,
    "assignment_history": 41,
    "sla_clocks": 40,
    "current_ticket_assignments": 25,
    "assignment_intervals": 21,
    "engineers": 9,
    "api_keys": 1,
    "webhooks": 1,
    "proposals": 1,
    "handovers": 1,
    "ticket_notes": 1,
    "repeat_faults": 1,
}
DEFAULT_WEIGHT = 20


def partition(names: Sequence[str], workers: int) -> list[list[str]]:
    """Longest-processing-time-first split of projections into ``workers`` groups."""
    groups: list[list[str]] = [[] for _ in range(max(1, min(workers, len(names))))]
    loads = [0] * len(groups)
    for name in sorted(names, key=lambda n: -WEIGHTS.get(n, DEFAULT_WEIGHT)):
        i = loads.index(min(loads))
        groups[i].append(name)
        loads[i] += WEIGHTS.get(name, DEFAULT_WEIGHT)
    return [g for g in groups if g]


def _worker(
    database_url: str,
    names: list[str],
    keep: bool,
    page_size: int,
    updates: Any,
    stop: Any,
) -> None:
    import signal

    from ledger.application import Ledger
    from projections.backend import build_store
    from projections.runner import ReadSide

    # Ctrl-C reaches the whole process group; the parent decides, via ``stop``.
    # A parent that dies (even by SIGKILL) stops its workers before they switch.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = mp.parent_process()

    def should_stop() -> bool:
        return stop.is_set() or (parent is not None and not parent.is_alive())

    app = Ledger(database_url)
    store = build_store(app.store)
    try:
        side = ReadSide(app, store, page_size=page_size)  # the parent ran setup()
        side.rebuild(
            names,
            keep=keep,
            progress=lambda position, head: updates.put((tuple(names), position, head)),
            should_stop=should_stop,
        )
    finally:
        store.close()
        app.close()


def rebuild_in_processes(
    database_url: str,
    names: Sequence[str],
    *,
    workers: int,
    keep: bool = False,
    page_size: int = 5000,
    progress: Callable[[int, int], None] = lambda _p, _h: None,
    should_stop: Callable[[], bool] = lambda: False,
) -> None:
    """Runs ``ReadSide.rebuild`` for each group in its own process and reports the
    slowest group's progress. Raises if any group failed."""
    ctx = mp.get_context("spawn")
    updates = ctx.Queue()
    stop = ctx.Event()
    groups = partition(names, workers)
    processes = [
        ctx.Process(
            target=_worker,
            args=(database_url, group, keep, page_size, updates, stop),
            name=f"rebuild-{'+'.join(group)}",
        )
        for group in groups
    ]
    for p in processes:
        p.start()
    latest: dict[tuple[str, ...], tuple[int, int]] = {}
    try:
        while any(p.is_alive() for p in processes):
            if should_stop():
                stop.set()
            try:
                group, position, head = updates.get(timeout=0.2)
            except queue.Empty:
                continue
            latest[group] = (position, head)
            if len(latest) == len(groups):
                progress(min(p for p, _h in latest.values()), max(h for _p, h in latest.values()))
    finally:
        for p in processes:
            p.join()
    failed = [p.name for p in processes if p.exitcode != 0]
    if failed:
        msg = f"rebuild failed in: {', '.join(failed)} (run again to resume)"
        raise RuntimeError(msg)
