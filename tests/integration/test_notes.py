"""Notes on the write side: a note id is recorded once, engineers note only
tickets they hold or held, and events stored before ``notes`` existed load."""

from __future__ import annotations

from dataclasses import replace
from uuid import uuid4

import orjson
import pytest

from ledger.application import Ledger
from ledger.domain import Ticket
from ledger.errors import NotTicketHolderError
from ledger.ticket_notes import derived_note_id

ACTOR = "desk"


def _assigned(ledger: Ledger) -> tuple:
    ledger.register_engineer(engineer_id="ada", name="Ada", actor=ACTOR).result()
    ticket_id = ledger.open_ticket(title="LOS", actor=ACTOR).result().aggregate_id
    assigned = ledger.assign(ticket_id, engineer_id="ada", tier=1, actor=ACTOR).result()
    return ticket_id, assigned.assignment_id


def test_a_note_id_is_recorded_once(ledger: Ledger) -> None:
    ticket_id = ledger.open_ticket(title="LOS", actor=ACTOR).result().aggregate_id
    note_id = derived_note_id(uuid4(), ticket_id)
    first = ledger.add_note(ticket_id, note_id=note_id, kind="system", text="joined",
                            actor="system").result()
    again = ledger.add_note(ticket_id, note_id=note_id, kind="system", text="joined",
                            actor="system").result()
    assert first is not None and again is None
    ticket = ledger.get_ticket(ticket_id)
    assert ticket.version == 2 and ticket.has_note(note_id)


def test_engineers_note_only_tickets_they_hold_or_held(ledger: Ledger) -> None:
    ticket_id, assignment_id = _assigned(ledger)
    ledger.add_note(ticket_id, note_id=uuid4(), kind="internal", text="mine", actor="ada",
                    engineer_id="ada").result()
    with pytest.raises(NotTicketHolderError):
        ledger.add_note(ticket_id, note_id=uuid4(), kind="internal", text="x", actor="bo",
                        engineer_id="bo").result()
    ledger.remove(ticket_id, assignment_id, reason=None, actor=ACTOR).result()
    ledger.close_ticket(ticket_id, reason=None, actor=ACTOR).result()
    # Held once, closed now: still allowed (notes are commentary, not work).
    assert ledger.add_note(ticket_id, note_id=uuid4(), kind="client", text="called back",
                           actor="ada", engineer_id="ada").result() is not None
    assert ledger.get_ticket(ticket_id).version == 6


def test_events_stored_before_notes_load_without_them(ledger: Ledger) -> None:
    ticket_id, assignment_id = _assigned(ledger)
    ledger.accept(ticket_id, assignment_id, actor="ada", notes="on my way").result()
    (stored,) = [
        s for s in ledger.recorder.select_events(ticket_id)
        if s.topic == "ledger.domain:Ticket.Accepted"
    ]
    state = orjson.loads(stored.state)
    assert state.pop("notes") == "on my way"
    old = ledger.mapper.to_domain_event(replace(stored, state=orjson.dumps(state)))
    assert isinstance(old, Ticket.Accepted) and old.notes is None
    assert old.assignment_id == assignment_id
