"""The delivery log numbers an event's attempts on across a restart of the
delivery job (or a takeover by another process): the count of failures in a row
is saved with the endpoint's position."""

from __future__ import annotations

import time
from typing import Any
from uuid import uuid4

from werkzeug import Request, Response

from ledger.application import Ledger
from projections.runner import ReadSide
from projections.store import ReadStore

from webhook_jobs import SECRET, job, wait_until


def test_attempt_numbers_go_on_after_the_job_starts_again(
    ledger: Ledger, store: ReadStore, read_side: ReadSide, httpserver: Any,
) -> None:
    failing = [True]

    def answer(_request: Request) -> Response:
        return Response("down", status=503) if failing[0] else Response("ok")

    httpserver.expect_request("/hook", method="POST").respond_with_handler(answer)
    first = job(ledger, store)
    webhook_id = uuid4()
    first.table.put_secret(str(webhook_id), SECRET, "2026-12-07T00:00:00.000000Z")
    ledger.register_webhook(webhook_id=webhook_id, url=httpserver.url_for("/hook"),
                            event_types=None, description=None, actor="admin").result()
    read_side.catch_up()
    ticket = ledger.open_ticket(title="t", actor="desk").result()

    def attempts() -> list[tuple[int, int, int | None]]:
        rows = first.table.deliveries(str(webhook_id), limit=100)
        return [(r["position"], r["attempt"], r["status_code"]) for r in reversed(rows)]

    first.start()
    try:
        wait_until(lambda: len(attempts()) >= 2, what="two failed attempts")
    finally:
        first.stop()
    failed = attempts()
    assert {p for p, _a, _s in failed} == {ticket.position}
    assert [a for _p, a, _s in failed] == list(range(1, len(failed) + 1))

    failing[0] = False
    second = job(ledger, store)
    second.start()
    try:
        wait_until(lambda: any(s == 200 for _p, _a, s in attempts()), what="the success")
        time.sleep(0.1)
    finally:
        second.stop()
    logged = attempts()
    assert [a for _p, a, _s in logged] == list(range(1, len(logged) + 1)), logged
    assert logged[-1] == (ticket.position, len(failed) + 1, 200)
