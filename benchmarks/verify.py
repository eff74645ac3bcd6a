"""Verification benchmark: how fast ``ledger verify`` recomputes every event's hash,
every stream's chain and every signed checkpoint (target: >= 200,000 events/s).

    python benchmarks/verify.py                      # 500,000 events, throwaway PostgreSQL
    python benchmarks/verify.py --events 200000 --database-url sqlite:////tmp/verify.db

Fills the store with realistic ticket stories (benchmarks/replay.py's filler,
which goes through the chaining mapper, so every event is hashed as in
production), seals checkpoints every 1,000 events, then verifies the whole log.
Ends with ``ratio: <verified events/s / 200,000>``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

TARGET = 200_000


def main() -> None:
    from replay import filled_store, rss_mb

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=500_000)
    parser.add_argument("--database-url", default=None,
                        help="an EMPTY database; default: a throwaway PostgreSQL")
    parser.add_argument("--workers", type=int, default=2, help="verifying processes")
    args = parser.parse_args()
    from ledger.application import Ledger
    from ledger.signing import load_or_create
    from projections.backend import build_store
    from projections.checkpoints import CheckpointStore, StoredLog
    from projections.sealer import Sealer
    from projections.verification import Verifier

    with filled_store(args.database_url, args.events) as (url, filled):
        ledger = Ledger(url, pool_size=2)
        store = build_store(ledger.store, pool_size=2)
        checkpoints = CheckpointStore(store)
        checkpoints.setup()
        log = StoredLog(store, ledger.recorder.events_table_name)
        signer = load_or_create(Path(tempfile.mkdtemp()) / "key.pem")
        started = time.perf_counter()
        sealed = Sealer(log, checkpoints, signer, every=1000).seal_pending(force=True)
        seal_s = time.perf_counter() - started
        print(f"sealed {len(sealed):,} checkpoints in {seal_s:.1f} s "
              f"({filled['events'] / seal_s:,.0f} events/s)", flush=True)
        verifier = Verifier(log, checkpoints, signer.public_raw.hex(), config=ledger.store,
                            workers=args.workers)
        started = time.perf_counter()
        report = verifier.verify()
        seconds = time.perf_counter() - started
        rate = report.events_checked / seconds
        print(f"verified {report.events_checked:,} events, {report.streams_checked:,} streams, "
              f"{report.checkpoints_checked:,} checkpoints in {seconds:.2f} s: {rate:,.0f} "
              f"events/s, ok={report.ok}, peak RSS {rss_mb():.0f} MB", flush=True)
        print(f"ratio: {rate / TARGET:.2f} (of the {TARGET:,} events/s target)")
        store.close()
        ledger.close()
        if not report.ok:
            sys.exit(1)


if __name__ == "__main__":
    main()
