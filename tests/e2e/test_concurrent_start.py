"""Processes of one deployment started together on a new store all start.

API processes and workers are often started at once (a deploy, a container
orchestrator). On a new PostgreSQL database they would race to create the same
tables, and PostgreSQL refuses the loser's ``CREATE TABLE IF NOT EXISTS`` with a
duplicate row in its catalog: before ``build_services`` made one process at a
time set the schema up, about half of such starts killed one process.
"""

from __future__ import annotations

import multiprocessing
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROUNDS = 6
PROCESSES = 2


def _start_each(urls: list[str], barrier: Any, results: Any) -> None:
    """In a child process: builds the services on each store in turn, at the
    same moment as its siblings (the barrier), and reports each outcome."""
    from api.app import build_services
    from conftest import e2e_settings

    for url in urls:
        barrier.wait(timeout=120)
        try:
            build_services(e2e_settings(url)).close()
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
    outcomes = [results.get(timeout=180) for _ in range(ROUNDS * PROCESSES)]
    for child in children:
        child.join(timeout=60)
    failures = [outcome for _, outcome in outcomes if outcome != "started"]
    assert failures == [], failures[0]
    assert sorted(url for url, _ in outcomes) == sorted(urls * PROCESSES)
