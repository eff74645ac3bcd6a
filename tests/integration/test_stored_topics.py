"""Events are stored with topics like ``ledger.domain:Ticket.Accepted``. The
classes now live in ``ledger.ticket`` and ``ledger.engineer`` and name those
topics explicitly (``TOPIC``): events stored in today's shape still load, and
new events are stored under the same topics, so the feed's type filter, the
audit chain and other readers see one topic per event type."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import orjson
from eventsourcing.persistence import StoredEvent

from ledger.application import Ledger
from ledger.domain import ACCEPTED, Engineer, Ticket, engineer_aggregate_id

AT = {"_type_": "datetime_iso", "_data_": "2026-11-01T09:00:00+00:00"}


def _uuid(value: UUID) -> dict[str, str]:
    return {"_type_": "uuid_hex", "_data_": value.hex}


def _stored(originator: UUID, version: int, topic: str, state: dict[str, Any]) -> StoredEvent:
    return StoredEvent(originator_id=originator, originator_version=version,
                       topic=topic, state=orjson.dumps({"timestamp": AT, **state}))


def _todays_ticket(ticket_id: UUID, assignment_id: UUID) -> list[StoredEvent]:
    """What the code before the split stored: an opened, assigned ticket (no
    ``via``: events older than that field)."""
    return [
        _stored(ticket_id, 1, "ledger.domain:Ticket.Opened", {
            "originator_topic": "ledger.domain:Ticket", "title": "Fibre cut",
            "description": None, "priority": "high", "required_skill": None,
            "equipment_id": "EQ-1", "reference": None, "actor": "dispatch",
        }),
        _stored(ticket_id, 2, "ledger.domain:Ticket.Assigned", {
            "assignment_id": _uuid(assignment_id), "sequence": 1, "engineer_id": "thandi",
            "tier": 1, "tier_name": "L1", "reason": None, "assignment_type": "manual",
            "equipment_id": "EQ-1", "actor": "dispatch",
        }),
    ]


def test_events_stored_under_the_old_module_load_and_new_ones_keep_the_topics(
    ledger: Ledger,
) -> None:
    ticket_id, assignment_id = uuid4(), uuid4()
    engineer = engineer_aggregate_id("thandi")
    ledger.recorder.insert_events([
        *_todays_ticket(ticket_id, assignment_id),
        _stored(engineer, 1, "ledger.domain:Engineer.Registered", {
            "originator_topic": "ledger.domain:Engineer", "class_version": 2,
            "engineer_id": "thandi", "name": "Thandi", "skills": ["fibre"], "tier": 1,
            "capacity": 2, "availability": 1.0, "actor": "hr",
        }),
    ])
    # the stored events load into the moved classes
    ticket = ledger.get_ticket(ticket_id)
    assert isinstance(ticket, Ticket) and ticket.version == 2
    assert ticket.active_assignment is not None
    assert ticket.active_assignment.engineer_id == "thandi"
    assert isinstance(ledger.get_engineer("thandi"), Engineer)
    # a command on it records its event under the same kind of topic
    ledger.accept(ticket_id, assignment_id, actor="thandi").result()
    assert ledger.get_ticket(ticket_id).assignments[assignment_id].status == ACCEPTED
    fresh = ledger.open_ticket(title="new", actor="dispatch").result()
    ledger.update_engineer("thandi", changes={"tier": 2}, actor="hr").result()
    topics = [n.topic for n in ledger.recorder.select_notifications(start=1, limit=100)]
    assert topics == [
        "ledger.domain:Ticket.Opened", "ledger.domain:Ticket.Assigned",
        "ledger.domain:Engineer.Registered", "ledger.domain:Ticket.Accepted",
        "ledger.domain:Ticket.Opened", "ledger.domain:Engineer.Updated",
    ]
    opened = orjson.loads(ledger.recorder.select_events(fresh.aggregate_id)[0].state)
    assert opened["originator_topic"] == "ledger.domain:Ticket"
