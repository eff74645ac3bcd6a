"""Export benchmark: ``GET /events/export`` and ``ledger export events`` over a
filled store, in events/s, with the peak RSS of the exporting process.

    nice python benchmarks/export.py                       # 100,000 events, throwaway PostgreSQL
    nice python benchmarks/export.py --events 1000000
    nice python benchmarks/export.py --database-url sqlite:////tmp/export.db

On a busy machine wall-clock rates understate the code: events per CPU-second
of the exporting process are printed too (the database's own CPU not counted).
The store is filled with replay.py's fill (realistic ticket stories). The
endpoint is measured against a real ``ledger serve`` process (its peak RSS, read
from /proc, before and after the export shows the memory an export costs); the
CLI in a child process writing to a file.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from replay import filled_store  # noqa: E402


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ledger_bin() -> str:
    candidate = Path(sys.executable).parent / "ledger"
    return str(candidate) if candidate.exists() else "ledger"


def measure_endpoint(url: str, fmt: str, events: int) -> dict:
    import httpx

    port, token = _free_port(), "bench-" + os.urandom(8).hex()
    env = {**os.environ, "LEDGER_DATABASE_URL": url, "LEDGER_ADMIN_TOKEN": token,
           "LEDGER_DEMO_ON_EMPTY": "false",
           "LEDGER_RUN_PROJECTIONS": "false",  # the export reads the event store only
           "PYTHONPATH": str(ROOT / "src")}
    server = subprocess.Popen([_ledger_bin(), "serve", "--host", "127.0.0.1", "--port", str(port),
                               "--no-demo"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("the server did not become ready")
            time.sleep(0.2)
        before = _peak_rss_mb(server.pid)
        cpu = _cpu_seconds(server.pid)
        started = time.perf_counter()
        lines = size = 0
        with httpx.stream("GET", f"{base}/events/export", params={"format": fmt},
                          headers={"Authorization": f"Bearer {token}"}, timeout=600) as r:
            r.raise_for_status()
            for chunk in r.iter_raw():
                size += len(chunk)
                lines += chunk.count(b"\n")
        seconds = time.perf_counter() - started
        cpu = _cpu_seconds(server.pid) - cpu
        exported = lines - (1 if fmt == "csv" else 0)
        assert exported == events, (exported, events)
        return {"events": exported, "seconds": seconds, "cpu": cpu, "mb": size / 1e6,
                "rss_before_mb": before, "rss_mb": _peak_rss_mb(server.pid)}
    finally:
        server.terminate()
        server.wait(timeout=30)


def measure_cli(url: str, fmt: str, events: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / f"events.{fmt}"
        code = ("import resource, sys, time\n"
                "from api.cli import app\n"
                "t = time.perf_counter()\n"
                "try:\n    app(sys.argv[1:])\n"
                "except SystemExit as e:\n    assert not e.code, e.code\n"
                "u = resource.getrusage(resource.RUSAGE_SELF)\n"
                "print(time.perf_counter() - t, u.ru_utime + u.ru_stime, u.ru_maxrss / 1024)\n")
        done = subprocess.run(
            [sys.executable, "-c", code, "export", "events", "--format", fmt,
             "--output", str(out), "--database-url", url],
            check=True, capture_output=True, text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
        seconds, cpu, rss = map(float, done.stdout.split()[-3:])
        with out.open("rb") as f:
            exported = sum(1 for _ in f) - (1 if fmt == "csv" else 0)
        assert exported == events, (exported, events)
        return {"events": exported, "seconds": seconds, "cpu": cpu,
                "mb": out.stat().st_size / 1e6,
                "rss_mb": rss}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--database-url", default=None,
                        help="an EMPTY database; default: a throwaway PostgreSQL")
    parser.add_argument("--formats", default="ndjson,csv")
    args = parser.parse_args()

    with filled_store(args.database_url, args.events) as (url, filled):
        events = filled["events"]
        for fmt in args.formats.split(","):
            api = measure_endpoint(url, fmt, events)
            print(f"GET /events/export?format={fmt}: {api['events'] / api['seconds']:,.0f} "
                  f"events/s ({api['mb']:.0f} MB in {api['seconds']:.1f} s; "
                  f"{api['events'] / max(api['cpu'], 1e-9):,.0f} events per CPU-second of the "
                  f"server); server peak RSS "
                  f"{api['rss_before_mb']:.0f} MB before, {api['rss_mb']:.0f} MB after",
                  flush=True)
            cli = measure_cli(url, fmt, events)
            print(f"ledger export events --format {fmt}: {cli['events'] / cli['seconds']:,.0f} "
                  f"events/s ({cli['mb']:.0f} MB in {cli['seconds']:.1f} s; "
                  f"{cli['events'] / max(cli['cpu'], 1e-9):,.0f} events per CPU-second, startup "
                  f"included); peak RSS "
                  f"{cli['rss_mb']:.0f} MB", flush=True)


if __name__ == "__main__":
    main()
