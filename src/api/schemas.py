"""Request and response bodies, with the bounds the contract sets.

Every field says what it holds and every command body carries an example: they
are what /docs and /openapi.json show (tests/e2e/test_openapi_document.py).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Generic, Literal, TypeVar
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, field_validator

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


def examples(*bodies: dict[str, Any]) -> ConfigDict:
    """A model's config with example bodies (shown in the OpenAPI document)."""
    return ConfigDict(json_schema_extra={"examples": list(bodies)})


#: Shared by the engineer fields of requests and responses.
TIER = "Support tier the engineer works at: 1 is the first line (L1)."
CAPACITY = "How many open assignments the engineer can hold at once."
AVAILABILITY = "Share of the engineer's time available for assignments, 0 to 1."
WHEN = "RFC 3339, UTC."


Name = Annotated[str, StringConstraints(min_length=1, max_length=64)]
TERRITORIES = "Territories the engineer covers; empty: anywhere."
CERTIFICATIONS = (
    "Certifications the engineer holds; one counts on day D when `expires_on` is null "
    "or on/after D.")


class Certification(Request):
    name: Name = Field(description="The certification, e.g. fibre-splicing.")
    expires_on: date | None = Field(
        None, description="The last day it is valid (YYYY-MM-DD); null: it does not expire.")


class EngineerCreate(Request):
    model_config = examples({
        "id": "aisha.k", "name": "Aisha Khan", "skills": ["fibre", "ont"],
        "tier": 1, "capacity": 5, "availability": 1.0, "territories": ["north", "harbour"],
        "certifications": [{"name": "fibre-splicing", "expires_on": "2026-10-31"}],
    })

    id: EngineerId = Field(description="The engineer's id, chosen by the caller (e.g. a login).")
    name: ShortText = Field(description="Display name.")
    skills: list[Skill] = Field(
        default_factory=list, max_length=50,
        description="Skills a ticket's `required_skill` is matched against.")
    tier: int = Field(1, ge=1, le=10, description=TIER)
    capacity: int = Field(1, ge=1, le=1000, description=CAPACITY)
    availability: float = Field(1.0, ge=0, le=1, description=AVAILABILITY)
    territories: list[Name] = Field(default_factory=list, max_length=100,
                                    description=TERRITORIES)
    certifications: list[Certification] = Field(
        default_factory=list, max_length=100, description=CERTIFICATIONS)


class EngineerPatch(Request):
    model_config = examples({"skills": ["fibre", "ont", "copper"], "capacity": 6},
                            {"active": False},
                            {"territories": ["north"], "certifications": [
                                {"name": "fibre-splicing", "expires_on": "2027-10-31"}]})

    name: ShortText | None = Field(None, description="New display name.")
    skills: list[Skill] | None = Field(
        None, max_length=50, description="The new list of skills (replaces the old one).")
    tier: int | None = Field(None, ge=1, le=10, description=TIER)
    capacity: int | None = Field(None, ge=1, le=1000, description=CAPACITY)
    availability: float | None = Field(None, ge=0, le=1, description=AVAILABILITY)
    active: bool | None = Field(
        None, description="`false` stops new assignments to the engineer; open ones stay.")
    territories: list[Name] | None = Field(
        None, max_length=100, description=f"{TERRITORIES} Replaces the old list.")
    certifications: list[Certification] | None = Field(
        None, max_length=100, description=f"{CERTIFICATIONS} Replaces the old list.")


class Engineer(BaseModel):
    id: str = Field(description="The engineer's id.")
    name: str = Field(description="Display name.")
    skills: list[str] = Field(description="Skills a ticket's `required_skill` is matched against.")
    tier: int = Field(description=TIER)
    capacity: int = Field(description=CAPACITY)
    availability: float = Field(description=AVAILABILITY)
    active: bool = Field(description="Whether the engineer can be given new assignments.")
    open_assignments: int = Field(
        description="Assignments the engineer holds now (assigned, accepted or in progress).")
    territories: list[str] = Field(description=TERRITORIES)
    certifications: list[dict[str, str | None]] = Field(
        description=f"{CERTIFICATIONS} Each `{{name, expires_on}}`, by name.")
    created_at: str = Field(description=f"When the engineer was registered; {WHEN}")
    updated_at: str = Field(description=f"When the engineer last changed; {WHEN}")


# ------------------------------------------------------------------ tickets


EQUIPMENT = "The equipment worked on, e.g. an ONT's asset tag."
Place = Annotated[str, StringConstraints(min_length=1, max_length=100)]
TERRITORY = "The dispatch region; defaults to the location's zone."
REQUIRED_CERTIFICATION = "A certification the engineer must hold, valid on the day."
DUE_AT = "When the work is due (seed 004's due date); RFC 3339."
LOCATION = "Where the work is: pole number, PON, zone and drop (any of them)."


class Location(Request):
    model_config = examples({"pole": "P-1182", "pon": "PON-7/3", "zone": "north", "dr": "DR-44"})

    pole: Place | None = Field(None, description="The pole number.")
    pon: Place | None = Field(None, description="The passive optical network.")
    zone: Place | None = Field(None, description="The zone (the territory by default).")
    dr: Place | None = Field(None, description="The drop.")


class TicketCreate(Request):
    model_config = examples({
        "title": "No signal at 14 Harbour Road", "description": "ONT shows LOS since 07:10.",
        "priority": "high", "required_skill": "fibre", "equipment_id": "EQ-4711",
        "reference": "CRM-20931", "required_certification": "fibre-splicing",
        "due_at": "2026-12-08T17:00:00Z",
        "location": {"pole": "P-1182", "pon": "PON-7/3", "zone": "north", "dr": "DR-44"},
    })

    id: UUID | None = Field(
        None, description="The ticket's id; chosen by the ledger when left out.")
    title: ShortText = Field(description="One line saying what is wrong.")
    description: Text | None = Field(None, description="Anything more the engineer should know.")
    priority: Priority = Field("medium", description="How urgent the ticket is.")
    required_skill: Skill | None = Field(
        None, description="A skill the assigned engineer must have (auto-assignment).")
    equipment_id: Annotated[str, StringConstraints(max_length=100)] | None = Field(
        None, description=EQUIPMENT)
    reference: Annotated[str, StringConstraints(max_length=100)] | None = Field(
        None, description="The caller's own reference, e.g. a CRM case number.")
    territory: Place | None = Field(None, description=TERRITORY)
    required_certification: Name | None = Field(None, description=REQUIRED_CERTIFICATION)
    due_at: AwareDatetime | None = Field(None, description=DUE_AT)
    location: Location | None = Field(None, description=LOCATION)


class ReasonBody(Request):
    model_config = examples({"reason": "Duplicate of CRM-20930"})

    reason: Reason | None = Field(None, description="Why; recorded with the event.")


class ReopenBody(Request):
    model_config = examples({"reason": "The fault came back the next morning"})

    reason: Reason = Field(description="Why the ticket is opened again; recorded with the event.")


# ------------------------------------------------------------------ assignments


TICKET = "The ticket's id."
TIER_NAME = "The tier's display name, e.g. L2."
SEQUENCE = "The assignment's place among its ticket's assignments: 1, 2, 3 and so on."
STATUS = (
    "assigned, accepted or in_progress while active; then completed, failed (completed "
    "with completion_status failed), rejected, escalated, reassigned or removed."
)
OVERRIDE = (
    "Why this engineer although they do not qualify (the unmet requirements are listed "
    "in the 409 `engineer-not-qualified` under LEDGER_QUALIFICATION_POLICY=enforce); "
    "recorded with the event under either policy.")
COMPLETION = (
    "How the work ended: success (resolves the ticket), failed, escalated, parts_required "
    "or customer_unavailable (these leave the ticket open)."
)


class AssignmentCreate(Request):
    model_config = examples({
        "ticket_id": "3833dfc5-e45b-413e-8fa8-1bf094fa87e8", "engineer_id": "aisha.k",
        "tier": 1, "tier_name": "L1", "reason": "On call for the harbour area",
        "equipment_id": "EQ-4711",
    })

    ticket_id: UUID = Field(description="The ticket to assign; it must have no active assignment.")
    engineer_id: EngineerId = Field(description="An active engineer.")
    equipment_id: Annotated[str, StringConstraints(max_length=100)] | None = Field(
        None, description=EQUIPMENT)
    tier: int = Field(ge=1, le=10, description="The tier the engineer works the ticket at.")
    tier_name: Annotated[str, StringConstraints(max_length=50)] | None = Field(
        None, description=TIER_NAME)
    reason: Reason | None = Field(None, description="Why this engineer; recorded with the event.")
    type: AssignmentType = Field(
        "manual", description="`auto` when a dispatching system chose the engineer.")
    override_reason: Reason | None = Field(
        None, description=OVERRIDE)


class EscalateBody(Request):
    model_config = examples({
        "ticket_id": "3833dfc5-e45b-413e-8fa8-1bf094fa87e8",
        "reason": "Fault beyond the drop cable", "next_engineer_id": "sipho.d",
        "next_tier_name": "L2",
    })

    ticket_id: UUID = Field(description="The ticket whose active assignment is escalated.")
    reason: Annotated[str, StringConstraints(min_length=1, max_length=2000)] = Field(
        description="Why the next tier is needed; becomes both assignments' reason.")
    next_engineer_id: EngineerId = Field(description="An active engineer at the next tier.")
    next_tier_name: Annotated[str, StringConstraints(max_length=50)] | None = Field(
        None, description="The next tier's display name, e.g. L2.")
    override_reason: Reason | None = Field(
        None, description=OVERRIDE)


class RejectBody(Request):
    model_config = examples({"reason": "On leave until Monday"})

    reason: Reason | None = Field(None, description="Why the engineer declines.")


class Part(Request):
    part_number: Annotated[str, StringConstraints(min_length=1, max_length=64)] = Field(
        description="The part's catalogue number.")
    part_name: Annotated[str, StringConstraints(max_length=200)] = Field(
        "", description="What the part is.")
    quantity: int = Field(1, ge=1, le=100_000, description="How many were used.")
    cost: float = Field(0, ge=0, le=10_000_000, description="Cost of them all.")


class CompleteBody(Request):
    model_config = examples({
        "completion_status": "success", "time_spent_hours": 1.5,
        "diagnosis": "Water in the splice closure", "actions_taken": "Resealed and re-spliced",
        "parts_used": [{"part_number": "SC-12", "part_name": "Splice closure", "quantity": 1,
                        "cost": 42.0}],
        "customer_rating": 5, "customer_feedback": "Quick and tidy",
    })

    completion_status: CompletionStatus = Field(description=COMPLETION)
    time_spent_hours: float = Field(ge=0, le=999.99, description="Hours the engineer worked on it.")
    diagnosis: Text | None = Field(None, description="What the engineer found.")
    actions_taken: Text | None = Field(None, description="What the engineer did.")
    parts_used: list[Part] | None = Field(None, max_length=200, description="Parts used.")
    customer_rating: int | None = Field(None, ge=1, le=5, description="The customer's rating, 1 to 5.")
    customer_feedback: Text | None = Field(None, description="What the customer said.")


class ReassignBody(Request):
    model_config = examples({"new_engineer_id": "sipho.d", "reason": "Closer to the site"})

    new_engineer_id: EngineerId = Field(description="An active engineer; takes over at the same tier.")
    reason: Reason | None = Field(None, description="Why; recorded with the event.")
    override_reason: Reason | None = Field(
        None, description=OVERRIDE)


class EngineerAssignment(BaseModel):
    """A row of ``engineer_assignments``: one engineer's turn on one ticket."""

    id: str = Field(description="The assignment's id.")
    ticket_id: str = Field(description=TICKET)
    engineer_id: str = Field(description="The engineer who holds or held it.")
    equipment_id: str | None = Field(description=EQUIPMENT)
    assignment_sequence: int = Field(description=SEQUENCE)
    assignment_tier: int = Field(description="The tier it is worked at: 1 is the first line.")
    assignment_tier_name: str | None = Field(description=TIER_NAME)
    assignment_reason: str | None = Field(
        description="Why it was made (for auto-assignments, the scoring that chose the engineer).")
    assignment_type: str = Field(description="manual, or auto when a system chose the engineer.")
    status: AssignmentStatus = Field(description=STATUS)
    assigned_by: str | None = Field(description="Who made it (the authenticated principal).")
    assigned_at: str = Field(description=f"When it was made; {WHEN}")
    accepted_at: str | None = Field(description=f"When the engineer accepted it; {WHEN}")
    rejected_at: str | None = Field(description=f"When the engineer rejected it; {WHEN}")
    rejection_reason: str | None = Field(description="Why the engineer rejected it.")
    started_at: str | None = Field(description=f"When work started; {WHEN}")
    completed_at: str | None = Field(
        description=f"When it ended (completed, failed, escalated, reassigned or removed); {WHEN}")
    completion_status: str | None = Field(description=COMPLETION)
    escalation_reason: str | None = Field(description="Why it was escalated to the next tier.")
    time_spent_hours: float | None = Field(description="Hours the engineer worked on it.")
    diagnosis: str | None = Field(description="What the engineer found.")
    actions_taken: str | None = Field(description="What the engineer did.")
    parts_used: list[dict[str, Any]] | None = Field(
        description="Parts used: `{part_number, part_name, quantity, cost}` each.")
    customer_rating: int | None = Field(description="The customer's rating, 1 to 5.")
    customer_feedback: str | None = Field(description="What the customer said.")
    created_at: str = Field(description=f"When the row was made (as assigned_at); {WHEN}")
    updated_at: str = Field(description=f"When the row last changed; {WHEN}")
    qualification_warnings: list[str] | None = Field(
        None, description="What the engineer lacked for the ticket when named (the "
        "qualification rule's sentences); empty: they qualified; null: not checked "
        "(recorded before the check, imported, or chosen by auto-assign).")
    override_reason: str | None = Field(None, description=OVERRIDE)


class CurrentAssignment(BaseModel):
    """A row of ``current_ticket_assignments``: a ticket's active assignment."""

    ticket_id: str = Field(description=TICKET)
    engineer_id: str = Field(description="The engineer who holds it.")
    assignment_sequence: int = Field(description=SEQUENCE)
    assignment_tier: int = Field(description="The tier it is worked at: 1 is the first line.")
    status: AssignmentStatus = Field(description="assigned, accepted or in_progress.")
    assigned_at: str = Field(description=f"When it was made; {WHEN}")
    completed_at: str | None = Field(description="Null: an active assignment has not ended.")


class HistoryRow(BaseModel):
    """A row of ``assignment_history``: one change to one assignment."""

    id: int = Field(description="Orders the rows as the ledger recorded them.")
    assignment_id: str = Field(description="The assignment that changed.")
    ticket_id: str = Field(description=TICKET)
    previous_engineer: str | None = Field(
        description="Who held the assignment before the change (null when it was created).")
    new_engineer: str | None = Field(
        description="Who holds it after the change (null when it ended).")
    action: str = Field(
        description="created, accepted, rejected, started, completed, escalated, reassigned "
                    "or removed.")
    reason: str | None = Field(
        description="The reason given (for completed, the completion_status).")
    changed_by: str | None = Field(description="Who made the change (the authenticated principal).")
    changed_at: str = Field(description=f"When; {WHEN}")


class Ticket(BaseModel):
    """A row of ``tickets``, with its active assignment."""

    id: str = Field(description=TICKET)
    title: str = Field(description="One line saying what is wrong.")
    description: str | None = Field(description="Anything more the engineer should know.")
    priority: str = Field(description="low, medium, high or critical.")
    required_skill: str | None = Field(description="A skill the assigned engineer must have.")
    equipment_id: str | None = Field(description=EQUIPMENT)
    reference: str | None = Field(description="The caller's own reference.")
    territory: str | None = Field(description=TERRITORY)
    required_certification: str | None = Field(description=REQUIRED_CERTIFICATION)
    due_at: str | None = Field(description=f"When the work is due; {WHEN}")
    location: dict[str, str | None] | None = Field(
        description=f"{LOCATION} `{{pole, pon, zone, dr}}`, or null.")
    status: TicketStatus = Field(
        description="open, assigned (an assignment is active), in_progress, resolved (completed "
                    "with success) or closed.")
    version: int = Field(
        description="The ticket's version: send it as `If-Match` to act only on this state.")
    current_assignment: EngineerAssignment | None = Field(
        description="The active assignment, or null.")
    assignment_count: int = Field(description="How many assignments the ticket has had.")
    opened_by: str | None = Field(description="Who opened it (the authenticated principal).")
    created_at: str = Field(description=f"When it was opened; {WHEN}")
    updated_at: str = Field(description=f"When it last changed; {WHEN}")
    resolved_at: str | None = Field(description=f"When it was resolved; {WHEN}")
    closed_at: str | None = Field(description=f"When it was closed; {WHEN}")


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
