"""The tuned write path against a real `ledger serve` process, on SQLite and
PostgreSQL: durable before any 2xx (SIGKILL under load, restart, count),
read-your-writes under concurrency, and a conflicting command in the middle of
concurrent ones answering 409/412 alone.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest

from ledger.application import Ledger

TOKEN = "command-path-" + uuid4().hex
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`ledger serve` in a subprocess (its own session, so it can be killed)."""

    def __init__(self, database_url: str, workdir: Path, workers: int = 1) -> None:
        self.database_url = database_url
        self.workdir = workdir
        self.workers = workers
        self.process: subprocess.Popen[bytes] | None = None
        self.base = ""

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
        env.update({"LEDGER_ADMIN_TOKEN": TOKEN, "LEDGER_ACTOR": "e2e-kill",
                    "LEDGER_DEMO_ON_EMPTY": "false"})
        ledger = Path(sys.executable).parent / "ledger"
        for _attempt in range(3):
            port = _free_port()
            log = (self.workdir / f"serve-{port}.log").open("wb")
            self.process = subprocess.Popen(
                [str(ledger), "serve", "--host", "127.0.0.1", "--port", str(port),
                 "--database-url", self.database_url, "--workers", str(self.workers)],
                cwd=self.workdir, env=env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            log.close()
            self.base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and self.process.poll() is None:
                try:
                    if httpx.get(f"{self.base}/readyz", timeout=2).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                time.sleep(0.05)
            self.stop()
        logs = "\n".join(p.read_text()[-2000:] for p in self.workdir.glob("serve-*.log"))
        raise AssertionError(f"ledger serve did not start:\n{logs}")

    def kill(self) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)  # and its workers, if any
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base, headers=AUTH, timeout=30)


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[Server]:
    s = Server(database_url, tmp_path)
    s.start()
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture
def two_workers(postgres_url_factory: Callable[[], str], tmp_path: Path) -> Iterator[Server]:
    """`ledger serve --workers 2` (PostgreSQL): both processes answer commands,
    one runs the projections."""
    s = Server(postgres_url_factory(), tmp_path, workers=2)
    s.start()
    try:
        yield s
    finally:
        s.stop()


def _ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, (response.status_code, response.text)
    return response.json()


def _setup(c: httpx.Client, engineers: int, tickets: int) -> tuple[list[str], list[str]]:
    eng = [f"eng-{uuid4().hex[:10]}" for _ in range(engineers)]
    for e in eng:
        _ok(c.post("/engineers", json={"id": e, "name": e, "capacity": 1000}), 201)
    ids = [_ok(c.post("/tickets", json={"title": f"t{i}"}), 201)["id"] for i in range(tickets)]
    return eng, ids


def _in_threads(n: int, work: Callable[[int], None]) -> None:
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            work(i)
        except BaseException as e:  # noqa: BLE001 - re-raised below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    if errors:
        raise errors[0]


def test_every_2xx_command_survives_a_sigkill_under_load(server: Server) -> None:
    survives_a_sigkill_under_load(server)


@pytest.mark.postgres
def test_two_workers_every_2xx_command_survives_a_sigkill_under_load(
    two_workers: Server,
) -> None:
    survives_a_sigkill_under_load(two_workers)


def survives_a_sigkill_under_load(server: Server) -> None:
    with server.client() as c:
        engineers, tickets = _setup(c, engineers=4, tickets=96)
    acknowledged: list[tuple[str, str]] = []  # (ticket, assignment)
    lock = threading.Lock()
    enough = threading.Event()

    def load(i: int) -> None:
        with server.client() as c:
            for t in tickets[i::8]:
                try:
                    r = c.post("/assignments", json={"ticket_id": t, "tier": 1,
                                                     "engineer_id": engineers[i % 4]})
                except httpx.HTTPError:
                    return  # the server was killed under this request
                if r.status_code == 201:
                    with lock:
                        acknowledged.append((t, r.json()["id"]))
                        if len(acknowledged) >= 40:
                            enough.set()

    killer = threading.Thread(target=lambda: (enough.wait(120), server.kill()))
    killer.start()
    _in_threads(8, load)
    killer.join(130)
    assert server.process is not None and server.process.returncode == -signal.SIGKILL
    assert len(acknowledged) >= 40

    # Every acknowledged assignment is in the event store...
    ledger = Ledger(server.database_url)
    try:
        for t, aid in acknowledged:
            assert UUID(aid) in ledger.get_ticket(UUID(t)).assignments
    finally:
        ledger.close()
    # ...and the restarted server serves it.
    server.start()
    with server.client() as c:
        head = _ok(c.get("/readyz"))["head"]
        for _t, aid in acknowledged:
            row = _ok(c.get(f"/assignments/{aid}", params={"min_position": head}))
            assert row["status"] == "assigned"


def test_read_your_writes_under_concurrency(server: Server) -> None:
    read_your_writes_under_concurrency(server)


@pytest.mark.postgres
def test_two_workers_read_your_writes_under_concurrency(two_workers: Server) -> None:
    """Each worker answers its commands from its own transaction's rows: the
    next request, whichever worker takes it, reads them."""
    read_your_writes_under_concurrency(two_workers)


def read_your_writes_under_concurrency(server: Server) -> None:
    with server.client() as c:
        engineers, tickets = _setup(c, engineers=4, tickets=48)
    checked = [0]
    lock = threading.Lock()

    def check(c: httpx.Client, answer: httpx.Response, aid: str) -> None:
        body = _ok(answer, 201 if answer.request.url.path == "/assignments" else 200)
        assert "x-ledger-consistency" not in answer.headers
        position = int(answer.headers["x-ledger-position"])
        # Without waiting: the read tables already include the position, and
        # the assignment (touched by this thread only) reads back as answered.
        assert _ok(c.get("/readyz"))["position"] >= position
        assert _ok(c.get(f"/assignments/{aid}")) == body

    def work(i: int) -> None:
        with server.client() as c:
            for t in tickets[i::8]:
                r = c.post("/assignments", json={"ticket_id": t, "tier": 1,
                                                 "engineer_id": engineers[i % 4]})
                aid = _ok(r, 201)["id"]
                check(c, r, aid)
                check(c, c.post(f"/assignments/{aid}/accept"), aid)
                check(c, c.post(f"/assignments/{aid}/start"), aid)
                with lock:
                    checked[0] += 1

    _in_threads(8, work)
    assert checked[0] == len(tickets)


def test_a_stale_command_among_concurrent_ones_answers_alone(server: Server) -> None:
    """The server caches ticket A; another process accepts A's assignment. Then,
    among concurrent assigns on other tickets, a start pinned to A's old version
    answers 412 and an accept answers 409 (judged on the stored state), while
    every other command succeeds."""
    with server.client() as c:
        engineers, tickets = _setup(c, engineers=2, tickets=33)
        a, others = tickets[0], tickets[1:]
        first = c.post("/assignments", json={"ticket_id": a, "tier": 1,
                                             "engineer_id": engineers[0]})
        aid = _ok(first, 201)["id"]
        cached_version = int(first.headers["etag"].strip('"'))
    elsewhere = Ledger(server.database_url)
    try:
        elsewhere.accept(UUID(a), UUID(aid), actor=engineers[0]).result()
    finally:
        elsewhere.close()

    results: dict[str, httpx.Response] = {}

    def work(i: int) -> None:
        with server.client() as c:
            if i == 0:
                results["start"] = c.post(f"/assignments/{aid}/start",
                                          headers={"If-Match": f'"{cached_version}"'})
                return
            if i == 1:
                results["accept"] = c.post(f"/assignments/{aid}/accept")
                return
            for t in others[i - 2::6]:
                results[t] = c.post("/assignments", json={"ticket_id": t, "tier": 1,
                                                          "engineer_id": engineers[1]})

    _in_threads(8, work)
    stale = results.pop("start")
    assert stale.status_code == 412, stale.text
    assert stale.headers["content-type"].startswith("application/problem+json")
    assert stale.headers["etag"] == f'"{cached_version + 1}"'
    refused = results.pop("accept")
    assert refused.status_code == 409, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert sorted(results) == sorted(others)
    assert all(r.status_code == 201 for r in results.values()), [
        r.text for r in results.values() if r.status_code != 201]
    with server.client() as c:
        assert _ok(c.get(f"/assignments/{aid}"))["status"] == "accepted"


def test_a_deactivated_engineer_is_refused_once_deactivated_anywhere(server: Server) -> None:
    """The server answers "is this engineer active?" from memory while it leads the
    projections. A deactivation through it is seen at once; one recorded by
    another process is seen once its runner has folded it."""
    refused_once_deactivated_anywhere(server)


@pytest.mark.postgres
def test_two_workers_refuse_a_deactivated_engineer(two_workers: Server) -> None:
    """Whichever worker records the deactivation, the leader (which caches the
    flags) has folded it before the PATCH is answered."""
    refused_once_deactivated_anywhere(two_workers)


def refused_once_deactivated_anywhere(server: Server) -> None:
    with server.client() as c:
        (here, there), tickets = _setup(c, engineers=2, tickets=4)
        for e, t in ((here, tickets[0]), (there, tickets[1])):  # both flags cached
            _ok(c.post("/assignments", json={"ticket_id": t, "tier": 1, "engineer_id": e}), 201)

        _ok(c.patch(f"/engineers/{here}", json={"active": False}))
        refused = c.post("/assignments", json={"ticket_id": tickets[2], "tier": 1,
                                               "engineer_id": here})
        assert refused.status_code == 422, refused.text

        elsewhere = Ledger(server.database_url)
        try:
            result = elsewhere.update_engineer(there, changes={"active": False}, actor="other").result()
            assert result is not None
        finally:
            elsewhere.close()
        row = _ok(c.get(f"/engineers/{there}", params={"min_position": result.position}))
        assert row["active"] is False
        refused = c.post("/assignments", json={"ticket_id": tickets[3], "tier": 1,
                                               "engineer_id": there})
        assert refused.status_code == 422, refused.text
        assert _ok(c.get(f"/tickets/{tickets[3]}"))["status"] == "open"
