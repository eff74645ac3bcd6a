"""Command benchmark: `ledger serve` against a naive-CRUD app and the eventsourcing
library behind FastAPI, driven by wrk over HTTP on one PostgreSQL, in one run.

    .venv/bin/python benchmarks/commands.py                 # throwaway PostgreSQL, fsync on
    .venv/bin/python benchmarks/commands.py --duration 10
    .venv/bin/python benchmarks/commands.py --database-url postgresql://u:p@host:5432/empty_db

Apps (each a uvicorn subprocess on a free 127.0.0.1 port, measured one at a time):
  crud     benchmarks/crud_app.py: FastAPI + psycopg_pool, update in place + history row
  library  benchmarks/library_app.py: eventsourcing Application, get + command + save
  ledger   `ledger serve` (the product), LEDGER_ADMIN_TOKEN set, bearer token sent
  ledger-prod (extra line, clearly labelled): the product with several workers
           (`ledger serve --workers N`: each projects its own commands, one also runs
           the projections)
  crud-prod (extra line, clearly labelled): the CRUD with the same N workers, so that
           ledger-prod is also compared with a CRUD given the same cores
The first three run with the SAME uvicorn settings, those `ledger serve` uses:
1 worker, loop "auto" (uvloop), http "auto" (httptools), no access log.

Databases: the ledger uses the given (empty) database, or the throwaway server's
`ledger` database; the other apps get sibling databases created next to it
(`<db>_crud`, `<db>_library`, `<db>_ledger_prod`; this needs CREATEDB) that are
dropped at the end. Without --database-url a throwaway PostgreSQL 15 is started with
scripts/pg-throwaway.sh and restarted with fsync, synchronous_commit and
full_page_writes ON (the script starts it with them off, on its command line, which
ALTER SYSTEM cannot override); SHOW confirms it.

Workloads, each for --duration seconds at 16 connections (wrk -t16 -c16: one
connection per wrk thread, each walking its own slice of the target files):
  assign   one POST /assignments per request, each on a distinct open ticket
  mix      assign, accept, start, escalate, complete (16% each), GET /tickets/{id} (20%),
           every write on a ticket pre-staged in the state it needs
  accept, start, escalate, complete (with --per-kind): each of the mix's commands
           alone, on targets of its own, so that each line's CPU/req is that
           command's cost (what the mix averages)

Prints req/s, p50, p99, non-2xx responses, peak RSS (sum over the server's process
tree, sampled under load) and CPU time per request (the server's process tree, and
the throwaway PostgreSQL's: a figure that a busy machine disturbs far less than
req/s) per app and workload; after each ledger workload, checks
that the Ticket.Assigned events recorded equal the 2xx assign responses. Ends with
``ratio: <ledger/crud>`` (assign req/s).
"""
from __future__ import annotations

import argparse
import os
import secrets
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from uuid import UUID, uuid4

from harness import (
    BENCH,
    ROOT,
    SOLO_KINDS,
    UVICORN_SETTINGS,
    Postgres,
    Result,
    Server,
    log,
    run_wrk,
    sql,
    start_server,
    warm_up,
)

sys.path.insert(0, str(ROOT / "src"))

ENGINEERS = [f"eng{i:03d}" for i in range(100)]
MIX_KINDS = ("assign", *SOLO_KINDS)
#: share of each write kind in the mix (wrk/mix.lua: 4 of every 25 requests)
MIX_SHARE = 4 / 25
#: seconds of unmeasured assign requests (own tickets) after each server starts
WARM_SECONDS = 3


# ---------------------------------------------------------------------- the data


@dataclass
class Plan:
    """Ticket ids (and assignment ids) for every workload, shared by all apps."""

    assign: list[UUID]
    warm: list[UUID]
    staged: dict[str, list[tuple[UUID, UUID | None]]]  # mix kind -> (ticket, assignment)
    reads: list[UUID] = field(default_factory=list)
    #: targets of the per-kind workloads, staged as the mix's, kept apart from them
    solo: dict[str, list[tuple[UUID, UUID | None]]] = field(default_factory=dict)

    @classmethod
    def make(cls, n_assign: int, n_mix: int, n_warm: int, n_solo: int = 0) -> Plan:
        assign = [uuid4() for _ in range(n_assign)]
        staged = {k: [(uuid4(), None if k == "assign" else uuid4()) for _ in range(n_mix)]
                  for k in MIX_KINDS}
        warm = [uuid4() for _ in range(n_warm)]
        solo = {k: [(uuid4(), uuid4()) for _ in range(n_solo)] for k in SOLO_KINDS} if n_solo else {}
        return cls(assign, warm, staged, assign[: min(5000, n_assign)], solo)

    def state_of(self, kind: str) -> str:
        """The state a mix target is staged in."""
        return {"assign": "open", "accept": "assigned", "start": "accepted",
                "escalate": "assigned", "complete": "in_progress"}[kind]

    def write_files(self, directory: Path) -> None:
        (directory / "engineers.txt").write_text("\n".join(ENGINEERS) + "\n")
        (directory / "assign.txt").write_text("\n".join(map(str, self.assign)) + "\n")
        (directory / "warm.txt").write_text("\n".join(map(str, self.warm)) + "\n")
        (directory / "mix_read.txt").write_text("\n".join(map(str, self.reads)) + "\n")
        for prefix, pools in (("mix", self.staged), ("solo", self.solo)):
            for kind, rows in pools.items():
                if kind in ("assign", "escalate"):
                    text = "\n".join(str(t) for t, _a in rows)
                else:
                    text = "\n".join(f"{a} {t}" for t, a in rows)
                (directory / f"{prefix}_{kind}.txt").write_text(text + "\n")

    def tickets(self):  # noqa: ANN201 - (ticket_id, state, assignment_id, engineer)
        for t in (*self.assign, *self.warm):
            yield t, "open", None, None
        for pools in (self.staged, self.solo):
            for kind, rows in pools.items():
                for i, (t, a) in enumerate(rows):
                    yield t, self.state_of(kind), a, ENGINEERS[i % len(ENGINEERS)]


def fill_crud(url: str, plan: Plan) -> None:
    import psycopg

    sys.path.insert(0, str(BENCH))
    from crud_app import SCHEMA

    with psycopg.connect(url) as conn:
        conn.execute(SCHEMA)
        with conn.cursor().copy("COPY engineers (id, name, tier, capacity) FROM STDIN") as cp:
            for e in ENGINEERS:
                cp.write_row((e, f"Engineer {e}", 1, 5))
        status_of = {"open": "open", "assigned": "assigned", "accepted": "assigned",
                     "in_progress": "in_progress"}
        rows = list(plan.tickets())
        with conn.cursor().copy("COPY tickets (id, title, priority, status) FROM STDIN") as cp:
            for t, state, _a, _e in rows:
                cp.write_row((t, "Bench ticket", "medium", status_of[state]))
        with conn.cursor().copy(
            "COPY engineer_assignments (id, ticket_id, engineer_id, assignment_sequence, "
            "assignment_tier, assignment_tier_name, assignment_type, status, assigned_by, "
            "accepted_at, started_at) FROM STDIN"
        ) as cp:
            for t, state, a, e in rows:
                if a is not None:
                    cp.write_row((a, t, e, 1, 1, "L1", "manual", state, "dispatcher",
                                  "now" if state in ("accepted", "in_progress") else None,
                                  "now" if state == "in_progress" else None))
        with conn.cursor().copy(
            "COPY assignment_history (assignment_id, ticket_id, new_engineer, action, "
            "changed_by) FROM STDIN"
        ) as cp:
            for t, state, a, e in rows:
                if a is None:
                    continue
                actions = ["created"] + (["accepted"] if state in ("accepted", "in_progress")
                                         else []) + (["started"] if state == "in_progress"
                                                     else [])
                for action in actions:
                    cp.write_row((a, t, e, action, "dispatcher"))
        conn.commit()


def build_events(plan: Plan):  # noqa: ANN201 - chunks of domain events
    """The whole plan as eventsourcing domain events, built in memory, in chunks."""
    from ledger.domain import Engineer, Ticket

    yield [e for eng in ENGINEERS
           for e in Engineer.register(engineer_id=eng, name=f"Engineer {eng}", tier=1,
                                      capacity=5, skills=["fibre"],
                                      actor="bench").collect_events()]
    chunk = []
    for t, state, a, e in plan.tickets():
        ticket = Ticket.open(ticket_id=t, title="Bench ticket", actor="dispatcher")
        if a is not None:
            ticket.assign(assignment_id=a, engineer_id=e, tier=1, actor="dispatcher")
            if state in ("accepted", "in_progress"):
                ticket.accept(a, actor=e)
            if state == "in_progress":
                ticket.start(a, actor=e)
        chunk.extend(ticket.collect_events())
        if len(chunk) >= 20_000:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def fill_event_stores(plan: Plan, ledger_urls: list[str], library_url: str | None) -> int:
    """Inserts the plan's events into each store in large batches (no save() per
    aggregate); returns the number of events per store."""
    from eventsourcing.application import Application

    from ledger.application import Ledger

    sys.path.insert(0, str(BENCH))
    from library_app import Tickets, library_env

    apps: list[Application] = [Ledger(u) for u in ledger_urls]
    if library_url:
        apps.append(Tickets(env=library_env(library_url)))
    total = 0
    try:
        for chunk in build_events(plan):
            for app in apps:
                for i in range(0, len(chunk), 5000):
                    app.recorder.insert_events(
                        [app.mapper.to_stored_event(e) for e in chunk[i:i + 5000]])
            total += len(chunk)
    finally:
        for app in apps:
            app.close()
    return total


# ---------------------------------------------------------------------- verification


def event_counts(url: str) -> tuple[int, int]:
    """(Ticket.Assigned events, all Ticket events) in the ledger's event store."""
    rows = sql(url, "SELECT count(*) FILTER (WHERE topic = 'ledger.domain:Ticket.Assigned'), "
               "count(*) FILTER (WHERE topic LIKE 'ledger.domain:Ticket.%') FROM ledger_events",
               fetch=True)
    return int(rows[0][0]), int(rows[0][1])


def verify(label: str, url: str, before: tuple[int, int], result: Result) -> str:
    """Nothing acknowledged was lost: 2xx <= recorded <= sent. Requests still in
    flight when wrk stops (at most one per connection) may be recorded without
    their response being counted."""
    after = event_counts(url)
    assigned = after[0] - before[0]
    events = after[1] - before[1]
    c = result.counts
    ok_assign, sent_assign = c.get("assign:2xx", 0), c.get("assign:sent", 0)
    ok_writes = sum(c.get(f"{k}:2xx", 0) for k in MIX_KINDS)
    sent_writes = sum(c.get(f"{k}:sent", 0) for k in MIX_KINDS)
    good = ok_assign <= assigned <= sent_assign and ok_writes <= events <= sent_writes
    return (f"  verify {label}/{result.workload}: Ticket.Assigned recorded {assigned:,} "
            f"(2xx assign responses {ok_assign:,}, sent {sent_assign:,}); Ticket events "
            f"recorded {events:,} (2xx commands {ok_writes:,}, sent {sent_writes:,}); "
            f"in flight at stop {sent_writes - sum(v for k, v in c.items() if k.split(':')[0] in MIX_KINDS and k.endswith('xx'))}: "
            f"{'OK (no acknowledged command lost)' if good else 'LOST OR EXTRA EVENTS'}")


# ---------------------------------------------------------------------- driver


def fmt(r: Result) -> str:
    counts = ", ".join(f"{k} {v:,}" for k, v in sorted(r.counts.items())
                       if not k.endswith(":sent"))
    line = (f"{r.app:<12} {r.workload:<7} {r.rps:>9,.0f} req/s  p50 {r.p50_ms:>7.2f} ms  "
            f"p99 {r.p99_ms:>7.2f} ms  non-2xx {r.non2xx:,}  socket errors {r.socket_errors}  "
            f"peak RSS {r.rss_mb:,.0f} MB  CPU/req {r.cpu_ms:.2f} ms + PostgreSQL "
            f"{r.pg_cpu_ms:.2f} ms  steal {r.steal_pct:.1f}% iowait {r.iowait_pct:.1f}%   "
            f"[{counts}]")
    return line + (f"\n  {r.note}" if r.note else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=None,
                        help="an EMPTY PostgreSQL database (the ledger's; sibling databases "
                             "are created for the other apps); default: a throwaway server")
    parser.add_argument("--duration", type=int, default=20, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--max-rate", type=int, default=4000,
                        help="req/s the pre-staged targets must last for (sizes the fill)")
    parser.add_argument("--prod-workers", type=int, default=2,
                        help="workers of the extra ledger-prod and crud-prod lines (0: skip them)")
    parser.add_argument("--apps", default="crud,library,ledger,ledger-prod,crud-prod")
    parser.add_argument("--per-kind", action="store_true",
                        help="also run accept, start, escalate and complete alone, after the "
                             "mix (targets of their own: a longer fill)")
    parser.add_argument("--per-kind-rate", type=int, default=2000,
                        help="req/s the per-kind targets must last for")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk")
    apps = [a for a in args.apps.split(",")
            if not a.endswith("-prod") or args.prod_workers > 0]

    n_assign = args.duration * args.max_rate
    n_mix = int(args.duration * args.max_rate * MIX_SHARE * 1.25) + 1000
    token = secrets.token_urlsafe(32)
    workdir = Path(tempfile.mkdtemp(prefix="ledger-bench-commands-"))
    pg = Postgres(args.database_url)
    servers: list[Server] = []
    results: list[Result] = []
    checks: list[str] = []
    try:
        settings = pg.durability()
        log(f"PostgreSQL {settings.get('server_version')}: fsync={settings.get('fsync')} "
            f"synchronous_commit={settings.get('synchronous_commit')} "
            f"full_page_writes={settings.get('full_page_writes')} "
            f"wal_sync_method={settings.get('wal_sync_method')}")
        if settings.get("fsync") != "on" or settings.get("synchronous_commit") != "on":
            log("WARNING: durability is off on this server; figures are not comparable.")
        urls = {"ledger": pg.database(None)}
        for app in apps:
            if app != "ledger":
                urls[app] = pg.database(app.replace("-", "_"))

        n_solo = int(args.duration * args.per_kind_rate * 1.1) + 500 if args.per_kind else 0
        plan = Plan.make(n_assign, n_mix, WARM_SECONDS * args.max_rate, n_solo)
        plan.write_files(workdir)
        log(f"plan: {n_assign:,} open tickets for assign, {n_mix:,} staged tickets per mix "
            f"command; files in {workdir}")
        started = time.perf_counter()
        for app in ("crud", "crud-prod"):
            if app in apps:
                fill_crud(urls[app], plan)
        ledgers = [urls[a] for a in apps if a.startswith("ledger")]
        events = fill_event_stores(plan, ledgers, urls.get("library"))
        for app in apps:
            sql(urls[app], "VACUUM ANALYZE")
        log(f"filled {len(apps)} stores ({events:,} events per event store) in "
            f"{time.perf_counter() - started:.0f} s")

        for app in apps:
            label = app if app != "ledger-prod" else "ledger-prod"
            t0 = time.perf_counter()
            server = start_server(app, urls[app], token, workdir, args.prod_workers)
            servers.append(server)
            log(f"{label}: ready on {server.base} in {time.perf_counter() - t0:.0f} s")
            warm_up(server, workdir, WARM_SECONDS, args.connections)
            if app.startswith("ledger"):
                server.wait_ready(timeout=900)
            for workload in ("assign", "mix", *(SOLO_KINDS if args.per_kind else ())):
                sql(pg.url, "CHECKPOINT")
                before = event_counts(urls[app]) if app.startswith("ledger") else None
                r = run_wrk(server, workload, workdir, args.duration, args.connections, workdir,
                            pg.postmaster)
                results.append(r)
                log(fmt(r))
                if before is not None:
                    # the read side catches up before anything else is measured
                    server.wait_ready(timeout=900)
                    checks.append(verify(label, urls[app], before, r))
                    log(checks[-1])
            server.stop()
            servers.remove(server)

        print(f"\ncommands benchmark: {args.connections} connections (wrk -t{args.connections} "
              f"-c{args.connections}), {args.duration} s per workload, PostgreSQL "
              f"{settings.get('server_version')} fsync={settings.get('fsync')} "
              f"synchronous_commit={settings.get('synchronous_commit')} "
              f"full_page_writes={settings.get('full_page_writes')}, {os.cpu_count()} CPUs")
        print(f"uvicorn for crud, library, ledger: {UVICORN_SETTINGS}")
        print(f"ledger-prod and crud-prod (extra lines, not the comparison): "
              f"{args.prod_workers} workers (ledger serve --workers, uvicorn --workers), "
              "otherwise the same")
        for r in results:
            print(fmt(r))
        for c in checks:
            print(c)
        by = {(r.app, r.workload): r for r in results}
        for base in ("crud", "crud-prod"):
            if ("ledger-prod", "assign") in by and (base, "assign") in by:
                print(f"ledger-prod/{base} (extra, ledger with {args.prod_workers} workers): "
                      f"assign {by['ledger-prod', 'assign'].rps / by[base, 'assign'].rps:.2f}, "
                      f"mix {by['ledger-prod', 'mix'].rps / by[base, 'mix'].rps:.2f}")
        for kind in SOLO_KINDS:
            if ("ledger", kind) in by and ("crud", kind) in by:
                print(f"{kind} ratio (alone): {by['ledger', kind].rps / by['crud', kind].rps:.2f}")
        if ("ledger", "mix") in by and ("crud", "mix") in by:
            print(f"mix ratio: {by['ledger', 'mix'].rps / by['crud', 'mix'].rps:.2f}")
        if ("ledger", "assign") in by and ("crud", "assign") in by:
            print(f"ratio: {by['ledger', 'assign'].rps / by['crud', 'assign'].rps:.2f}")
    finally:
        for server in servers:
            server.stop()
        pg.close()
        log(f"logs and wrk output kept in {workdir}")


if __name__ == "__main__":
    main()
