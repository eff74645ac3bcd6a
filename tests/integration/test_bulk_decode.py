"""Bulk builds decode with the library's plain mapper: the same events as the
Ledger's own mapper gives (SQLite and PostgreSQL)."""

from __future__ import annotations

from ledger.application import Ledger
from projections.pages import decode_page

ACTOR = "it-dispatcher"


def test_bulk_decoding_gives_the_events_the_ledgers_mapper_gives(ledger: Ledger) -> None:
    ledger.register_engineer(engineer_id="eng-bulk", name="E", tier=1, actor=ACTOR).result()
    ticket = ledger.open_ticket(title="t", actor=ACTOR).result().aggregate_id
    assigned = ledger.assign(ticket, engineer_id="eng-bulk", tier=1, actor=ACTOR).result()
    ledger.accept(ticket, assigned.assignment_id, actor=ACTOR).result()
    notifications = ledger.recorder.select_notifications(start=1, limit=100)
    assert len(notifications) >= 4

    plain = decode_page(ledger, notifications, remember=False)
    chained = decode_page(ledger, notifications)

    assert [p for p, _e in plain] == [n.id for n in notifications]
    assert [(type(e), e.__dict__) for _p, e in plain] == [
        (type(e), e.__dict__) for _p, e in chained
    ]
    assert all(isinstance(e.__dict__.get("hash"), str) for _p, e in plain)
