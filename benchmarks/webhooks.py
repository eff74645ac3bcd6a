"""Webhook benchmark, in one run (machine load shows in both parts alike):

1. deliveries per second to a local receiver that answers at once (goal >= 1,000/s):
   --endpoints endpoints registered, then --events events recorded; the delivery
   job starts and the clock runs until every endpoint's durable position reaches
   the head (each event to each endpoint, signed, over HTTP). The receiver is a
   minimal asyncio HTTP server in its own process (204 to every POST), which
   also counts what it got.
2. assign p99 with five dead endpoints configured vs none (goal: within 10 %):
   one `ledger serve`, --rounds phases of each kind alternating none / dead, each
   --phase seconds, --clients threads each opening a ticket (not timed) and
   assigning it (timed); p50/p99 over all phases of a kind, and the server's CPU
   time per ticket + assign (a figure machine load disturbs less). "Dead" endpoints accept connections and never answer
   (10 s timeout, then back-off), deactivated again for the "none" phases.

    .venv/bin/python benchmarks/webhooks.py                  # SQLite in a temp dir
    .venv/bin/python benchmarks/webhooks.py --database-url postgresql://u:p@h:5432/empty
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from uuid import uuid4

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
LEDGER = Path(sys.executable).parent / "ledger"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---------------------------------------------------------------- the receiver


def receive(port: int) -> None:
    """Answers 204 to every request on ``port``; ``GET /count`` answers the number
    of POSTs so far."""
    count = 0

    class Receiver(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport
            self.buffer = b""

        def data_received(self, data: bytes) -> None:
            nonlocal count
            self.buffer += data
            while True:
                end = self.buffer.find(b"\r\n\r\n")
                if end < 0:
                    return
                head = self.buffer[:end].decode("latin-1")
                length = 0
                for line in head.split("\r\n")[1:]:
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                if len(self.buffer) < end + 4 + length:
                    return
                self.buffer = self.buffer[end + 4 + length:]
                if head.startswith("GET /count"):
                    body = str(count).encode()
                    self.transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s"
                                         % (len(body), body))
                else:
                    count += 1
                    self.transport.write(b"HTTP/1.1 204 No Content\r\n\r\n")

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(Receiver, "127.0.0.1", port)
        async with server:
            await server.serve_forever()

    try:
        import uvloop

        uvloop.run(main())
    except ImportError:
        asyncio.run(main())


def received(port: int) -> int:
    import httpx

    return int(httpx.get(f"http://127.0.0.1:{port}/count", timeout=5).text)


# ---------------------------------------------------------------- part 1


def deliveries_per_second(database_url: str, endpoints: int, events: int) -> dict[str, float]:
    from api.app import build_services
    from api.settings import Settings
    from api.webhook_service import new_secret
    from ledger.ids import new_id

    port = free_port()
    receiver = subprocess.Popen([sys.executable, __file__, "--receiver", str(port)])
    settings = Settings(_env_file=None, database_url=database_url,  # type: ignore[call-arg]
                        webhook_allow_private=True)
    services = build_services(settings)
    try:
        time.sleep(0.5)
        ledger, job = services.ledger, services.webhooks
        for n in range(endpoints):
            webhook_id = new_id()
            job.table.put_secret(str(webhook_id), new_secret(), "2026-01-01T00:00:00.000000Z")
            ledger.register_webhook(webhook_id=webhook_id, url=f"http://127.0.0.1:{port}/{n}",
                                    event_types=None, description=None, actor="bench").result()
        first = ledger.head()
        futures = [ledger.open_ticket(actor="bench", title=f"t{n}") for n in range(events)]
        for f in futures:
            f.result()
        head = ledger.head()
        services.read_side.wait_for(head, 120)
        total = (head - first) * endpoints
        log(f"  {endpoints} endpoints x {head - first} events = {total} deliveries")
        started, cpu = time.perf_counter(), time.process_time()
        job.start()
        while True:
            states = job.table.states()
            if len(states) == endpoints and all(s.position >= head for s in states.values()):
                break
            time.sleep(0.05)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        job.stop()
        got = received(port)
        assert got >= total, (got, total)
        return {"deliveries": total, "seconds": elapsed, "per_second": total / elapsed,
                "received": got, "per_cpu_second": total / cpu}
    finally:
        services.close()
        receiver.terminate()
        receiver.wait()


# ---------------------------------------------------------------- part 2


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def assign_p99(
    database_url: str, workdir: Path, phase: float, rounds: int, clients: int
) -> dict[str, dict[str, float]]:
    import httpx

    black_hole = socket.socket()
    black_hole.bind(("127.0.0.1", 0))
    black_hole.listen(1024)
    dead_port = black_hole.getsockname()[1]
    port, token = free_port(), "bench-" + uuid4().hex
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    env.update({"LEDGER_ADMIN_TOKEN": token, "LEDGER_DEMO_ON_EMPTY": "false",
                "LEDGER_WEBHOOK_ALLOW_PRIVATE": "true"})
    server = subprocess.Popen(
        [str(LEDGER), "serve", "--host", "127.0.0.1", "--port", str(port), "--no-access-log",
         "--database-url", database_url],
        cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {token}"}
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("ledger serve did not start")
            time.sleep(0.1)
        admin = httpx.Client(base_url=base, headers=headers, timeout=30)
        engineers = [f"eng{n}" for n in range(clients)]
        for e in engineers:
            admin.post("/engineers", json={"id": e, "name": e, "capacity": 1000}).raise_for_status()
        dead = [admin.post("/webhooks", json={"url": f"http://127.0.0.1:{dead_port}/{n}"}
                           ).json()["id"] for n in range(5)]

        def set_dead(active: bool) -> None:
            for webhook_id in dead:
                admin.patch(f"/webhooks/{webhook_id}", json={"active": active}).raise_for_status()

        def run(seconds: float) -> list[float]:
            timings: list[float] = []
            stop = time.monotonic() + seconds

            def client(engineer: str) -> None:
                with httpx.Client(base_url=base, headers=headers, timeout=30) as c:
                    while time.monotonic() < stop:
                        ticket = c.post("/tickets", json={"title": "bench"}).json()["id"]
                        started = time.perf_counter()
                        r = c.post("/assignments", json={"ticket_id": ticket,
                                                         "engineer_id": engineer, "tier": 1})
                        timings.append(time.perf_counter() - started)
                        r.raise_for_status()

            threads = [threading.Thread(target=client, args=(e,)) for e in engineers]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            return timings

        set_dead(False)
        run(2.0)  # warm up
        timings: dict[str, list[float]] = {"none": [], "dead": []}
        cpu: dict[str, float] = {"none": 0.0, "dead": 0.0}
        for label in ("none", "dead") * rounds:
            set_dead(label == "dead")
            before = cpu_seconds(server.pid)
            timings[label] += run(phase)
            cpu[label] += cpu_seconds(server.pid) - before
        results = {}
        for label, values in timings.items():
            values.sort()
            results[label] = {
                "assigns": len(values), "p50": statistics.median(values) * 1000,
                "p99": values[int(len(values) * 0.99) - 1] * 1000,
                "cpu_ms": cpu[label] / len(values) * 1000,
            }
            log(f"  {label:5} assigns {len(values):5}  p50 {results[label]['p50']:6.2f} ms  "
                f"p99 {results[label]['p99']:6.2f} ms  server CPU per ticket+assign "
                f"{results[label]['cpu_ms']:.2f} ms")
        return results
    finally:
        server.terminate()
        server.wait(timeout=30)
        black_hole.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--receiver", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help="An empty database (default: SQLite in a temp dir).")
    parser.add_argument("--endpoints", type=int, default=10)
    parser.add_argument("--events", type=int, default=2000)
    # Each "dead" phase activates the endpoints again, and they replay their backlog
    # from their positions: short phases measure that catching up, not endpoints
    # that are configured and dead, which is what the goal is about.
    parser.add_argument("--phase", type=float, default=10.0, help="Seconds per assign phase.")
    parser.add_argument("--rounds", type=int, default=4,
                        help="Phases of each kind, alternating none / dead.")
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    if args.receiver:
        receive(args.receiver)
        return
    with tempfile.TemporaryDirectory(prefix="bench-webhooks-") as tmp:
        workdir = Path(tmp)
        url1 = args.database_url or f"sqlite:///{workdir}/deliveries.db"
        log("deliveries per second:")
        d = deliveries_per_second(url1, args.endpoints, args.events)
        log(f"  {d['deliveries']:.0f} in {d['seconds']:.2f} s: {d['per_second']:.0f}/s "
            f"(receiver counted {d['received']:.0f}); {d['per_cpu_second']:.0f} per CPU-second "
            "of the delivering process")
        if args.database_url:
            log("part 2 needs a second empty database: skipped with --database-url")
            return
        log("assign latency, five dead endpoints vs none:")
        r = assign_p99(f"sqlite:///{workdir}/assign.db", workdir, args.phase, args.rounds,
                       args.clients)
        log(f"  dead/none: p99 {r['dead']['p99'] / r['none']['p99']:.3f}, "
            f"p50 {r['dead']['p50'] / r['none']['p50']:.3f}, "
            f"CPU per command {r['dead']['cpu_ms'] / r['none']['cpu_ms']:.3f}")


if __name__ == "__main__":
    main()
