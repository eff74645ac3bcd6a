"""What one PostgreSQL transaction costs a thread that shares the interpreter lock.

A diagnostic behind "The commit window" in benchmarks/RESULTS.md: the ledger's group
committer runs its transactions in the same process as the event loop, and every
time psycopg waits on the socket (begin, each pipelined statement, sync, commit) it
releases the GIL; to go on it must get it back from whichever thread took it, which
a busy thread gives up only when it blocks or after ``sys.getswitchinterval()``.

It runs the same transaction (BEGIN, N pipelined ``SELECT``s, COMMIT) alone, and
again while 1 thread spins in pure Python (a stand-in for a busy event loop), for a
few switch intervals, and prints milliseconds per transaction.

    .venv/bin/python benchmarks/gil_handoff.py                       # throwaway PostgreSQL
    .venv/bin/python benchmarks/gil_handoff.py --database-url postgresql://u:p@host/db
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import Postgres  # noqa: E402 - a sibling module, not a package


def transaction_ms(url: str, statements: int, busy_threads: int, switch: float,
                   transactions: int) -> float:
    """Mean wall time of one transaction of ``statements`` pipelined queries."""
    stop = threading.Event()

    def spin() -> None:
        n = 0
        while not stop.is_set():
            n += 1

    previous = sys.getswitchinterval()
    sys.setswitchinterval(switch)
    threads = [threading.Thread(target=spin, daemon=True) for _ in range(busy_threads)]
    try:
        with psycopg.connect(url) as conn:
            for t in threads:
                t.start()
            started = time.perf_counter()
            for _ in range(transactions):
                with conn.transaction(), conn.pipeline():
                    cursors = [conn.execute("SELECT %s::int", (i,)) for i in range(statements)]
                if cursors[-1].fetchone() != (statements - 1,):
                    msg = "unexpected result"
                    raise RuntimeError(msg)
            return (time.perf_counter() - started) / transactions * 1000
    finally:
        stop.set()
        for t in threads:
            t.join()
        sys.setswitchinterval(previous)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=None,
                        help="a PostgreSQL database to connect to (default: a throwaway server)")
    parser.add_argument("--transactions", type=int, default=100)
    args = parser.parse_args()
    pg = Postgres(args.database_url)
    try:
        header = ("statements", "busy threads", "switch interval", "ms/transaction")
        print(f"{header[0]:>10} {header[1]:>12} {header[2]:>15} {header[3]:>15}")
        for statements in (1, 20):
            for busy, switch in ((0, 0.005), (1, 0.005), (1, 0.001), (1, 0.0005)):
                ms = transaction_ms(pg.url, statements, busy, switch, args.transactions)
                print(f"{statements:>10} {busy:>12} {switch * 1000:>13.1f}ms {ms:>15.2f}")
    finally:
        pg.close()


if __name__ == "__main__":
    main()
