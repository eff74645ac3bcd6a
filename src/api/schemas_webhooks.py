"""Request and response bodies of ``/webhooks``."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, Field, StringConstraints

from api.schemas import WHEN, Request, examples

Url = Annotated[str, StringConstraints(min_length=1, max_length=2048)]
EventType = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Description = Annotated[str, StringConstraints(max_length=500)]

URL = ("Where messages are POSTed: http or https; loopback, private and link-local targets "
       "are refused unless LEDGER_WEBHOOK_ALLOW_PRIVATE=true.")
EVENT_TYPES = ("Event types sent, as `GET /events` names them (`Ticket.Assigned`, ...); "
               "null: every type.")
SECRET = ("The signing secret (Standard Webhooks, `whsec_` + base64), shown only in this "
          "response: keep it, it is never shown again.")


class WebhookCreate(Request):
    model_config = examples({
        "url": "https://hooks.example.com/ledger",
        "event_types": ["Ticket.Assigned", "Ticket.Completed"],
        "description": "Dispatch board sync",
    })

    url: Url = Field(description=URL)
    event_types: list[EventType] | None = Field(
        None, min_length=1, max_length=100, description=EVENT_TYPES)
    description: Description | None = Field(None, description="What the endpoint is for.")


class WebhookPatch(Request):
    model_config = examples({"active": False}, {"url": "https://hooks.example.com/v2"})

    url: Url | None = Field(None, description=URL)
    event_types: list[EventType] | None = Field(
        None, min_length=1, max_length=100,
        description=EVENT_TYPES + " Send null to receive every type again.")
    description: Description | None = Field(None, description="What the endpoint is for.")
    active: bool | None = Field(
        None, description="false stops deliveries (recorded); true resumes them from where "
                          "they stopped.")


class DeliveryHealth(BaseModel):
    position: int = Field(description="Every event at or before this position was delivered.")
    failures: int = Field(description="Failed attempts in a row (0 after a success).")
    last_success_at: str | None = Field(description="Last 2xx. " + WHEN)
    last_failure_at: str | None = Field(description="Last failed attempt. " + WHEN)
    last_error: str | None = Field(description="What the last failed attempt met.")
    next_attempt_at: str | None = Field(description="When the next retry is due. " + WHEN)


class Webhook(BaseModel):
    id: UUID = Field(description="The endpoint's id.")
    url: str = Field(description=URL)
    event_types: list[str] | None = Field(description=EVENT_TYPES)
    description: str | None = Field(description="What the endpoint is for.")
    active: bool = Field(description="Whether messages are delivered to it.")
    version: int = Field(description="The endpoint's version (its events so far).")
    created_at: str = Field(description=WHEN)
    updated_at: str = Field(description=WHEN)
    deactivated_reason: str | None = Field(
        description="Why it is inactive: deleted, patched, or the failures that stopped it.")
    secret_rotated_at: str | None = Field(description="Last secret rotation. " + WHEN)
    delivery: DeliveryHealth | None = Field(
        None, description="Delivery health; null until the delivery job has seen it.")


class WebhookCreated(Webhook):
    secret: str = Field(description=SECRET)


class WebhookSecret(BaseModel):
    id: UUID = Field(description="The endpoint's id.")
    secret: str = Field(description=SECRET)


class DeliveryAttempt(BaseModel):
    webhook_id: UUID = Field(description="The endpoint.")
    position: int | None = Field(
        description="The event's position in the log; null for a test message.")
    attempt: int = Field(description="1 for the first try of this event, 2 for the first retry…")
    status_code: int | None = Field(description="The receiver's status; null if none came.")
    error: str | None = Field(description="Why the attempt failed; null on a 2xx.")
    duration_ms: float = Field(description="How long the attempt took.")
    at: str = Field(description="When it ended. " + WHEN)
    next_attempt_at: str | None = Field(description="When it is tried again. " + WHEN)
