"""A real ``ledger serve`` process, for tests of what only the product command
does (its start-up output, its access log) or of what only a real server shows
(its memory while a client uploads).

``serving_ledger(database_url, workdir, *args)`` starts it on a free port with an
admin token (``LEDGER_ADMIN_TOKEN``) and yields a ``LiveLedger``; it is stopped
(SIGTERM, then SIGKILL) on exit. Its stdout and stderr go to ``output``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from uuid import uuid4

import httpx

from uvicorn_live import free_port, is_ready, stop_process

LEDGER = Path(sys.executable).parent / "ledger"


@dataclass
class LiveLedger:
    base: str
    token: str
    pid: int
    output: Path

    def log(self) -> str:
        return self.output.read_text(errors="replace")

    def logged(self, pattern: str, seconds: float = 10) -> str:
        """The output once it has a line matching ``pattern`` (a request is
        logged once its response has left, so a client may look too early)."""
        deadline = time.monotonic() + seconds
        while not re.search(pattern, text := self.log(), re.MULTILINE):
            if time.monotonic() > deadline:
                raise AssertionError(f"no line matches {pattern!r} in:\n{text}")
            time.sleep(0.02)
        return text

    def head(self) -> int:
        return httpx.get(f"{self.base}/readyz", timeout=10).json()["head"]


@contextmanager
def serving_ledger(
    database_url: str, workdir: Path, *args: str, env: dict[str, str] | None = None
) -> Iterator[LiveLedger]:
    """``env``: more environment variables (``LEDGER_*`` settings) for the server."""
    token = "live-admin-" + uuid4().hex
    extra = env or {}
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    env.update({"LEDGER_ADMIN_TOKEN": token, "LEDGER_DEMO_ON_EMPTY": "false",
                "PYTHONUNBUFFERED": "1", "COLUMNS": "200", **extra})
    port = free_port()
    output = workdir / f"ledger-serve-{port}.log"
    with output.open("w") as sink:
        process = subprocess.Popen(
            [str(LEDGER), "serve", "--host", "127.0.0.1", "--port", str(port),
             "--database-url", database_url, *args],
            cwd=workdir, env=env, stdout=sink, stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        if not is_ready(process, base):
            raise AssertionError(f"ledger serve did not start:\n{output.read_text()}")
        yield LiveLedger(base, token, process.pid, output)
    finally:
        stop_process(process)
