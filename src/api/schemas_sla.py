"""Bodies of ``GET /sla/breaches``: breaches of an assignment's clocks and of a
ticket's own deadline (docs/operations.md, docs/field-service.md)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from api.schemas import WHEN


class AssignmentBreach(BaseModel):
    """One clock of one assignment that ran past its target. ``engineer_id`` held
    the ticket (the assignment) while that clock ran."""

    level: Literal["assignment"] = "assignment"
    clock: Literal["accept", "resolve"]
    ticket_id: str
    assignment_id: str
    assignment_sequence: int
    engineer_id: str
    tier: int
    priority: str
    started_at: str
    deadline: str
    stopped_at: str | None
    running: bool
    target_seconds: float
    elapsed_seconds: float
    overdue_seconds: float
    end_reason: str | None


class TicketBreach(BaseModel):
    """A ticket resolved or closed after its ``resolve_by``, or still open past it."""

    level: Literal["ticket"] = "ticket"
    ticket_id: str
    priority: str
    started_at: str = Field(description=f"When the ticket was opened; {WHEN}")
    due_at: str | None = Field(description="The ticket's due date, if it has one.")
    deadline: str = Field(
        description="The ticket's `resolve_by`: `due_at`, else opened + the target of its "
                    "priority (`LEDGER_TICKET_SLA`).")
    stopped_at: str | None = Field(description="When it was resolved or closed; null while open.")
    running: bool = Field(description="Still open.")
    target_seconds: float = Field(description="From opening to the deadline.")
    elapsed_seconds: float = Field(description="From opening to resolution, or to now.")
    overdue_seconds: float
    end_reason: Literal["resolved", "closed"] | None


SlaBreach = Annotated[AssignmentBreach | TicketBreach, Field(discriminator="level")]
