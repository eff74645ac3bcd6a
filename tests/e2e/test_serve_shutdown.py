"""``ledger serve`` stops at once on SIGTERM with an ``/events/stream`` open.

The server waits up to 10 s (``timeout_graceful_shutdown``) for responses in
progress, and a stream never ends by itself: ``api.serving`` ends the open streams
first. Here the stream must end, and the server finish, well inside those 10 s,
with one process and with ``--workers 2`` (uvicorn's worker processes).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from live_ledger import serving_ledger

#: Well under the server's 10 s of graceful shutdown.
PROMPT = 5.0


def sigterm_with_a_stream_open(database_url: str, workdir: Path, *args: str) -> None:
    with serving_ledger(database_url, workdir, *args) as live:
        headers = {"Authorization": f"Bearer {live.token}"}
        with httpx.stream("GET", f"{live.base}/events/stream", headers=headers,
                          timeout=30) as response:
            assert response.status_code == 200
            lines = response.iter_lines()
            assert next(lines) == "retry: 2000"
            started = time.monotonic()
            os.kill(live.pid, signal.SIGTERM)
            for _ in lines:  # keep-alives, until the server ends the stream
                pass
            ended = time.monotonic() - started
        assert ended < PROMPT, f"the stream ended {ended:.1f} s after SIGTERM"
        log = live.logged(r"Finished server process", seconds=PROMPT)
        assert "Traceback" not in log


def test_one_process_ends_its_streams_on_sigterm(tmp_path: Path) -> None:
    sigterm_with_a_stream_open(f"sqlite:///{tmp_path / 'ledger.db'}", tmp_path)


@pytest.mark.postgres
def test_worker_processes_end_their_streams_on_sigterm(
    postgres_url_factory: Callable[[], str], tmp_path: Path
) -> None:
    sigterm_with_a_stream_open(postgres_url_factory(), tmp_path, "--workers", "2")
