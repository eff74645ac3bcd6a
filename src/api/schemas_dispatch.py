"""Bodies of dispatch (issue 21): a ticket's corrections and the coverage views."""

from __future__ import annotations

from typing import Any

from pydantic import AwareDatetime, Field, field_validator

from api.schemas import (
    DUE_AT,
    LOCATION,
    REQUIRED_CERTIFICATION,
    TERRITORY,
    Location,
    Name,
    Place,
    Request,
    ShortText,
    Skill,
    Text,
    examples,
)
from ledger.statuses import Priority


class TicketPatch(Request):
    """The details to change; those left out stay. ``null`` clears an optional one."""

    model_config = examples(
        {"priority": "critical", "due_at": "2026-12-08T12:00:00Z"},
        {"location": {"pole": "P-1190"}, "required_certification": "fibre-splicing"},
        {"territory": "south", "required_skill": None},
    )

    title: ShortText | None = Field(None, description="One line saying what is wrong.")
    description: Text | None = Field(None, description="Anything more the engineer should know.")
    priority: Priority | None = Field(None, description="How urgent the ticket is.")
    required_skill: Skill | None = Field(
        None, description="A skill the assigned engineer must have.")
    required_certification: Name | None = Field(None, description=REQUIRED_CERTIFICATION)
    territory: Place | None = Field(None, description=TERRITORY)
    location: Location | None = Field(
        None, description=f"{LOCATION} Merged into the current one: the keys sent replace "
                          "theirs (null clears one), the others stay; `null` clears it all.")
    due_at: AwareDatetime | None = Field(None, description=DUE_AT)

    @field_validator("title", "priority")
    @classmethod
    def _required(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("cannot be cleared (send a value or leave it out)")
        return value

    def changes(self) -> dict[str, Any]:
        """The fields sent, as the command takes them (a location's keys: those sent)."""
        sent = self.model_dump(exclude_unset=True)
        if self.location is not None:
            sent["location"] = self.location.model_dump(exclude_unset=True)
        return sent
