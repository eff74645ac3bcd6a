"""Replay benchmark: the library's ProjectionRunner (one commit per event) against
our batched rebuild of all projections, on the same database in the same run.

    python benchmarks/replay.py                      # 1,000,000 events, throwaway PostgreSQL
    python benchmarks/replay.py --events 200000 --database-url sqlite:////tmp/bench.db
    python benchmarks/replay.py --database-url postgresql://u:p@host:5432/empty_db

Each measurement runs in its own process so its peak RSS is its own. The filled
event table is VACUUM ANALYZEd before measuring, as an established store would be.
Ends with ``ratio: <ours/library>`` (events/s).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
import json
import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path
from uuid import uuid4

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---------------------------------------------------------------------- fill


def _story(ticket, rng: random.Random, tiers: dict[int, list[str]]) -> None:  # noqa: ANN001
    """One ticket's life, chosen like the demo: rejections, reassignments,
    escalations up to L3, completions, closes."""
    roll = rng.random()
    if roll < 0.08:
        return
    l1 = rng.choice(tiers[1])
    a = ticket.assign(assignment_id=uuid4(), engineer_id=l1, tier=1, actor="dispatcher",
                      reason="Initial dispatch")
    if roll < 0.2:
        ticket.reject(a.id, reason="Out of area", actor=l1)
        l1 = rng.choice(tiers[1])
        a = ticket.assign(assignment_id=uuid4(), engineer_id=l1, tier=1, actor="dispatcher",
                          reason="Re-dispatch")
    ticket.accept(a.id, actor=l1)
    ticket.start(a.id, actor=l1)
    if roll < 0.35:
        other = rng.choice([e for e in tiers[1] if e != l1])
        a = ticket.reassign(a.id, new_assignment_id=uuid4(), new_engineer_id=other,
                            reason="Shift change", actor="dispatcher")
        ticket.accept(a.id, actor=other)
        l1 = other
    if roll < 0.65:
        ticket.complete(a.id, completion_status="success", time_spent_hours=1.5,
                        diagnosis="Dirty connector", actions_taken="Cleaned", actor=l1)
        if rng.random() < 0.5:
            ticket.close(reason="Confirmed", actor="dispatcher")
        return
    a = ticket.escalate(new_assignment_id=uuid4(), next_engineer_id=rng.choice(tiers[2]),
                        reason="Beyond the drop cable", actor="dispatcher")
    ticket.accept(a.id, actor=a.engineer_id)
    if roll < 0.85:
        ticket.complete(a.id, completion_status="success", time_spent_hours=3.0,
                        parts_used=[{"part_number": "SPL-1x8", "part_name": "splitter",
                                     "quantity": 1, "cost": 42.5}], actor=a.engineer_id)
        return
    a = ticket.escalate(new_assignment_id=uuid4(), next_engineer_id=rng.choice(tiers[3]),
                        reason="Core fault", actor="dispatcher")
    ticket.accept(a.id, actor=a.engineer_id)
    ticket.start(a.id, actor=a.engineer_id)
    ticket.complete(a.id, completion_status="success", time_spent_hours=6.0, actor=a.engineer_id)


def fill(database_url: str, events: int, seed: int = 1, spread_days: float = 0) -> dict:
    """Records ``events`` events quickly: stories are built in memory, interleaved
    across tickets (each ticket's own order kept) and inserted in large batches.
    With ``spread_days``, each ticket's story is moved back by a random time of up
    to that many days, as a store that grew over time (timestamps only)."""
    import dataclasses
    from datetime import timedelta

    from ledger.application import Ledger
    from ledger.domain import Engineer, Ticket

    rng = random.Random(seed)
    app = Ledger(database_url)
    started = time.perf_counter()
    tiers: dict[int, list[str]] = {1: [], 2: [], 3: []}
    engineers = []
    for i in range(120):
        tier = 1 if i < 70 else 2 if i < 105 else 3
        eid = f"eng{i:03d}"
        tiers[tier].append(eid)
        engineers.append(Engineer.register(engineer_id=eid, name=f"Engineer {i}", tier=tier,
                                           capacity=5, skills=["fibre"], actor="bench"))
    app.save(*engineers)
    written = len(engineers)
    mapper = app.mapper
    while written < events:
        streams = []
        for _ in range(1500):
            ticket = Ticket.open(ticket_id=uuid4(), title="Bench ticket", actor="dispatcher",
                                 priority=rng.choice(["low", "medium", "high", "critical"]))
            _story(ticket, rng, tiers)
            back = timedelta(days=rng.random() * spread_days)
            streams.append([dataclasses.replace(e, timestamp=e.timestamp - back) if back else e
                            for e in ticket.collect_events()])
        # Interleave: repeatedly take the next event of a random unfinished stream.
        cursors = [0] * len(streams)
        live = list(range(len(streams)))
        ordered = []
        while live and written + len(ordered) < events:
            k = rng.randrange(len(live))
            i = live[k]
            ordered.append(streams[i][cursors[i]])
            cursors[i] += 1
            if cursors[i] == len(streams[i]):
                live[k] = live[-1]
                live.pop()
        stored = [mapper.to_stored_event(e) for e in ordered]
        # One pipelined statement of several MB can stall psycopg's pipeline;
        # batches of 2,000 events avoid it at no cost (benchmarks/RESULTS.md).
        for i in range(0, len(stored), 2000):
            app.recorder.insert_events(stored[i:i + 2000])
        written += len(ordered)
    head = app.head()
    if app.store.is_postgres:
        # A store that is rebuilt in real life is an established, vacuumed table;
        # a just-filled one would make the first reader set every page's hint bits
        # and plan without statistics. Measure the former.
        import psycopg

        with psycopg.connect(app.store.conninfo(), autocommit=True) as conn:
            conn.execute(f'VACUUM ANALYZE "{app.recorder.events_table_name}"')
    app.close()
    return {"events": head, "seconds": time.perf_counter() - started}


# ---------------------------------------------------------------------- measurements


def measure_library(database_url: str, sample: int) -> dict:
    """eventsourcing's ProjectionRunner with a Projection that folds and commits
    every event on its own (what the library offers out of the box)."""
    from eventsourcing.persistence import Tracking
    from eventsourcing.projection import Projection, ProjectionRunner

    from ledger.application import Ledger
    from ledger.store import parse_database_url
    from projections.backend import build_store
    from projections.builds import new_entry
    from projections.pages import Slot, fold_page
    from projections.runner import ReadSide

    config = parse_database_url(database_url)
    prep_app = Ledger(config)
    prep_store = build_store(config)
    prep = ReadSide(prep_app, prep_store)
    prep.setup()
    entries = []
    for projection in prep.projections.values():
        entry = new_entry(prep_store.catalog(), projection)
        prep_store.add_entry(entry)
        prep_store.create_tables(entry, projection)
        entries.append((entry, projection))
    prep_app.close()

    env = config.eventsourcing_env()

    class BenchLedger(Ledger):
        name = "Ledger"

        def __init__(self, env: dict | None = None) -> None:
            super().__init__(config)

    store_class = type(prep_store)

    class PerEvent(Projection):
        name = "per_event_bench"

        def __init__(self, view) -> None:  # noqa: ANN001
            super().__init__(view)
            for e, _p in entries:
                view.ensure_position(e)  # this view's own tracking table
            self.slots = [Slot(e, p, 0) for e, p in entries]

        def process_event(self, domain_event, tracking: Tracking) -> None:  # noqa: ANN001
            # The same folds and row cache as ours; one transaction per event.
            event = [(tracking.notification_id, domain_event)]
            self.view.write(fold_page(self.view, self.slots, event))

    prep_store.close()
    started = time.perf_counter()
    with ProjectionRunner(application_class=BenchLedger, projection_class=PerEvent,
                          view_class=store_class, env=env) as runner:
        entry = entries[0][0]
        while runner.view.position(entry) < sample:
            time.sleep(0.05)
            runner.run_forever(timeout=0.0) if runner.is_interrupted.is_set() else None
        elapsed = time.perf_counter() - started
        done = runner.view.position(entry)
    # The baseline's builds kept their positions in the library runner's own
    # tracking table: remove them, so that nothing later resumes them.
    cleanup = build_store(config)
    for entry, projection in entries:
        cleanup.drop_tables(entry, projection)
    with cleanup.datastore.transaction(commit=True) as c:
        c.execute("DELETE FROM ledger_projections WHERE state = 'building'")
    cleanup.close()
    return {"events": done, "seconds": elapsed, "events_per_s": done / elapsed, "rss_mb": rss_mb()}


def measure_rebuild(database_url: str, page_size: int, workers: int) -> dict:
    """What `ledger projections rebuild` does: all projections, in ``workers``
    processes. Peak RSS: this process and the largest worker."""
    from ledger.application import Ledger
    from projections.backend import build_store
    from projections.parallel import rebuild_in_processes
    from projections.runner import ReadSide

    app = Ledger(database_url)
    store = build_store(app.store)
    side = ReadSide(app, store, page_size=page_size)
    side.setup()
    head = app.head()
    started = time.perf_counter()
    if workers > 1:
        rebuild_in_processes(database_url, list(side.projections), workers=workers,
                             page_size=page_size)
    else:
        side.rebuild()
    elapsed = time.perf_counter() - started
    app.close()
    store.close()
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"events": head, "seconds": elapsed, "events_per_s": head / elapsed,
            "rss_mb": max(rss_mb(), children), "workers": workers}


# ---------------------------------------------------------------------- driver


def _child(args: list[str]) -> dict:
    out = subprocess.run([sys.executable, __file__, *args], check=True, capture_output=True,
                         text=True, env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    return json.loads(out.stdout.strip().splitlines()[-1])


def _throwaway_postgres() -> tuple[str, callable]:
    """Starts scripts/pg-throwaway.sh's PostgreSQL; returns its URL and a stopper."""
    script = ROOT / "scripts" / "pg-throwaway.sh"
    out = subprocess.run([str(script), "start"], check=True, capture_output=True,
                         text=True).stdout
    values = dict(
        line.removeprefix("export ").split("=", 1)
        for line in out.splitlines()
        if line.startswith("export ") and "=" in line
    )
    url, server = values["LEDGER_TEST_POSTGRES_URL"], values["PG_THROWAWAY_ID"]

    def stop() -> None:
        subprocess.run([str(script), "stop", server], check=False, capture_output=True)

    return url, stop


@contextmanager
def filled_store(database_url: str | None, events: int,
                 spread_days: float = 0) -> Iterator[tuple[str, dict]]:
    """An empty store (``database_url``, else a throwaway PostgreSQL, stopped on
    exit) filled with ``events`` events by a child process; yields (url, fill result)."""
    stop = None
    url = database_url
    if url is None:
        url, stop = _throwaway_postgres()
    try:
        backend = "sqlite" if url.startswith("sqlite") else "postgresql"
        print(f"backend: {backend}; filling {events:,} events ...", flush=True)
        filled = _child(["--child", "fill", url, str(events), str(spread_days)])
        print(f"filled {filled['events']:,} events in {filled['seconds']:.1f} s", flush=True)
        yield url, filled
    finally:
        if stop:
            stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=None,
                        help="an EMPTY database; default: a throwaway PostgreSQL")
    parser.add_argument("--sample", type=int, default=20_000,
                        help="events for the per-event library baseline (>= 20k)")
    parser.add_argument("--page-size", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=None,
                        help="rebuild processes (default: 2 on PostgreSQL, 1 on SQLite)")
    parser.add_argument("--child", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        kind, url, *rest = args.child
        if kind == "fill":
            result = fill(url, int(rest[0]), spread_days=float(rest[1]) if len(rest) > 1 else 0)
        elif kind == "library":
            result = measure_library(url, int(rest[0]))
        else:
            result = measure_rebuild(url, int(rest[0]), int(rest[1]))
        print(json.dumps(result))
        return

    with filled_store(args.database_url, args.events) as (url, _filled):
        backend = "sqlite" if url.startswith("sqlite") else "postgresql"
        library = None
        if backend == "postgresql":
            library = _child(["--child", "library", url, str(args.sample)])
            print(f"library ProjectionRunner (commit per event, {library['events']:,} events): "
                  f"{library['events_per_s']:,.0f} events/s, peak RSS {library['rss_mb']:.0f} MB",
                  flush=True)
        workers = args.workers or (2 if backend == "postgresql" else 1)
        ours = _child(["--child", "rebuild", url, str(args.page_size), str(workers)])
        print(f"ledger rebuild (all projections, {ours['events']:,} events, page "
              f"{args.page_size}, {workers} process(es)): {ours['events_per_s']:,.0f} events/s, "
              f"{ours['seconds']:.1f} s, peak RSS per process {ours['rss_mb']:.0f} MB",
              flush=True)
        if library is not None:
            print(f"ratio: {ours['events_per_s'] / library['events_per_s']:.1f}")
        else:
            print("ratio: n/a (the library's ProjectionRunner needs subscriptions, which its "
                  "SQLite recorder does not support)")


if __name__ == "__main__":
    main()
