"""Unit tests of the handover rules and hash (``ledger.handover``): pure, no database."""

from __future__ import annotations

import hashlib
from typing import Any
from uuid import uuid4

import pytest

from ledger.domain import Ticket
from ledger.errors import (
    HandoverNotAllowedError,
    SnapshotOutdatedError,
    TicketClosedError,
)
from ledger.handover import ALLOWED_MOVES, TEAMS, canonical_json, snapshot_hash


def ticket_owned_by(*path: str) -> Ticket:
    ticket = Ticket.open(ticket_id=uuid4(), actor="desk", title="Fibre cut")
    for team in path:
        ticket.hand_over(handover_id=uuid4(), to_team=team, snapshot={},
                         snapshot_version=ticket.version, actor="desk")
    return ticket


def replay(events: list[Any]) -> Any:
    aggregate = None
    for event in events:
        aggregate = event.mutate(aggregate)
    return aggregate


#: Every move the rule allows, from each owner (None: no team yet).
ALLOWED = {(None, "build"), ("build", "qa"), ("qa", "maintenance"), ("qa", "build")}
PATHS = {None: (), "build": ("build",), "qa": ("build", "qa"),
         "maintenance": ("build", "qa", "maintenance")}


@pytest.mark.parametrize("owner", [None, *TEAMS])
@pytest.mark.parametrize("to_team", TEAMS)
def test_only_the_allowed_moves(owner: str | None, to_team: str) -> None:
    ticket = ticket_owned_by(*PATHS[owner])
    version = ticket.version
    if (owner, to_team) in ALLOWED:
        ticket.hand_over(handover_id=uuid4(), to_team=to_team, snapshot={"v": version},
                         snapshot_version=version, actor="desk")
        event = ticket.collect_events()[-1]
        assert (event.from_team, event.to_team) == (owner, to_team)
        assert ticket.owner_team == to_team and ticket.version == version + 1
    else:
        with pytest.raises(HandoverNotAllowedError):
            ticket.hand_over(handover_id=uuid4(), to_team=to_team, snapshot={},
                             snapshot_version=version, actor="desk")
        assert ticket.owner_team == owner and ticket.version == version
    assert {(o, t) for o, teams in ALLOWED_MOVES.items() for t in teams} == ALLOWED


def test_a_closed_ticket_and_an_outdated_snapshot_are_refused() -> None:
    ticket = ticket_owned_by("build")
    with pytest.raises(SnapshotOutdatedError):
        ticket.hand_over(handover_id=uuid4(), to_team="qa", snapshot={},
                         snapshot_version=ticket.version - 1, actor="desk")
    ticket.close(actor="desk", reason=None)
    with pytest.raises(TicketClosedError):
        ticket.hand_over(handover_id=uuid4(), to_team="qa", snapshot={},
                         snapshot_version=ticket.version, actor="desk")
    assert ticket.owner_team == "build"


def test_the_event_carries_snapshot_and_hash_and_replays() -> None:
    snapshot = {"ticket": {"id": "x", "version": 1, "time": 2.0}, "assignments": []}
    ticket = ticket_owned_by()
    ticket.hand_over(handover_id=uuid4(), to_team="build", snapshot=snapshot,
                     snapshot_version=1, actor="desk", notes="ready")
    events = ticket.collect_events()
    handed = events[-1]
    assert (handed.snapshot, handed.snapshot_hash, handed.notes, handed.actor) == (
        snapshot, snapshot_hash(snapshot), "ready", "desk")
    assert replay(events).owner_team == "build"
    assert replay(events[:1]).owner_team is None  # a ticket never handed over


def test_the_hash_is_sha256_of_rfc8785() -> None:
    snapshot = {"b": [2.0, 1e-7, None, True], "a": {"é": "ü", "A": 10}}
    # RFC 8785: keys sorted, no whitespace, UTF-8, numbers as ECMAScript prints them.
    expected = '{"a":{"A":10,"é":"ü"},"b":[2,1e-7,null,true]}'.encode()
    assert canonical_json(snapshot) == expected
    assert snapshot_hash(snapshot) == hashlib.sha256(expected).hexdigest()
    assert snapshot_hash({"a": 1, "b": 2}) == snapshot_hash({"b": 2, "a": 1})
