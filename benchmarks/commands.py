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
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit
from uuid import UUID, uuid4

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"
WRK_DIR = BENCH / "wrk"
sys.path.insert(0, str(ROOT / "src"))

ENGINEERS = [f"eng{i:03d}" for i in range(100)]
MIX_KINDS = ("assign", "accept", "start", "escalate", "complete")
#: the mix's commands that --per-kind also runs alone (assign is its own workload)
SOLO_KINDS = ("accept", "start", "escalate", "complete")
#: share of each write kind in the mix (wrk/mix.lua: 4 of every 25 requests)
MIX_SHARE = 4 / 25
#: seconds of unmeasured assign requests (own tickets) after each server starts
WARM_SECONDS = 3
PG_BIN = os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------- PostgreSQL


def with_db(url: str, dbname: str) -> str:
    p = urlsplit(url)
    return urlunsplit((p.scheme, p.netloc, "/" + dbname, p.query, p.fragment))


def dbname_of(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def sql(url: str, *statements: str, fetch: bool = False):  # noqa: ANN201
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        result = None
        for s in statements:
            cur = conn.execute(s)
            if fetch and cur.description:
                result = cur.fetchall()
        return result


class Postgres:
    """The one PostgreSQL server of the run: given, or a throwaway one (fsync on)."""

    def __init__(self, url: str | None) -> None:
        self.env = {**os.environ, "PG_THROWAWAY_STATE_DIR": f"/tmp/ledger-bench-cmd-{os.getpid()}"}
        self.throwaway_id: str | None = None
        self.postmaster: int | None = None  # the throwaway server's pid (CPU accounting)
        self.created: list[str] = []
        if url is None:
            url = self._start_throwaway()
        self.url = url

    def _start_throwaway(self) -> str:
        script = ROOT / "scripts" / "pg-throwaway.sh"
        out = subprocess.run([str(script), "start"], check=True, capture_output=True, text=True,
                             env=self.env).stdout
        values = dict(line.removeprefix("export ").split("=", 1)
                      for line in out.splitlines() if line.startswith("export "))
        url = values["LEDGER_TEST_POSTGRES_URL"]
        self.throwaway_id = values["PG_THROWAWAY_ID"]
        # The script passes fsync=off etc. on the server's command line, which outranks
        # ALTER SYSTEM; so record the settings and restart without those flags.
        sql(url, "ALTER SYSTEM SET fsync = on", "ALTER SYSTEM SET synchronous_commit = on",
            "ALTER SYSTEM SET full_page_writes = on", "SELECT pg_reload_conf()")
        state = Path(self.env["PG_THROWAWAY_STATE_DIR"]) / f"{self.throwaway_id}.state"
        conf = dict(line.split("=", 1) for line in state.read_text().splitlines() if "=" in line)
        tmp, port = conf["PG_TMP"], conf["PG_PORT"]
        opts = f"-p {port} -c listen_addresses=127.0.0.1 -k {tmp}/sock -c max_connections=200"
        cmd = [f"{PG_BIN}/pg_ctl", "-D", f"{tmp}/data", "-l", f"{tmp}/server.log", "-w",
               "-t", "60", "-o", opts, "restart"]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True)
        self.postmaster = int(Path(f"{tmp}/data/postmaster.pid").read_text().split()[0])
        return url

    def durability(self) -> dict[str, str]:
        rows = sql(self.url, "SELECT name, setting FROM pg_settings WHERE name IN "
                   "('fsync', 'synchronous_commit', 'full_page_writes', 'wal_sync_method', "
                   "'server_version', 'shared_buffers', 'max_connections')", fetch=True)
        return dict(rows)

    def database(self, suffix: str | None) -> str:
        """The ledger's database (suffix None), or a new sibling database."""
        if suffix is None:
            return self.url
        name = f"{dbname_of(self.url)}_{suffix}"
        sql(self.url, f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return with_db(self.url, name)

    def close(self) -> None:
        for name in self.created:
            try:
                sql(self.url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            except Exception as e:  # noqa: BLE001 - best effort
                log(f"could not drop {name}: {e}")
        if self.throwaway_id:
            subprocess.run([str(ROOT / "scripts" / "pg-throwaway.sh"), "stop",
                            self.throwaway_id], check=False, capture_output=True, env=self.env)


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


# ---------------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url: str, token: str | None = None, timeout: float = 5.0) -> tuple[int, bytes]:
    req = urllib.request.Request(url)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:  # noqa: S310 - localhost
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def tree_pids(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                children = Path(f"/proc/{p}/task/{task}/children").read_text().split()
                todo.extend(int(c) for c in children)
        except OSError:
            pass
    return pids


def machine_ticks() -> tuple[int, int, int]:
    """The machine's (total, iowait, steal) CPU ticks so far (/proc/stat): what a
    run lost to the hypervisor (steal) or to waiting on the disk (iowait)."""
    try:
        fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return (0, 0, 0)
    # user nice system idle iowait irq softirq steal guest guest_nice (guests are in user)
    return (sum(fields[:8]), fields[4], fields[7] if len(fields) > 7 else 0)


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of the given processes (and of their reaped children)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
    return total / ticks


def status_kb(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class Server:
    """One app as a uvicorn subprocess in its own process group."""

    def __init__(self, label: str, cmd: list[str], env: dict[str, str], port: int,
                 logfile: Path, ready_path: str, token: str | None) -> None:
        self.label, self.port, self.token = label, port, token
        self.base = f"http://127.0.0.1:{port}"
        self.ready_path = ready_path
        self.logfile = logfile
        self._log = logfile.open("wb")
        self.proc = subprocess.Popen(cmd, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                     cwd=str(ROOT), start_new_session=True)

    def wait_ready(self, timeout: float = 900.0) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.label} exited ({self.proc.returncode}); see "
                                   f"{self.logfile}:\n{self.logfile.read_text()[-3000:]}")
            try:
                status, body = http_get(self.base + self.ready_path, self.token)
                last = f"{status} {body[:200]!r}"
                if status == 200:
                    if self.ready_path != "/readyz" or json.loads(body).get("lag") == 0:
                        return
            except OSError as e:
                last = str(e)
            time.sleep(0.5)
        raise RuntimeError(f"{self.label} not ready after {timeout:.0f} s: {last}")

    def rss_kb(self) -> int:
        return sum(status_kb(p, "VmRSS") for p in tree_pids(self.proc.pid))

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)  # the group this run created
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
            except ProcessLookupError:
                pass
        self._log.close()


UVICORN_SETTINGS = "1 worker, loop auto (uvloop), http auto (httptools), no access log"


def start_server(kind: str, db_url: str, token: str, workdir: Path, workers: int) -> Server:
    port = free_port()
    py = sys.executable
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "LEDGER_ADMIN_TOKEN": token,
           "PYTHONUNBUFFERED": "1"}
    if kind in ("crud", "library", "crud-prod"):
        env["BENCH_DATABASE_URL"] = db_url
        n = workers if kind == "crud-prod" else 1
        cmd = [py, "-m", "uvicorn", f"{kind.removesuffix('-prod')}_app:app",
               "--app-dir", str(BENCH), "--host", "127.0.0.1", "--port", str(port),
               "--workers", str(n), "--log-level", "info", "--no-access-log"]
        ready = "/healthz"
    else:  # ledger, ledger-prod
        ledger = Path(py).parent / "ledger"
        n = workers if kind == "ledger-prod" else 1
        cmd = [str(ledger), "serve", "--host", "127.0.0.1", "--port", str(port),
               "--database-url", db_url, "--workers", str(n), "--no-access-log"]
        ready = "/readyz"
    server = Server(kind, cmd, env, port, workdir / f"{kind}.log", ready, token)
    try:
        server.wait_ready()
    except BaseException:
        server.stop()
        raise
    return server


# ---------------------------------------------------------------------- wrk


@dataclass
class Result:
    app: str
    workload: str
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    non2xx: int
    socket_errors: int
    counts: dict[str, int]
    rss_mb: float
    cpu_ms: float = 0.0  # server process tree, per request
    pg_cpu_ms: float = 0.0  # PostgreSQL (throwaway only), per request
    note: str = ""
    steal_pct: float = 0.0  # the machine's CPU time taken by the hypervisor during the run
    iowait_pct: float = 0.0


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse_wrk(out: str) -> dict:
    data = json.loads(out.split("BENCH_JSON ", 1)[1].splitlines()[0])
    pct = dict(re.findall(r"^\s+(\d+)%\s+(\S+)$", out, re.M))
    data["p50_ms"] = _ms(pct["50"]) if "50" in pct else data["p50_us"] / 1000
    data["p99_ms"] = _ms(pct["99"]) if "99" in pct else data["p99_us"] / 1000
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    data["rps"] = float(m.group(1)) if m else data["requests"] / (data["duration_us"] / 1e6)
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    data["non2xx_wrk"] = int(m.group(1)) if m else 0
    return data


def warm_up(server: Server, datadir: Path, seconds: int, connections: int) -> None:
    """A short assign run on its own tickets (warm.txt), not measured."""
    cmd = ["wrk", f"-t{connections}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s",
           "-s", str(WRK_DIR / "assign.lua"), server.base, "--", str(datadir), server.token,
           str(connections), "warm.txt"]
    subprocess.run(cmd, capture_output=True, check=True, timeout=seconds + 60,
                   env={**os.environ, "BENCH_WRK_DIR": str(WRK_DIR)})


def run_wrk(server: Server, workload: str, datadir: Path, duration: int, connections: int,
            workdir: Path, postmaster: int | None = None) -> Result:
    solo = workload in SOLO_KINDS
    script = WRK_DIR / ("mix.lua" if solo else f"{workload}.lua")
    cmd = ["wrk", f"-t{connections}", f"-c{connections}", f"-d{duration}s", "--timeout", "10s",
           "--latency", "-s", str(script), server.base, "--", str(datadir), server.token,
           str(connections), *([workload] if solo else [])]
    peak = [0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], server.rss_kb())
            stop.wait(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    pg_pids = (lambda: tree_pids(postmaster)) if postmaster else list
    cpu0, pg0 = cpu_seconds(tree_pids(server.proc.pid)), cpu_seconds(pg_pids())
    machine0 = machine_ticks()
    sampler.start()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True,
                              env={**os.environ, "BENCH_WRK_DIR": str(WRK_DIR)},
                              timeout=duration + 120)
    finally:
        stop.set()
        sampler.join()
    machine = [b - a for a, b in zip(machine0, machine_ticks(), strict=True)]
    cpu = cpu_seconds(tree_pids(server.proc.pid)) - cpu0
    pg_cpu = cpu_seconds(pg_pids()) - pg0
    (workdir / f"wrk-{server.label}-{workload}.txt").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0 or "BENCH_JSON" not in proc.stdout:
        raise RuntimeError(f"wrk failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    d = parse_wrk(proc.stdout)
    counts = d["counts"]
    non2xx = sum(v for k, v in counts.items() if k.endswith("xx") and not k.endswith(":2xx"))
    sock = d["errors_connect"] + d["errors_read"] + d["errors_write"] + d["errors_timeout"]
    note = ""
    if counts.get("exhausted:2xx"):
        note = (f"WARNING: {counts['exhausted:2xx']} requests found their slice empty "
                "(raise --max-rate)")
    n = max(d["requests"], 1)
    return Result(server.label, workload, d["rps"], d["p50_ms"], d["p99_ms"], d["requests"],
                  non2xx, sock, counts, peak[0] / 1024, 1000 * cpu / n, 1000 * pg_cpu / n, note,
                  100 * machine[2] / max(machine[0], 1), 100 * machine[1] / max(machine[0], 1))


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
                server.wait_ready(timeout=120)
            for workload in ("assign", "mix", *(SOLO_KINDS if args.per_kind else ())):
                sql(pg.url, "CHECKPOINT")
                before = event_counts(urls[app]) if app.startswith("ledger") else None
                r = run_wrk(server, workload, workdir, args.duration, args.connections, workdir,
                            pg.postmaster)
                results.append(r)
                log(fmt(r))
                if before is not None:
                    # the read side catches up before anything else is measured
                    server.wait_ready(timeout=120)
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
