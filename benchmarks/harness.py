"""What the HTTP benchmarks share: the PostgreSQL server of a run (given, or a
throwaway one with fsync on), the apps as uvicorn subprocesses, wrk runs with the
server's CPU, peak RSS and the machine's steal measured around them.

``commands.py`` (commands), ``queries.py`` (reads), ``coverage.py`` and
``gil_handoff.py`` build on it; ``commands.py`` keeps its workloads' data.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"
WRK_DIR = BENCH / "wrk"
PG_BIN = os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin")
#: the mix's commands that ``commands.py --per-kind`` runs alone (wrk/mix.lua's 4th argument)
SOLO_KINDS = ("accept", "start", "escalate", "complete")

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
        caught_up = 0
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.label} exited ({self.proc.returncode}); see "
                                   f"{self.logfile}:\n{self.logfile.read_text()[-3000:]}")
            try:
                status, body = http_get(self.base + self.ready_path, self.token)
                last = f"{status} {body[:200]!r}"
                if status == 200:
                    if self.ready_path != "/readyz":
                        return
                    if json.loads(body).get("lag") == 0 and self.jobs_caught_up():
                        caught_up += 1
                        if caught_up == 2:  # a job may not have taken its lead at the first
                            return
                    else:
                        caught_up = 0
            except OSError as e:
                last = str(e)
            time.sleep(0.5)
        raise RuntimeError(f"{self.label} not ready after {timeout:.0f} s: {last}")

    def jobs_caught_up(self) -> bool:
        """Whether the ledger's background jobs (checkpoint sealer, repeat-fault
        policy) have followed the log to its head: on a store filled by copying
        events they start from position 0, and their catching up would be
        measured as the load's CPU and latency."""
        status, body = http_get(self.base + "/metrics", self.token)
        if status != 200:
            return False
        head, jobs = 0.0, []
        for line in body.decode().splitlines():
            if line.startswith("ledger_head_position "):
                head = float(line.split()[-1])
            elif line.startswith("ledger_job_position{"):
                jobs.append(float(line.split()[-1]))
        # None shown: this process leads no job (one of several workers); ask again.
        return bool(jobs) and all(p >= head for p in jobs)

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
