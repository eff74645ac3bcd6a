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


_ENDPOINT = {
    "id": "0b6f7c1e-3d52-4c4e-9d0e-5a2b7f9c1d24", "url": "https://hooks.example.com/ledger",
    "event_types": ["Ticket.Assigned", "Ticket.Completed"], "description": "Dispatch board sync",
    "active": True, "version": 1, "created_at": "2026-12-07T09:00:00.000000Z",
    "updated_at": "2026-12-07T09:00:00.000000Z", "deactivated_reason": None,
    "secret_rotated_at": None,
}
_HEALTH = {
    "position": 1207, "failures": 0, "last_success_at": "2026-12-07T09:14:03.201000Z",
    "last_failure_at": None, "last_error": None, "next_attempt_at": None,
}
_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


class DeliveryHealth(BaseModel):
    model_config = examples(_HEALTH)

    position: int = Field(description="Every event at or before this position was delivered.")
    failures: int = Field(description="Failed attempts in a row (0 after a success).")
    last_success_at: str | None = Field(description="Last 2xx. " + WHEN)
    last_failure_at: str | None = Field(description="Last failed attempt. " + WHEN)
    last_error: str | None = Field(description="What the last failed attempt met.")
    next_attempt_at: str | None = Field(description="When the next retry is due. " + WHEN)


class Webhook(BaseModel):
    model_config = examples({**_ENDPOINT, "delivery": _HEALTH})

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
    model_config = examples({**_ENDPOINT, "delivery": None, "secret": _SECRET})

    secret: str = Field(description=SECRET)


class WebhookSecret(BaseModel):
    model_config = examples({"id": _ENDPOINT["id"], "secret": _SECRET})

    id: UUID = Field(description="The endpoint's id.")
    secret: str = Field(description=SECRET)


class DeliveryAttempt(BaseModel):
    model_config = examples({
        "webhook_id": _ENDPOINT["id"], "position": 1208, "attempt": 2, "status_code": 503,
        "error": "HTTP 503", "duration_ms": 12.4, "at": "2026-12-07T09:15:00.102000Z",
        "next_attempt_at": "2026-12-07T09:15:01.802000Z",
    })

    webhook_id: UUID = Field(description="The endpoint.")
    position: int | None = Field(
        description="The event's position in the log; null for a test message.")
    attempt: int = Field(description="1 for the first try of this event, 2 for the first retry…")
    status_code: int | None = Field(description="The receiver's status; null if none came.")
    error: str | None = Field(description="Why the attempt failed; null on a 2xx.")
    duration_ms: float = Field(description="How long the attempt took.")
    at: str = Field(description="When it ended. " + WHEN)
    next_attempt_at: str | None = Field(description="When it is tried again. " + WHEN)
