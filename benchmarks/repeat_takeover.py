"""What a process taking the lead of the repeat-fault policy replays before it
decides again: the whole log (no saved state, as before session 5) against the
events since the saved state, on one store in one run.

    python benchmarks/repeat_takeover.py                  # 100,000 tickets, SQLite in /tmp
    python benchmarks/repeat_takeover.py --tickets 20000 --database-url sqlite:////tmp/t.db

Tickets are opened through the Ledger at 5,000 poles and 500 PONs (places to
count: with the default thresholds each raises a fault and later tickets join
it), then the policy's position is set to the head as if it had decided
everything. Prints each start's replayed events and seconds.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from ledger.application import Ledger  # noqa: E402
from ledger.repeat_policy import parse_thresholds  # noqa: E402
from projections.backend import build_store  # noqa: E402
from projections.policy_positions import PolicyPositions  # noqa: E402
from projections.repeat_policy_runner import NAME, RepeatFaultRunner  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--database-url", default=None, help="an empty store (default: SQLite in /tmp)")
    args = parser.parse_args()
    url = args.database_url or f"sqlite:///{tempfile.mkdtemp(prefix='ledger-takeover-')}/l.db"
    ledger = Ledger(url)
    store = build_store(ledger.store, pool_size=2)
    try:
        started = time.perf_counter()
        pending = []
        for n in range(args.tickets):
            location = {"pole": f"P-{n % 5000}", "pon": f"PON-{n % 500}"}
            pending.append(ledger.open_ticket(title=f"LOS {n}", actor="bench", location=location))
            if len(pending) >= 2000:
                for f in pending:
                    f.result()
                pending.clear()
        for f in pending:
            f.result()
        head = ledger.head()
        print(f"opened {args.tickets:,} tickets ({head:,} events) in "
              f"{time.perf_counter() - started:.0f} s")

        def start() -> RepeatFaultRunner:
            runner = RepeatFaultRunner(
                ledger, store, window=timedelta(days=30),
                thresholds=parse_thresholds(""), lead=False)
            t0 = time.perf_counter()
            runner.run_once()
            print(f"  replayed {runner.replayed:,} events in {time.perf_counter() - t0:.2f} s")
            return runner

        positions = PolicyPositions(store)
        positions.setup()
        positions.save(NAME, head)
        print("a leader with no saved state (the whole log):")
        runner = start()
        runner.stop()  # saves its state, as a leader stepping down does
        print("the next leader, from the state the last one saved:")
        start().stop()
    finally:
        store.close()
        ledger.close()


if __name__ == "__main__":
    main()
