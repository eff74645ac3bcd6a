"""Bodies of the handover endpoints (docs/field-service.md)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from api.schemas import TICKET, WHEN, Request, Text, examples
from ledger.handover import Team

TEAMS = (
    "build, qa or maintenance. Allowed moves: no team -> build -> qa -> maintenance, "
    "and qa -> build (sent back)."
)


class HandoverCreate(Request):
    model_config = examples(
        {"to_team": "qa", "notes": "Splice closure sealed, OTDR trace attached to the job"},
    )

    to_team: Team = Field(description=f"The team that takes the ticket over: {TEAMS}")
    notes: Text | None = Field(None, description="What the receiving team should know.")


SNAPSHOT = (
    'The ticket and its assignments as they stood just before the handover: `{"ticket": '
    '<row of tickets>, "assignments": [<rows of engineer_assignments>, in sequence order]}`, '
    "folded from the ticket's own events. UUIDs are lowercase text, times RFC 3339 UTC with "
    "microseconds and `Z`."
)


class Handover(BaseModel):
    """A handover of a ticket between teams, with the snapshot it froze."""

    model_config = examples({
        "id": "6f1c2e1a-3b7d-4c55-9a0e-2f4b8d1e7c90",
        "ticket_id": "3833dfc5-e45b-413e-8fa8-1bf094fa87e8",
        "ticket_version": 7, "from_team": "build", "to_team": "qa",
        "handed_over_by": "dispatch.desk", "handed_over_at": "2026-12-07T11:40:02.125000Z",
        "notes": "Splice closure sealed",
        "snapshot": {"ticket": {"id": "3833dfc5-e45b-413e-8fa8-1bf094fa87e8", "version": 6,
                                "owner_team": "build", "status": "resolved"},
                     "assignments": []},
        "snapshot_hash": "d4accf45c693d23f3f5d959ad1d431e7b5fedca921ca803015648c7635dd0590",
    })

    id: str = Field(description="The handover's id.")
    ticket_id: str = Field(description=TICKET)
    ticket_version: int = Field(
        description="The ticket's version this handover recorded; the snapshot is of the "
                    "version before it.")
    from_team: Team | None = Field(description="The team that owned the ticket, or null.")
    to_team: Team = Field(description="The team that owns it now.")
    handed_over_by: str = Field(description="Who handed it over (the authenticated principal).")
    handed_over_at: str = Field(description=f"When; {WHEN}")
    notes: str | None = Field(description="What the receiving team was told.")
    snapshot: dict[str, Any] = Field(description=SNAPSHOT)
    snapshot_hash: str = Field(
        description="Hex SHA-256 of the snapshot's canonical JSON: RFC 8785 (JCS; keys "
                    "sorted, no whitespace, UTF-8). docs/field-service.md shows how to "
                    "recompute it.")
