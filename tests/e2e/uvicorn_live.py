"""A real ``uvicorn`` process serving ``create_app()``, for tests that need a live
server: concurrent clients over real sockets, or a database that goes away under it.

``serving(database_url, tmp_path)`` starts it on a free port with an admin token
and yields ``(base_url, token)``; it is stopped (SIGTERM, then SIGKILL) on exit.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from uuid import uuid4

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_process(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def wait_ready(base: str, process: subprocess.Popen, seconds: float = 60) -> bool:
    """Whether the server at ``base`` answers ``/readyz`` with 200 within
    ``seconds`` (False at once if its process ends)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    return False


@contextmanager
def serving(
    database_url: str, tmp_path: Path, **env_overrides: str
) -> Iterator[tuple[str, str]]:
    """uvicorn on a free port; yields (base URL, admin token)."""
    token = "live-admin-" + uuid4().hex
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    env.update({
        "LEDGER_DATABASE_URL": database_url,
        "LEDGER_ACTOR": "live-tester",
        "LEDGER_ADMIN_TOKEN": token,
        "LEDGER_DEMO_ON_EMPTY": "false",
        **env_overrides,
    })
    log_path = tmp_path / "uvicorn.log"
    for _attempt in range(3):
        port = free_port()
        with log_path.open("a") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory",
                 "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
                cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT,
            )
        base = f"http://127.0.0.1:{port}"
        if wait_ready(base, process):
            break
        stop_process(process)
    else:
        raise AssertionError(f"uvicorn did not start:\n{log_path.read_text()[-4000:]}")
    try:
        yield base, token
    finally:
        stop_process(process)
