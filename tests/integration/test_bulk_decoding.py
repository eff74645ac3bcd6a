"""Bulk builds decode stored events themselves (``projections.bulk.Decoder``):
the same events as the Ledger's mapper makes, but for the top-level UUIDs, which
come as their canonical text (what ``tables.sid`` renders a UUID as)."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.utils import resolve_topic

from api.demo import seed_demo
from ledger.application import Ledger
from projections.bulk import Decoder
from projections.feed import EventFilter, EventLog
from projections.store import ReadStore


def test_decoded_events_equal_the_mappers_but_for_ids_as_text(
    ledger: Ledger, store: ReadStore
) -> None:
    seed_demo(ledger, tickets=20, seed=5)
    decode = Decoder(ledger)
    log = EventLog(store, ledger.recorder.events_table_name, ledger.mapper)
    raw = [row for page in log.rows(EventFilter(), 100) for row in page]
    stored = ledger.recorder.select_notifications(start=0, limit=len(raw) + 1)
    assert len(raw) == len(stored) == ledger.head()
    types = set()
    for (position, oid, version, topic, state), notification in zip(raw, stored, strict=True):
        assert position == notification.id
        ours = decode(resolve_topic(topic), oid, version, state)
        theirs = ledger.mapper.to_domain_event(notification)
        assert type(ours) is type(theirs)
        types.add(type(ours))
        expected = {
            name: str(value) if isinstance(value, UUID) else value
            for name, value in vars(theirs).items()
        }
        assert vars(ours) == expected
    assert len(types) >= 8  # the demo's stories: opened, assigned, accepted ... closed
