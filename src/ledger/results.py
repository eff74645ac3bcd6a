"""What a command recorded, as its caller gets it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Recording


@dataclass(frozen=True)
class CommandResult:
    """What a command recorded: the ticket (or engineer, or key), its new
    version and the global position of its last event."""

    aggregate_id: UUID
    version: int
    position: int
    assignment_id: UUID | None = None


def recorded(aggregate: Any, recordings: Sequence[Recording[UUID]]) -> CommandResult:
    """What saving a new or changed aggregate recorded."""
    return CommandResult(aggregate.id, aggregate.version, recordings[-1].notification.id)


def ticket_result(
    ticket: Any, assignment: Any, recordings: Sequence[Recording[UUID]]
) -> CommandResult:
    """What a ticket command recorded, with the assignment it acted on."""
    return CommandResult(
        ticket.id,
        ticket.version,
        recordings[-1].notification.id,
        assignment.id if assignment else None,
    )
