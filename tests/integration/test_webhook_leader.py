"""Webhook delivery runs in one process at a time (docs/webhooks.md, "One process
delivers"): two delivery jobs on one store, each with its own ``Ledger`` and
connections as two processes would have, deliver every event once, in order,
from whichever leads; when the leader stops, the other takes over from the
durable position, skipping nothing. SQLite and PostgreSQL, a real receiver on
127.0.0.1."""

from __future__ import annotations

import json
import time
from typing import Any
from uuid import uuid4

from ledger.application import Ledger
from projections.backend import build_store
from projections.runner import ReadSide
from projections.store import ReadStore

from webhook_jobs import SECRET, job, wait_until


def logged_positions(ledger: Ledger, after: int) -> list[int]:
    return [n.id for n in ledger.recorder.select_notifications(start=after + 1, limit=100_000)]


def test_one_job_delivers_and_the_other_takes_over_without_a_gap(
    database_url: str, ledger: Ledger, store: ReadStore, read_side: ReadSide, httpserver: Any,
) -> None:
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    other = Ledger(database_url)
    other_store = build_store(other.store, pool_size=2)
    jobs = [job(ledger, store), job(other, other_store)]
    try:
        webhook_id = uuid4()
        jobs[0].table.put_secret(str(webhook_id), SECRET, "2026-12-07T00:00:00.000000Z")
        registered = ledger.register_webhook(
            webhook_id=webhook_id, url=httpserver.url_for("/hook"), event_types=None,
            description=None, actor="admin").result()
        read_side.catch_up()
        for delivery in jobs:
            delivery.start()
        wait_until(lambda: any(j.leading for j in jobs), what="a leader")
        time.sleep(1.5)  # the other has tried the lock (every second) meanwhile
        assert [j.leading for j in jobs].count(True) == 1

        def arrived() -> list[tuple[str, int]]:
            return [(r.headers["webhook-id"], json.loads(r.get_data())["data"]["position"])
                    for r, _answer in list(httpserver.log)]

        for n in range(10):
            (ledger if n % 2 else other).open_ticket(title=f"t{n}", actor="desk").result()
        wanted = logged_positions(ledger, registered.position)
        wait_until(lambda: [p for _i, p in arrived()] == wanted, what="every event, once")

        leader, follower = (jobs[0], jobs[1]) if jobs[0].leading else (jobs[1], jobs[0])
        leader.stop()
        wait_until(lambda: follower.leading, what="the takeover")
        for n in range(10):
            other.open_ticket(title=f"after {n}", actor="desk").result()
        wanted = logged_positions(ledger, registered.position)
        wait_until(lambda: len(arrived()) >= len(wanted), what="the events after the takeover")
        time.sleep(0.3)
        # The leader stopped with nothing in flight and wrote its position first:
        # the follower went on from there, no event twice, none skipped, in order.
        assert [p for _i, p in arrived()] == wanted
        assert len({i for i, _p in arrived()}) == len(wanted)
    finally:
        for delivery in jobs:
            delivery.stop()
        other_store.close()
        other.close()
