"""Console page times: each page's server time at a store of N tickets.

    python benchmarks/console.py                        # 100,000 tickets, throwaway PostgreSQL
    python benchmarks/console.py --tickets 20000 --database-url sqlite:////tmp/console.db

Fills the store (benchmarks/replay.py's stories: rejections, reassignments,
escalations, completions; each ticket opened at a random time in the past
``--spread-days``, default a year, as a store that grew over time), starts
``ledger serve``, signs in through the login
form like a person, then asks for each page ``--requests`` times, one at a time,
on loopback: the time to the whole response is the server's time plus a
loopback round trip. Prints p50, p95 and max per page and whether p95 is under
the 50 ms goal (issue 23).
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


def serve(url: str, token: str, workdir: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "LEDGER_ADMIN_TOKEN": token,
           "LEDGER_SIGNING_KEY": str(workdir / "signing.key")}
    log = (workdir / "serve.log").open("wb")
    cmd = [str(Path(sys.executable).parent / "ledger"), "serve", "--host", "127.0.0.1",
           "--port", str(port), "--database-url", url, "--no-access-log"]
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 1800
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"ledger serve exited; see {workdir / 'serve.log'}")
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


def measure(client: httpx.Client, paths: list[str], n: int, rng: random.Random) -> list[float]:
    times = []
    for _ in range(n):
        path = rng.choice(paths)
        started = time.perf_counter()
        r = client.get(path)
        times.append((time.perf_counter() - started) * 1000)
        if r.status_code != 200:
            raise RuntimeError(f"{path}: {r.status_code} {r.text[:300]}")
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--database-url", default=None,
                        help="an empty store (default: a throwaway PostgreSQL)")
    parser.add_argument("--requests", type=int, default=200, help="per page")
    parser.add_argument("--spread-days", type=float, default=365,
                        help="tickets opened over this many past days (0: all now)")
    args = parser.parse_args()
    rng = random.Random(7)
    token = secrets.token_urlsafe(24)
    events = int(args.tickets * EVENTS_PER_TICKET)
    with filled_store(args.database_url, events, args.spread_days) as (url, _filled), \
            tempfile.TemporaryDirectory() as tmp:
        proc, base = serve(url, token, Path(tmp))
        try:
            client = signed_in(base, token)
            client.headers["x-bench-token"] = f"Bearer {token}"
            count = httpx.get(base + "/readyz", timeout=5).json()
            print(f"store: {url.split('@')[-1]}; head {count.get('head'):,}", flush=True)
            print(f"{'page':26} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}  goal p95 < {GOAL_MS:.0f} ms")
            worst = 0.0
            for name, paths in pages(client, rng).items():
                measure(client, paths, 10, rng)  # warm caches and connections
                times = measure(client, paths, args.requests, rng)
                p95 = statistics.quantiles(times, n=20)[18]
                worst = max(worst, p95)
                print(f"{name:26} {statistics.median(times):8.1f} {p95:8.1f} {max(times):8.1f}"
                      f"  {'ok' if p95 < GOAL_MS else 'OVER'}", flush=True)
            print(f"worst p95: {worst:.1f} ms ({'met' if worst < GOAL_MS else 'not met'})")
        finally:
            proc.terminate()
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
