"""One engineer's turn on a ticket, as the ``Ticket`` aggregate keeps it."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from ledger.statuses import ACTIVE_STATUSES, ASSIGNED


def default_tier_name(tier: int) -> str:
    return f"L{tier}"


@dataclass
class Assignment:
    """What the ticket's rules need of an assignment."""

    id: UUID
    sequence: int
    engineer_id: str
    tier: int
    tier_name: str
    equipment_id: str | None = None
    status: str = ASSIGNED

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES
