"""Handovers of a ticket between teams (seed 003: Build -> QA -> Maintenance).

A handover moves the ticket's ownership to another team and freezes, in its
event, a snapshot of the ticket and its assignments as they stood, with the
SHA-256 of the snapshot's canonical JSON. The event is part of the ticket's
hash-chained stream, so ``ledger verify`` covers snapshot and hash alike; the
hash lets anyone holding only the snapshot check it (docs/field-service.md).

The snapshot is made before the command, from the ticket's own events folded
at a version (``projections`` does that); the command checks that the ticket
is still at that version, so the snapshot is the state the handover follows.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any, Literal, get_args
from uuid import UUID

import rfc8785
from eventsourcing.domain import Aggregate

from ledger.errors import HandoverNotAllowedError, SnapshotOutdatedError

Team = Literal["build", "qa", "maintenance"]
TEAMS: tuple[str, ...] = get_args(Team)
BUILD, QA, MAINTENANCE = TEAMS

#: Who may hand to whom: ``None`` is a ticket no team owns yet. QA may send the
#: work back to Build; nothing else goes backwards, and nothing skips a step.
ALLOWED_MOVES: dict[str | None, tuple[str, ...]] = {
    None: (BUILD,),
    BUILD: (QA,),
    QA: (MAINTENANCE, BUILD),
    MAINTENANCE: (),
}


def canonical_json(snapshot: dict[str, Any]) -> bytes:
    """RFC 8785 (JSON Canonicalization Scheme): keys sorted, no whitespace,
    UTF-8, numbers as ECMAScript prints them, so any language's JCS
    implementation prints the same bytes."""
    return rfc8785.dumps(snapshot)


def snapshot_hash(snapshot: dict[str, Any]) -> str:
    """The hex SHA-256 of the snapshot's canonical JSON."""
    return hashlib.sha256(canonical_json(snapshot)).hexdigest()


class HandedOver(Aggregate.Event):
    """The ticket passed from ``from_team`` (None: no team yet) to ``to_team``,
    with the snapshot of what was handed over and its hash."""

    TOPIC = "ledger.domain:Ticket.HandedOver"
    handover_id: UUID
    from_team: str | None
    to_team: str
    snapshot: dict[str, Any]
    snapshot_hash: str
    actor: str
    via: str | None = None
    notes: str | None = None

    def apply(self, ticket: Any) -> None:
        ticket.owner_team = self.to_team


class TicketHandovers:
    """The ``Ticket`` aggregate's handover command and its rules."""

    HandedOver = HandedOver
    #: The team that owns the ticket; None until its first handover (so tickets
    #: opened before handovers existed need no upcasting).
    owner_team: str | None = None

    def check_handover(self, to_team: str) -> None:
        self.check_not_closed()  # type: ignore[attr-defined]
        allowed = ALLOWED_MOVES.get(self.owner_team, ())
        if to_team not in allowed:
            source = self.owner_team or "no team"
            then = " or ".join(allowed) if allowed else "nowhere: it is the last team"
            msg = (f"Ticket {self.id} is owned by {source}; it cannot be handed over "  # type: ignore[attr-defined]
                   f"to {to_team}. From {source} a ticket goes to {then}.")
            raise HandoverNotAllowedError(msg)

    def check_snapshot_current(self, snapshot_version: int) -> None:
        version = self.version  # type: ignore[attr-defined]
        if version != snapshot_version:
            msg = (f"Ticket {self.id} changed (version {snapshot_version} -> {version}) "  # type: ignore[attr-defined]
                   "while its snapshot was being taken.")
            raise SnapshotOutdatedError(msg)

    def hand_over(
        self, *, handover_id: UUID, to_team: str, snapshot: dict[str, Any],
        snapshot_version: int, actor: str, timestamp: datetime | None = None,
        via: str | None = None, **fields: Any,
    ) -> None:
        """``snapshot``: the ticket as it stood at ``snapshot_version``, which
        must still be its version. ``fields``: ``HandedOver``'s others (notes)."""
        self.check_handover(to_team)
        self.check_snapshot_current(snapshot_version)
        self.trigger_event(  # type: ignore[attr-defined]
            self.HandedOver, handover_id=handover_id, from_team=self.owner_team, to_team=to_team,
            snapshot=snapshot, snapshot_hash=snapshot_hash(snapshot), actor=actor,
            timestamp=timestamp, via=via, **fields,
        )
