"""Issue 20: a field added to a command touches at most three places (the
request schema, the command, the event). Here the event alone changes: each
case swaps in a subclass of one event class that declares a made-up field,
``note``, and sends it to the unchanged ``Ledger`` method; it must reach the
recorded event, so neither the Ledger method nor the aggregate method names the
event's fields. A field no event declares fails loudly (the event's TypeError)
and records nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.utils import register_topic

from ledger.application import Ledger
from ledger.autoassign import Pick
from ledger.domain import Engineer, Ticket

ACTOR = "dispatch"
NOTE = "a field only the event declares"


def _with_note(event_class: type) -> type:
    """``event_class`` plus an optional ``note``, under its own stored topic."""
    noted = type(event_class.__name__, (event_class,), {
        "__annotations__": {"note": "str | None"},
        "note": None,
        "TOPIC": f"{__name__}:{event_class.__qualname__}",
        "__module__": __name__,
        "__qualname__": f"Noted{event_class.__qualname__}",
    })
    register_topic(noted.TOPIC, noted)
    return noted


# ---------------------------------------------------------------- the states commands need


def _engineers(ledger: Ledger) -> tuple[()]:
    for engineer_id, tier in (("ada", 1), ("bo", 1), ("cy", 2)):
        ledger.register_engineer(engineer_id=engineer_id, name=engineer_id, tier=tier,
                                 actor=ACTOR).result()
    return ()


def _opened(ledger: Ledger) -> tuple[UUID]:
    _engineers(ledger)
    return (ledger.open_ticket(title="No signal", actor=ACTOR).result().aggregate_id,)


def _closed(ledger: Ledger) -> tuple[UUID]:
    (ticket,) = _opened(ledger)
    ledger.close_ticket(ticket, reason=None, actor=ACTOR).result()
    return (ticket,)


def _assigned(ledger: Ledger) -> tuple[UUID, UUID]:
    (ticket,) = _opened(ledger)
    assignment = ledger.assign(ticket, engineer_id="ada", tier=1, actor=ACTOR).result()
    assert assignment.assignment_id is not None
    return ticket, assignment.assignment_id


def _accepted(ledger: Ledger) -> tuple[UUID, UUID]:
    ticket, assignment = _assigned(ledger)
    ledger.accept(ticket, assignment, actor="ada").result()
    return ticket, assignment


def _started(ledger: Ledger) -> tuple[UUID, UUID]:
    ticket, assignment = _accepted(ledger)
    ledger.start(ticket, assignment, actor="ada").result()
    return ticket, assignment


PICK = Pick(engineer_id="ada", tier=1, score=1.0, reason="the only one", qualified=1,
            considered=1)

Setup = Callable[[Ledger], tuple[Any, ...]]
#: The command's Ledger call, given the ids its setup made and the extra keywords.
Command = Callable[[Ledger, tuple[Any, ...], dict[str, Any]], Any]

#: command -> (aggregate class, event name, setup, command); the command's
#: future holds a result whose aggregate's last event is the one recorded.
CASES: dict[str, tuple[type, str, Setup, Command]] = {
    "register_engineer": (Engineer, "Registered", _engineers, lambda ledger, ids, extra:
        ledger.register_engineer(engineer_id="dee", name="Dee", actor=ACTOR, **extra)),
    "update_engineer": (Engineer, "Updated", _engineers, lambda ledger, ids, extra:
        ledger.update_engineer("ada", changes={"tier": 2}, actor=ACTOR, **extra)),
    "open_ticket": (Ticket, "Opened", _engineers, lambda ledger, ids, extra:
        ledger.open_ticket(title="No signal", actor=ACTOR, **extra)),
    "close_ticket": (Ticket, "Closed", _opened, lambda ledger, ids, extra:
        ledger.close_ticket(*ids, reason="dup", actor=ACTOR, **extra)),
    "reopen_ticket": (Ticket, "Reopened", _closed, lambda ledger, ids, extra:
        ledger.reopen_ticket(*ids, reason="back", actor=ACTOR, **extra)),
    "assign": (Ticket, "Assigned", _opened, lambda ledger, ids, extra:
        ledger.assign(*ids, engineer_id="ada", tier=1, actor=ACTOR, **extra)),
    "auto_assign": (Ticket, "Assigned", _opened, lambda ledger, ids, extra:
        ledger.auto_assign(*ids, pick=PICK, picked_at_version=1, actor=ACTOR, **extra)),
    "accept": (Ticket, "Accepted", _assigned, lambda ledger, ids, extra:
        ledger.accept(*ids, actor="ada", **extra)),
    "start": (Ticket, "Started", _accepted, lambda ledger, ids, extra:
        ledger.start(*ids, actor="ada", **extra)),
    "reject": (Ticket, "Rejected", _assigned, lambda ledger, ids, extra:
        ledger.reject(*ids, reason="away", actor="ada", **extra)),
    "complete": (Ticket, "Completed", _started, lambda ledger, ids, extra:
        ledger.complete(*ids, completion_status="success", time_spent_hours=1.0, actor="ada",
                        **extra)),
    "escalate": (Ticket, "Escalated", _started, lambda ledger, ids, extra:
        ledger.escalate(ids[0], next_engineer_id="cy", reason="deeper", actor=ACTOR, **extra)),
    "reassign": (Ticket, "Reassigned", _assigned, lambda ledger, ids, extra:
        ledger.reassign(*ids, new_engineer_id="bo", reason=None, actor=ACTOR, **extra)),
    "remove": (Ticket, "Removed", _assigned, lambda ledger, ids, extra:
        ledger.remove(*ids, reason=None, actor=ACTOR, **extra)),
}

#: One noted subclass per event class, built (and its topic registered) once.
NOTED = {
    (owner, name): _with_note(getattr(owner, name))
    for owner, name in dict.fromkeys((owner, name) for owner, name, _s, _c in CASES.values())
}


@pytest.mark.parametrize("command", list(CASES))
def test_a_field_declared_only_on_the_event_reaches_the_recorded_event(
    ledger: Ledger, command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner, name, setup, run = CASES[command]
    ids = setup(ledger)
    monkeypatch.setattr(owner, name, NOTED[(owner, name)])
    result = run(ledger, ids, {"note": NOTE}).result()
    recorded = list(ledger.events.get(result.aggregate_id))[-1]  # read back from the store
    assert type(recorded) is NOTED[(owner, name)]
    assert recorded.note == NOTE


@pytest.mark.parametrize("command", list(CASES))
def test_a_field_no_event_declares_fails_loudly_and_records_nothing(
    ledger: Ledger, command: str
) -> None:
    _owner, _name, setup, run = CASES[command]
    ids = setup(ledger)
    head = ledger.head()
    with pytest.raises(TypeError, match="unexpected keyword argument 'bogus'"):
        run(ledger, ids, {"bogus": 1}).result()
    assert ledger.head() == head
