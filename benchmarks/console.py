"""Console page times: each page's server time at a store of N tickets.

    python benchmarks/console.py                        # 100,000 tickets, throwaway PostgreSQL
    python benchmarks/console.py --tickets 20000 --database-url sqlite:////tmp/console.db

Fills the store (benchmarks/replay.py's stories: rejections, reassignments,
escalations, completions; each ticket opened at a random time in the past
``--spread-days``, default a year, as a store that grew over time), starts
``ledger serve``, waits for it and the database to settle after catching up
(the sealer's checkpoints at the head, no autovacuum worker running: one-off
work after a bulk load, not the pages'), signs in through the login form like
a person, then asks for the pages in ``--requests`` rounds, each page once per
round in a shuffled order, one request at a time, on loopback: the time to the
whole response is the server's time plus a loopback round trip, and whatever
else the machine does falls on every page alike. Prints p50, p95 and max per
page and whether p95 is under the 50 ms goal (issue 23).

``--compare SRC`` also serves the same store from another checkout's ``src``
(``ledger serve --api-only``, beside the first) and asks both servers for each
page in every round, in a shuffled order: before/after figures from one run.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(ROOT / "src"))

from replay import filled_store  # noqa: E402

GOAL_MS = 50.0
#: Events per ticket of replay.py's stories, on average (to size the fill).
EVENTS_PER_TICKET = 6.9


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(url: str, token: str, workdir: Path, src: Path = ROOT / "src",
          api_only: bool = False) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(src), "LEDGER_ADMIN_TOKEN": token,
           "LEDGER_SIGNING_KEY": str(workdir / "signing.key")}
    log = (workdir / f"serve-{port}.log").open("wb")
    cmd = [str(Path(sys.executable).parent / "ledger"), "serve", "--host", "127.0.0.1",
           "--port", str(port), "--database-url", url, "--no-access-log",
           *(["--api-only"] if api_only else [])]
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 1800
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"ledger serve exited; see {log.name}")
        try:
            r = httpx.get(base + "/readyz", timeout=5)
            if r.status_code == 200 and r.json().get("lag") == 0:
                return proc, base
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise RuntimeError("ledger serve did not catch up in 30 minutes")


def signed_in(base: str, token: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=30)
    form = client.get("/console/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    r = client.post("/console/login", data={"token": token, "csrf": csrf, "next": "/console/"})
    if r.status_code not in (200, 303):
        raise RuntimeError(f"sign-in failed: {r.status_code}")
    return client


def pages(client: httpx.Client, rng: random.Random) -> dict[str, list[str]]:
    """Each page to time, with the concrete paths to ask for (random ids)."""
    api = {"Authorization": client.headers.get("x-bench-token", "")}
    tickets = [t["id"] for t in client.get("/tickets", params={"limit": 500}, headers=api)
               .json()["items"]]
    engineers = [e["id"] for e in client.get("/engineers", params={"limit": 500}, headers=api)
                 .json()["items"]]
    return {
        "board": ["/console/"],
        "board, priority filter": ["/console/?priority=critical"],
        "board, reference search": ["/console/?q=REF-none"],
        "ticket": [f"/console/tickets/{rng.choice(tickets)}" for _ in range(50)],
        "engineer": [f"/console/engineers/{rng.choice(engineers)}" for _ in range(50)],
        "audit": ["/console/audit"],
        "audit, type filter": ["/console/audit?type=Ticket.Escalated"],
        "operations": ["/console/operations"],
        "reports (30 days)": ["/console/reports"],
    }


def settle(base: str, token: str, url: str, limit: float = 900) -> float:
    """Waits until the sealer has sealed up to the head and (PostgreSQL) no
    autovacuum worker runs, twice in a row; returns the seconds waited."""
    started = time.monotonic()
    head = httpx.get(base + "/readyz", timeout=5).json()["head"]
    quiet = 0
    while quiet < 2 and time.monotonic() - started < limit:
        sealed = httpx.get(base + "/audit/checkpoints", params={"after": max(head - 1000, 0)},
                           headers={"Authorization": f"Bearer {token}"}, timeout=30).json()
        vacuums = 0
        if url.startswith("postgres"):
            import psycopg

            with psycopg.connect(url, autocommit=True) as conn:
                vacuums = conn.execute("SELECT count(*) FROM pg_stat_activity "
                                       "WHERE backend_type = 'autovacuum worker'").fetchone()[0]
        quiet = quiet + 1 if sealed["items"] and not vacuums else 0
        time.sleep(2)
    return time.monotonic() - started


def timed_get(client: httpx.Client, path: str) -> float:
    started = time.perf_counter()
    r = client.get(path)
    elapsed = (time.perf_counter() - started) * 1000
    if r.status_code != 200:
        raise RuntimeError(f"{path}: {r.status_code} {r.text[:300]}")
    return elapsed


def measure(clients: dict[str, httpx.Client], pages: dict[str, list[str]], rounds: int,
            rng: random.Random) -> dict[tuple[str, str], list[float]]:
    """(server, page) -> times: every round asks every server for every page
    once, in a shuffled order."""
    times: dict[tuple[str, str], list[float]] = {(c, p): [] for c in clients for p in pages}
    for warm in (True, False):
        for _ in range(10 if warm else rounds):
            order = list(times)
            rng.shuffle(order)
            for server, page in order:
                elapsed = timed_get(clients[server], rng.choice(pages[page]))
                if not warm:
                    times[(server, page)].append(elapsed)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--database-url", default=None,
                        help="an empty store (default: a throwaway PostgreSQL)")
    parser.add_argument("--requests", type=int, default=200, help="per page")
    parser.add_argument("--spread-days", type=float, default=365,
                        help="tickets opened over this many past days (0: all now)")
    parser.add_argument("--compare", type=Path, default=None, metavar="SRC",
                        help="another checkout's src directory to serve the same store")
    args = parser.parse_args()
    rng = random.Random(7)
    token = secrets.token_urlsafe(24)
    events = int(args.tickets * EVENTS_PER_TICKET)
    with filled_store(args.database_url, events, args.spread_days) as (url, _filled), \
            tempfile.TemporaryDirectory() as tmp:
        procs = []
        try:
            proc, base = serve(url, token, Path(tmp))
            procs.append(proc)
            waited = settle(base, token, url)
            bases = {"this": base}
            if args.compare:
                proc, bases["compared"] = serve(url, token, Path(tmp), args.compare.resolve(),
                                                api_only=True)
                procs.append(proc)
            clients = {name: signed_in(b, token) for name, b in bases.items()}
            clients["this"].headers["x-bench-token"] = f"Bearer {token}"
            count = httpx.get(base + "/readyz", timeout=5).json()
            print(f"store: {url.split('@')[-1]}; head {count.get('head'):,}; settled after "
                  f"{waited:.0f} s", flush=True)
            paths = pages(clients["this"], rng)
            started = time.monotonic()
            times = measure(clients, paths, args.requests, rng)
            print(f"{len(paths) * len(clients) * (args.requests + 10):,} requests in "
                  f"{time.monotonic() - started:.0f} s", flush=True)
            print(f"{'page':26} {'server':9} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}  "
                  f"goal p95 < {GOAL_MS:.0f} ms")
            worst = 0.0
            for name in paths:
                for server in clients:
                    got = times[(server, name)]
                    p95 = statistics.quantiles(got, n=20)[18]
                    if server == "this":
                        worst = max(worst, p95)
                    print(f"{name:26} {server:9} {statistics.median(got):8.1f} {p95:8.1f} "
                          f"{max(got):8.1f}  {'ok' if p95 < GOAL_MS else 'OVER'}", flush=True)
                if args.compare:
                    ratio = (statistics.median(times[("this", name)])
                             / statistics.median(times[("compared", name)]))
                    print(f"{'':26} p50 this/compared {ratio:.2f}", flush=True)
            print(f"worst p95: {worst:.1f} ms ({'met' if worst < GOAL_MS else 'not met'})")
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait(timeout=30)


if __name__ == "__main__":
    main()
