"""Request and response bodies of repeat faults."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from api.schemas import WHEN, Reason, Request, examples

Scope = Literal["pole", "pon", "zone", "dr"]
FaultStatus = Literal["open", "acknowledged", "resolved"]


class RepeatFault(BaseModel):
    id: str = Field(description="The repeat fault's id (one per place and episode).")
    scope: Scope = Field(description="What kind of place: pole, pon, zone or dr (a drop).")
    value: str = Field(description="The place itself, as tickets' `location` names it.")
    ticket_ids: list[str] = Field(
        description="The tickets on it, in the order they joined (those that raised it first).")
    count: int = Field(description="How many tickets are on it.")
    first_opened_at: str = Field(description=f"When the earliest of them was opened; {WHEN}")
    last_opened_at: str = Field(description=f"When the latest of them was opened; {WHEN}")
    status: FaultStatus = Field(
        description="open (raised), acknowledged (someone is on it), resolved (ended: later "
                    "tickets at the place count afresh).")
    raised_at: str = Field(description=f"When the ledger raised it (actor `system`); {WHEN}")
    acknowledged_by: str | None = Field(description="Who acknowledged it.")
    acknowledged_at: str | None = Field(description=f"When it was acknowledged; {WHEN}")
    resolved_by: str | None = Field(description="Who resolved it.")
    resolved_at: str | None = Field(description=f"When it was resolved; {WHEN}")
    resolution: str | None = Field(description="What was done about it.")


class AcknowledgeBody(Request):
    model_config = examples({"note": "Crew booked for Thursday"}, {})

    note: Reason | None = Field(None, description="Anything to say; recorded with the event.")


class ResolveBody(Request):
    model_config = examples({"resolution": "Pole P-1042 replaced; drop cables re-terminated"})

    resolution: Annotated[str, StringConstraints(min_length=1, max_length=2000)] = Field(
        description="What was done about the place (required).")
