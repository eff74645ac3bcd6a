"""kill -9 of the process that delivers webhooks, mid-stream, then a restart:
every event reaches the receiver at least once, none is skipped, a duplicate
carries the webhook-id of its first delivery, and each process delivers in
position order. A real ``ledger serve`` and a real receiver on 127.0.0.1."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from werkzeug import Response

from live_ledger import serving_ledger
from webhook_receiver import verified, wait_for

pytestmark = pytest.mark.slow

EVENTS = 120
ENV = {"LEDGER_WEBHOOK_ALLOW_PRIVATE": "true", "LEDGER_WEBHOOK_RETRY_BASE": "0.05",
       "LEDGER_WEBHOOK_RETRY_MAX": "0.3"}


def test_kill_mid_stream_loses_and_skips_nothing(
    database_url: str, tmp_path: Path, httpserver: Any
) -> None:
    arrivals: list[tuple[str, int]] = []  # (webhook-id, position), in arrival order
    lock = threading.Lock()
    secret: dict[str, str] = {}
    # Closed (503) while the events are recorded, so that a backlog builds up.
    gate = threading.Event()

    def receive(request: Any) -> Response:
        if not gate.is_set():
            return Response("", 503)
        message = verified(secret["value"], dict(request.headers), request.get_data())
        with lock:
            arrivals.append((request.headers["webhook-id"], message["data"]["position"]))
        time.sleep(0.003)  # a receiver that takes a moment: the kill lands mid-stream
        return Response("", 204)

    httpserver.expect_request("/hook", method="POST").respond_with_handler(receive)
    with serving_ledger(database_url, tmp_path, env=ENV) as live:
        client = httpx.Client(base_url=live.base, timeout=30,
                              headers={"Authorization": f"Bearer {live.token}"})
        created = client.post("/webhooks", json={"url": httpserver.url_for("/hook")})
        assert created.status_code == 201, created.text
        secret["value"] = created.json()["secret"]
        first = int(created.headers["x-ledger-position"])
        for n in range(EVENTS):
            assert client.post("/tickets", json={"title": f"t{n}"}).status_code == 201
        head = live.head()
        gate.set()
        wait_for(lambda: len(arrivals) >= EVENTS // 4, seconds=60, what="a quarter delivered")
        os.kill(live.pid, signal.SIGKILL)
        killed_at = len(arrivals)
    assert killed_at < head - first, "the kill came after everything was delivered"

    with serving_ledger(database_url, tmp_path, env=ENV) as live:
        wait_for(lambda: {p for _i, p in arrivals} >= set(range(first + 1, head + 1)),
                 seconds=120, what="every event delivered after the restart")
        time.sleep(0.3)

    positions = [p for _i, p in arrivals]
    assert set(positions) == set(range(first + 1, head + 1))  # none skipped, nothing else
    ids: dict[int, set[str]] = {}
    for message_id, position in arrivals:
        ids.setdefault(position, set()).add(message_id)
    assert all(len(v) == 1 for v in ids.values())  # a duplicate shares its webhook-id
    # In position order within each process: one step back at most, where the
    # restart went on from its durable position (at or before the last delivered).
    steps_back = [i for i in range(1, len(positions)) if positions[i] < positions[i - 1]]
    assert len(steps_back) <= 1, steps_back
    assert len(positions) > len(set(positions)) or not steps_back
