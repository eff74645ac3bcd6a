"""Processes of one deployment started together on a new store all start.

API processes and workers are often started at once (a deploy, a container
orchestrator). On a new PostgreSQL database they would race to create the same
tables, and PostgreSQL refuses the loser's ``CREATE TABLE IF NOT EXISTS`` with a
duplicate row in its catalog: before ``build_services`` made one process at a
time set the schema up, about half of such starts killed one process.
"""

from __future__ import annotations

import multiprocessing
import queue
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROUNDS = 6
PROCESSES = 2


def _start_each(urls: list[str], barrier: Any, results: Any) -> None:
    """In a child process: builds the services on each store in turn, at the
    same moment as its siblings (the barrier), and reports each outcome."""
    # Not conftest's e2e_settings: a spawned child's path finds another conftest first.
    from api.app import build_services
    from api.settings import Settings

    for url in urls:
        settings = Settings(_env_file=None, database_url=url,  # type: ignore[call-arg]
                            demo_on_empty=False, run_projections=True)
        barrier.wait(timeout=120)
        try:
            build_services(settings).close()
            results.put((url, "started"))
        except Exception:  # noqa: BLE001 - reported to the test, which fails on it
            results.put((url, traceback.format_exc(limit=3)))


def test_processes_started_together_on_a_new_store_all_start(
    backend: str, tmp_path: Path, postgres_url_factory: Callable[[], str]
) -> None:
    if backend == "sqlite":
        urls = [f"sqlite:///{tmp_path}/ledger-{n}.db" for n in range(ROUNDS)]
    else:
        urls = [postgres_url_factory() for _ in range(ROUNDS)]
    # Spawned, not forked: the test process runs threads (xdist, other fixtures).
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(PROCESSES)
    results = context.Queue()
    children = [context.Process(target=_start_each, args=(urls, barrier, results))
                for _ in range(PROCESSES)]
    for child in children:
        child.start()
    outcomes = []
    deadline = time.monotonic() + 180
    while len(outcomes) < ROUNDS * PROCESSES and time.monotonic() < deadline:
        try:
            outcomes.append(results.get(timeout=0.5))
        except queue.Empty:
            dead = [c.exitcode for c in children if c.exitcode not in (None, 0)]
            assert not dead, f"a child process died (exit codes {dead}); see its stderr"
    for child in children:
        child.join(timeout=60)
    assert len(outcomes) == ROUNDS * PROCESSES, f"only {len(outcomes)} starts reported"
    failures = [outcome for _, outcome in outcomes if outcome != "started"]
    assert failures == [], failures[0]
    assert sorted(url for url, _ in outcomes) == sorted(urls * PROCESSES)
