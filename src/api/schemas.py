"""Request and response bodies, with the bounds the contract sets."""

from __future__ import annotations

from typing import Annotated, Any, Generic, Literal, TypeVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from api.guards import contains_nul
from ledger.statuses import (
    AssignmentStatus,
    AssignmentType,
    CompletionStatus,
    Priority,
    TicketStatus,
)

EngineerId = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Text = Annotated[str, StringConstraints(max_length=4000)]
Reason = Annotated[str, StringConstraints(max_length=2000)]
Skill = Annotated[str, StringConstraints(min_length=1, max_length=64)]
AssignmentStatusFilter = Literal["active", AssignmentStatus]


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("*")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        """PostgreSQL cannot store NUL in text (see ``api.guards``)."""
        if contains_nul(value):
            raise ValueError("text must not contain NUL (U+0000) characters")
        return value


# ------------------------------------------------------------------ engineers


class EngineerCreate(Request):
    id: EngineerId
    name: ShortText
    skills: list[Skill] = Field(default_factory=list, max_length=50)
    tier: int = Field(1, ge=1, le=10)
    capacity: int = Field(1, ge=1, le=1000)
    availability: float = Field(1.0, ge=0, le=1)


class EngineerPatch(Request):
    name: ShortText | None = None
    skills: list[Skill] | None = Field(None, max_length=50)
    tier: int | None = Field(None, ge=1, le=10)
    capacity: int | None = Field(None, ge=1, le=1000)
    availability: float | None = Field(None, ge=0, le=1)
    active: bool | None = None


class Engineer(BaseModel):
    id: str
    name: str
    skills: list[str]
    tier: int
    capacity: int
    availability: float
    active: bool
    open_assignments: int
    created_at: str
    updated_at: str


# ------------------------------------------------------------------ tickets


class TicketCreate(Request):
    id: UUID | None = None
    title: ShortText
    description: Text | None = None
    priority: Priority = "medium"
    required_skill: Skill | None = None
    equipment_id: Annotated[str, StringConstraints(max_length=100)] | None = None
    reference: Annotated[str, StringConstraints(max_length=100)] | None = None


class ReasonBody(Request):
    reason: Reason | None = None


class ReopenBody(Request):
    reason: Reason


# ------------------------------------------------------------------ assignments


class AssignmentCreate(Request):
    ticket_id: UUID
    engineer_id: EngineerId
    equipment_id: Annotated[str, StringConstraints(max_length=100)] | None = None
    tier: int = Field(ge=1, le=10)
    tier_name: Annotated[str, StringConstraints(max_length=50)] | None = None
    reason: Reason | None = None
    type: AssignmentType = "manual"


class EscalateBody(Request):
    ticket_id: UUID
    reason: Annotated[str, StringConstraints(min_length=1, max_length=2000)]
    next_engineer_id: EngineerId
    next_tier_name: Annotated[str, StringConstraints(max_length=50)] | None = None


class RejectBody(Request):
    reason: Reason | None = None


class Part(Request):
    part_number: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    part_name: Annotated[str, StringConstraints(max_length=200)] = ""
    quantity: int = Field(1, ge=1, le=100_000)
    cost: float = Field(0, ge=0, le=10_000_000)


class CompleteBody(Request):
    completion_status: CompletionStatus
    time_spent_hours: float = Field(ge=0, le=999.99)
    diagnosis: Text | None = None
    actions_taken: Text | None = None
    parts_used: list[Part] | None = Field(None, max_length=200)
    customer_rating: int | None = Field(None, ge=1, le=5)
    customer_feedback: Text | None = None


class ReassignBody(Request):
    new_engineer_id: EngineerId
    reason: Reason | None = None


class EngineerAssignment(BaseModel):
    id: str
    ticket_id: str
    engineer_id: str
    equipment_id: str | None
    assignment_sequence: int
    assignment_tier: int
    assignment_tier_name: str | None
    assignment_reason: str | None
    assignment_type: str
    status: AssignmentStatus
    assigned_by: str | None
    assigned_at: str
    accepted_at: str | None
    rejected_at: str | None
    rejection_reason: str | None
    started_at: str | None
    completed_at: str | None
    completion_status: str | None
    escalation_reason: str | None
    time_spent_hours: float | None
    diagnosis: str | None
    actions_taken: str | None
    parts_used: list[dict[str, Any]] | None
    customer_rating: int | None
    customer_feedback: str | None
    created_at: str
    updated_at: str


class CurrentAssignment(BaseModel):
    ticket_id: str
    engineer_id: str
    assignment_sequence: int
    assignment_tier: int
    status: AssignmentStatus
    assigned_at: str
    completed_at: str | None


class HistoryRow(BaseModel):
    id: int
    assignment_id: str
    ticket_id: str
    previous_engineer: str | None
    new_engineer: str | None
    action: str
    reason: str | None
    changed_by: str | None
    changed_at: str


class Ticket(BaseModel):
    id: str
    title: str
    description: str | None
    priority: str
    required_skill: str | None
    equipment_id: str | None
    reference: str | None
    status: TicketStatus
    version: int
    current_assignment: EngineerAssignment | None
    assignment_count: int
    opened_by: str | None
    created_at: str
    updated_at: str
    resolved_at: str | None
    closed_at: str | None


class Event(BaseModel):
    position: int
    ticket_id: str | None
    aggregate_id: str
    version: int
    type: str
    recorded_at: str
    actor: str | None
    data: dict[str, Any]
    hash: str | None
    prev_hash: str | None


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None


class ProjectionStatus(BaseModel):
    name: str
    version: int
    generation: int
    state: str
    position: int
    head: int
    lag: int
    status: str
    progress: float | None = None
    events_per_s: float | None = None
    eta_seconds: float | None = None
