"""Real ``ledger serve --api-only`` and ``ledger worker`` processes on one
PostgreSQL store, for the scenarios of several processes (docs/deploy.md):
failover of background jobs, rolling deploys, a read replica.

``Cluster`` starts them with one environment (an admin token, a signing key made
beforehand so that every process signs with it) and stops them all at the end;
``leader_pid(job)`` says which process leads a job (``projections.locks`` names
its lock connections ``ledger <job> pid <pid>``). ``Load`` keeps sending commands
to an API process from a thread and records every answer that is not a 2xx.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import psycopg

from ledger.signing import load_or_create
from uvicorn_live import free_port, is_ready, stop_process

LEDGER = Path(sys.executable).parent / "ledger"
_LEADER = re.compile(r"^ledger (?P<job>\S+) pid (?P<pid>\d+)$")


class Cluster:
    """Processes of one ledger store, stopped (SIGTERM, then SIGKILL) by ``stop()``."""

    def __init__(self, database_url: str, workdir: Path, **env: str) -> None:
        self.database_url = database_url
        self.workdir = workdir
        self.token = "cluster-admin-" + uuid4().hex
        key = workdir / "signing-key.pem"
        load_or_create(key)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
        self.env.update({
            "LEDGER_DATABASE_URL": database_url, "LEDGER_ADMIN_TOKEN": self.token,
            "LEDGER_DEMO_ON_EMPTY": "false", "LEDGER_SIGNING_KEY": str(key),
            "PYTHONUNBUFFERED": "1", "COLUMNS": "200",
            # Small pools: these tests run several processes each, beside other tests.
            "LEDGER_POOL_SIZE": "3", **env,
        })
        self.processes: list[subprocess.Popen[bytes]] = []

    def _spawn(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        with (self.workdir / f"{name}.log").open("ab") as sink:
            process = subprocess.Popen([str(LEDGER), *args], cwd=self.workdir,
                                       env={**self.env, **env}, stdout=sink,
                                       stderr=subprocess.STDOUT)
        self.processes.append(process)
        return process

    def worker(self, name: str = "worker", **env: str) -> subprocess.Popen[bytes]:
        return self._spawn(name, ["worker"], env)

    def api(self, name: str = "api", **env: str) -> str:
        """An API-only process; returns its base URL once it is ready."""
        port = free_port()
        process = self._spawn(name, ["serve", "--api-only", "--no-access-log", "--host",
                                     "127.0.0.1", "--port", str(port)], env)
        base = f"http://127.0.0.1:{port}"
        if not is_ready(process, base, seconds=120):  # a loaded machine starts slowly
            raise AssertionError(f"{name} did not start:\n{self.log(name)}")
        return base

    def log(self, name: str) -> str:
        return (self.workdir / f"{name}.log").read_text(errors="replace")

    def logs(self) -> str:
        """Every process's state and log, for a failure's message."""
        parts = []
        for process in self.processes:
            state = "running" if process.poll() is None else f"exited {process.returncode}"
            parts.append(f"--- pid {process.pid} ({state})")
        for path in sorted(self.workdir.glob("*.log")):
            parts.append(f"--- {path.name}\n{path.read_text(errors='replace')[-4000:]}")
        return "\n".join(parts)

    def leaders(self) -> dict[str, int]:
        """Job name -> pid of the process that holds the job's lock now."""
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            names = conn.execute(
                "SELECT a.application_name FROM pg_locks l "
                "JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE l.locktype = 'advisory' AND l.granted AND a.datname = current_database()"
            ).fetchall()
        found = {}
        for (name,) in names:
            match = _LEADER.match(name or "")
            if match:
                found[match["job"]] = int(match["pid"])
        return found

    def leader_pids(self, job: str) -> set[int]:
        """The processes leading a job whose name starts with ``job`` (the
        projection runner's lock is named after the code's generation)."""
        return {pid for name, pid in self.leaders().items() if name.startswith(job)}

    def wait_for_leader(self, job: str, among: set[int], seconds: float) -> int:
        """The pid of ``job``'s leader once one of ``among`` holds it, else fails."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            found = self.leader_pids(job) & among
            if found:
                return found.pop()
            time.sleep(0.05)
        raise AssertionError(f"no process of {among} leads {job} after {seconds} s: "
                             f"{self.leaders()}\n{self.logs()}")

    def kill(self, pid: int) -> None:
        os.kill(pid, signal.SIGKILL)
        for process in self.processes:
            if process.pid == pid:
                process.wait(timeout=10)

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            stop_process(process)


class Load:
    """Commands sent to ``base`` from a thread until ``stop()``: open a ticket,
    assign it, accept, start, complete; every fourth round also registers an
    engineer (Engineer events are the runner's to project). Keeps every answer
    that is not a 2xx, and each command's position."""

    def __init__(self, base: str, token: str, engineers: list[str],
                 check: Callable[[httpx.Client, dict[str, Any]], None] | None = None) -> None:
        self.client = httpx.Client(base_url=base, timeout=30,
                                   headers={"Authorization": f"Bearer {token}"})
        self.engineers = engineers
        self.check = check
        self.failures: list[str] = []
        self.stale = 0
        self.commands = 0
        self.last_position = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="load", daemon=True)

    def send(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self.client.request(method, path, json=body)
        self.commands += 1
        if response.status_code >= 300:
            self.failures.append(f"{method} {path} -> {response.status_code}: {response.text}")
            raise AssertionError(self.failures[-1])
        if response.headers.get("X-Ledger-Consistency") == "stale":
            self.stale += 1
        self.last_position = max(self.last_position,
                                 int(response.headers.get("X-Ledger-Position", 0)))
        return response.json()

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            n += 1
            try:
                if n % 4 == 0:
                    engineer = self.send("POST", "/engineers", {
                        "id": f"load-{uuid4().hex[:10]}", "name": "Load", "skills": ["mri"],
                        "tier": 1, "capacity": 50, "availability": 1.0})
                    self.engineers.append(engineer["id"])
                ticket = self.send("POST", "/tickets", {"title": f"load {n}"})
                engineer_id = self.engineers[n % len(self.engineers)]
                assignment = self.send("POST", "/assignments", {
                    "ticket_id": ticket["id"], "engineer_id": engineer_id, "tier": 1})
                for step in ("accept", "start"):
                    self.send("POST", f"/assignments/{assignment['id']}/{step}")
                done = self.send("POST", f"/assignments/{assignment['id']}/complete",
                                 {"completion_status": "success", "time_spent_hours": 1.0})
                if self.check is not None:
                    self.check(self.client, done)
            except AssertionError as e:
                if not self.failures or self.failures[-1] != str(e):
                    self.failures.append(f"check: {e}")
                if len(self.failures) > 20:
                    return
            except httpx.HTTPError as e:
                self.failures.append(f"{type(e).__name__}: {e}")

    def start(self) -> Load:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=60)
        self.client.close()
