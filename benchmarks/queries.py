"""Read benchmark: `ledger serve` against the naive CRUD app on the same tickets,
driven by wrk with random ids, on one PostgreSQL, in one run.

    .venv/bin/python benchmarks/queries.py                   # 1,000,000 tickets, throwaway PostgreSQL
    .venv/bin/python benchmarks/queries.py --tickets 20000 --duration 5
    .venv/bin/python benchmarks/queries.py --database-url postgresql://u:p@host:5432/empty_db

The tickets are spread evenly over four states (open, assigned, accepted,
in_progress; every assigned ticket on one of 100 engineers) and written to both
apps: the ledger's events built, hashed by the ledger's own mapper and COPYed by
--fill-processes workers (the ledger folds them into its read tables as it
starts, before it is measured; the log says how long each step took), the
CRUD's rows copied into its
tables (benchmarks/crud_app.py). Both servers run as commands.py runs them
(uvicorn, 1 worker, no access log) and both stay up for the whole run; the queries
are measured one after the other, each on random targets (tickets that have an
assignment, or random engineers):

  ticket       GET /tickets/{id}
  current      GET /tickets/{id}/current-assignment
  assignments  GET /tickets/{id}/assignments
  engineer     GET /assignments?engineer_id=&status=active   (first page: 100 rows)
  events       GET /events?ticket_id=                        (the CRUD: its history rows)

Each query: --warmup seconds of it on each server, unrecorded (the first run
measured paid a cold start); then the ledger at --low connections (its p99 is the
latency goal: <= 5 ms), then the ledger and the CRUD at --high connections (req/s:
the ledger's goal is at least the CRUD's). Prints every wrk line (req/s, p50, p99, non-2xx, CPU per
request of the server and of PostgreSQL), then a table of the goals and ratios.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path
from uuid import UUID, uuid4

sys.path.insert(0, str(Path(__file__).resolve().parent))
import commands  # noqa: E402 - the command benchmark's plan and fill
import harness  # noqa: E402 - the servers and the wrk driver
from commands import ENGINEERS, Plan  # noqa: E402
from harness import Postgres, Result, log, run_wrk, sql  # noqa: E402

QUERIES = ("ticket", "current", "assignments", "engineer", "events")
#: commands.py's mix kinds, used here only for the state each one stages a ticket in
STATES = ("assign", "accept", "start", "complete")  # open, assigned, accepted, in_progress
P99_GOAL_MS = 5.0
#: Seconds a ledger may take to fold the fill as it starts (a million tickets are
#: 2.5 million events)
READY_TIMEOUT = 3600.0
ROOT = Path(__file__).resolve().parent.parent


#: (ticket, state, assignment, engineer) of every ticket, set before the fill's
#: workers are forked (they read their share of it from the inherited memory)
_TICKETS: list[tuple[UUID, str, UUID | None, str | None]] = []
COPY_EVENTS = ("COPY {} (originator_id, originator_version, topic, state) "
               "FROM STDIN (FORMAT BINARY)")


class Share:
    """Some of the plan's tickets, for ``commands.build_events`` (which yields the
    engineers' events first, then the tickets' in chunks of whole tickets)."""

    def __init__(self, start: int, stop: int) -> None:
        self.start, self.stop = start, stop

    def tickets(self):  # noqa: ANN201 - as Plan.tickets
        return iter(_TICKETS[self.start:self.stop])


def fill_ledger(url: str, plan: Plan, processes: int) -> int:
    """The plan's events, as the ledger's own mapper stores them (its per-stream
    hash chain included), COPYed into the ledger's event store: the engineers
    first, then the tickets split among ``processes`` forked workers, each
    building, hashing and copying whole tickets (a stream never spans two
    statements, so its events keep their order). Returns the number of events."""
    from ledger.application import Ledger

    app = Ledger(url)  # creates the event store's tables
    try:
        engineers = next(commands.build_events(Share(0, 0)))
        app.recorder.insert_events([app.mapper.to_stored_event(e) for e in engineers])
    finally:
        app.close()
    _TICKETS[:] = plan.tickets()
    step = -(-len(_TICKETS) // processes)
    shares = [(url, i, min(i + step, len(_TICKETS))) for i in range(0, len(_TICKETS), step)]
    with multiprocessing.get_context("fork").Pool(len(shares)) as pool:
        counts = pool.map(_copy_share, shares)
    _TICKETS.clear()
    return len(engineers) + sum(counts)


def _copy_share(share: tuple[str, int, int]) -> int:
    import psycopg

    from ledger.application import Ledger

    url, start, stop = share
    app = Ledger(url)
    copied = 0
    try:
        statement = COPY_EVENTS.format(app.recorder.events_table_name)
        chunks = commands.build_events(Share(start, stop))
        next(chunks)  # the engineers' events: copied before the workers started
        with psycopg.connect(url) as conn:
            for events in chunks:
                with conn.cursor().copy(statement) as copy:
                    copy.set_types(["uuid", "int8", "text", "bytea"])
                    for stored in map(app.mapper.to_stored_event, events):
                        copy.write_row((stored.originator_id, stored.originator_version,
                                        stored.topic, stored.state))
                conn.commit()
                copied += len(events)
    finally:
        app.close()
    return copied


def start_ledger(label: str, src: Path, url: str, token: str, workdir: Path) -> harness.Server:
    """``ledger serve`` on the sources in ``src``, otherwise as ``harness.start_server``
    starts it, given READY_TIMEOUT to fold the fill into its read tables."""
    port = harness.free_port()
    env = {**os.environ, "PYTHONPATH": str(src), "LEDGER_ADMIN_TOKEN": token,
           "PYTHONUNBUFFERED": "1"}
    cmd = [str(Path(sys.executable).parent / "ledger"), "serve", "--host", "127.0.0.1",
           "--port", str(port), "--database-url", url, "--workers", "1", "--no-access-log"]
    server = harness.Server(label, cmd, env, port, workdir / f"{label}.log", "/readyz", token)
    try:
        server.wait_ready(READY_TIMEOUT)
    except BaseException:
        server.stop()
        raise
    return server


def plan_of(tickets: int) -> Plan:
    per_state = max(1, tickets // len(STATES))
    staged = {k: [(uuid4(), None if k == "assign" else uuid4()) for _ in range(per_state)]
              for k in STATES}
    return Plan(assign=[], warm=[], staged=staged)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=None,
                        help="an EMPTY PostgreSQL database (the ledger's; the CRUD's is created "
                             "beside it); default: a throwaway server")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--low", type=int, default=4, help="connections of the latency runs")
    parser.add_argument("--high", type=int, default=16, help="connections of the req/s runs")
    parser.add_argument("--targets", type=int, default=50_000,
                        help="random tickets the reads pick from (a sample of the assigned)")
    parser.add_argument("--queries", default=",".join(QUERIES))
    parser.add_argument("--warmup", type=int, default=2,
                        help="seconds of unrecorded wrk on each server before each query")
    parser.add_argument("--fill-processes", type=int, default=os.cpu_count() or 1,
                        help="processes building and copying the ledger's events")
    parser.add_argument("--compare-src", type=Path, default=None,
                        help="another checkout's src/ (e.g. the main branch's): its ledger "
                             "serves the same database too and is measured at --high "
                             "connections beside this one (a before/after in one run)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk")
    queries = args.queries.split(",")

    token = secrets.token_urlsafe(32)
    workdir = Path(tempfile.mkdtemp(prefix="ledger-bench-queries-"))
    pg = Postgres(args.database_url)
    servers = []
    results: dict[tuple[str, str, int], Result] = {}
    try:
        urls = {"ledger": pg.database(None), "crud": pg.database("crud")}
        plan = plan_of(args.tickets)
        started = time.perf_counter()
        commands.fill_crud(urls["crud"], plan)
        crud_done = time.perf_counter()
        events = fill_ledger(urls["ledger"], plan, args.fill_processes)
        ledger_done = time.perf_counter()
        for url in urls.values():
            sql(url, "VACUUM ANALYZE")
        log(f"filled {args.tickets:,} tickets ({events:,} ledger events) in "
            f"{time.perf_counter() - started:.0f} s (CRUD rows {crud_done - started:.0f} s, "
            f"ledger events {ledger_done - crud_done:.0f} s, VACUUM ANALYZE "
            f"{time.perf_counter() - ledger_done:.0f} s)")
        assigned = [t for k in STATES if k != "assign" for t, _a in plan.staged[k]]
        sample = random.Random(1).sample(assigned, min(args.targets, len(assigned)))
        (workdir / "read_tickets.txt").write_text("\n".join(map(str, sample)) + "\n")
        (workdir / "engineers.txt").write_text("\n".join(ENGINEERS) + "\n")

        apps = [("ledger", ROOT / "src"), ("crud", None)]
        if args.compare_src:
            apps.append(("compared", args.compare_src))
        for app, src in apps:
            t0 = time.perf_counter()
            server = (harness.start_server(app, urls[app], token, workdir, 1) if src is None
                      else start_ledger(app, src, urls["ledger"], token, workdir))
            servers.append(server)
            log(f"{app}: ready on {server.base} in {time.perf_counter() - t0:.0f} s")
        ledger, crud, *compared = servers

        for query in queries:
            os.environ["BENCH_READ_KIND"] = query
            if args.warmup:
                for server in servers:
                    run_wrk(server, "read", workdir, args.warmup, args.high, workdir,
                            pg.postmaster)
            for server, connections in ((ledger, args.low), (ledger, args.high),
                                        *((c, args.high) for c in compared), (crud, args.high)):
                r = run_wrk(server, "read", workdir, args.duration, connections, workdir,
                            pg.postmaster)
                r.workload = f"{query}@{connections}"
                results[server.label, query, connections] = r
                log(commands.fmt(r))

        print(f"\nqueries benchmark: {args.tickets:,} tickets ({events:,} events), "
              f"{args.duration} s per run, random targets among {len(sample):,} assigned "
              f"tickets and {len(ENGINEERS)} engineers, {os.cpu_count()} CPUs; uvicorn: "
              f"{harness.UVICORN_SETTINGS}")
        for r in results.values():
            print(commands.fmt(r))
        print(f"\n{'query':<12} {'ledger p99 @' + str(args.low):>16} {'goal':>6} "
              f"{'ledger @' + str(args.high):>14} {'crud @' + str(args.high):>12} {'ratio':>6}")
        for query in queries:
            low = results["ledger", query, args.low]
            high = results["ledger", query, args.high]
            base = results["crud", query, args.high]
            ratio = high.rps / base.rps if base.rps else float("nan")
            print(f"{query:<12} {low.p99_ms:>13.2f} ms "
                  f"{'ok' if low.p99_ms <= P99_GOAL_MS else 'MISS':>6} "
                  f"{high.rps:>10,.0f} r/s {base.rps:>8,.0f} r/s {ratio:>6.2f}"
                  + "".join(f"   {args.compare_src}: {c.rps:,.0f} r/s, ratio "
                            f"{c.rps / base.rps if base.rps else float('nan'):.2f}"
                            for c in [results[s.label, query, args.high] for s in compared]))
    finally:
        for server in servers:
            server.stop()
        pg.close()
        log(f"logs and wrk output kept in {workdir}")


if __name__ == "__main__":
    main()
