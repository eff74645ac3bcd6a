"""benchmarks/queries.py's fill: the ledger's events COPYed by forked workers are
the events the ledger itself would store (streams whole and in order, hash chains
intact), readable by the ledger."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from importlib import util as importlib_util
from pathlib import Path
from typing import Any

import pytest

from ledger.application import Ledger

ROOT = Path(__file__).resolve().parents[2]


def _load_queries_benchmark() -> Any:
    sys.path.insert(0, str(ROOT / "benchmarks"))  # it imports its sibling commands.py
    spec = importlib_util.spec_from_file_location("_ledger_bench_queries",
                                                  ROOT / "benchmarks" / "queries.py")
    assert spec is not None and spec.loader is not None
    module = importlib_util.module_from_spec(spec)
    sys.modules[spec.name] = module  # the fill's workers are found by module name
    spec.loader.exec_module(module)
    return module


@pytest.mark.postgres
def test_the_fill_copies_whole_streams_the_ledger_reads_and_verifies(
    postgres_url_factory: Callable[[], str]
) -> None:
    bench = _load_queries_benchmark()
    url = postgres_url_factory()
    plan = bench.plan_of(40)  # ten tickets in each of four states
    events = bench.fill_ledger(url, plan, 2)
    assert events == 100 + 10 * (1 + 2 + 3 + 4)

    ledger = Ledger(url)
    try:
        states = {"assign": "open", "accept": "assigned", "start": "assigned",
                  "complete": "in_progress"}
        for kind, rows in plan.staged.items():
            for ticket_id, _assignment in rows[:3]:
                assert ledger.get_ticket(ticket_id).status == states[kind]
    finally:
        ledger.close()
    report = subprocess.run(
        [str(Path(sys.executable).parent / "ledger"), "verify", "--database-url", url, "--json"],
        capture_output=True, text=True, check=False, cwd=ROOT,
    )
    assert report.returncode == 0, report.stdout + report.stderr
    verified = json.loads(report.stdout)
    assert verified["ok"] and verified["problems"] == 0
    assert (verified["events_checked"], verified["streams_checked"]) == (200, 140)
