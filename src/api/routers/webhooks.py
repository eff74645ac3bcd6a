"""Webhooks: endpoints that receive the event log, signed as Standard Webhooks
says (docs/webhooks.md). Admin only. The signing secret is shown once, when it
is made (create, rotate-secret), and kept outside the event log."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import orjson
from fastapi import APIRouter, Response, status
from starlette.concurrency import run_in_threadpool

from api.auth import MANAGE, allow
from api.deps import ActorDep, Cursor, Limit, Services, ServicesDep, read_your_writes
from api.json_route import JsonRoute
from api.problems import BadRequestError
from api.schemas import Page
from api.schemas_webhooks import (
    DeliveryAttempt,
    Webhook,
    WebhookCreate,
    WebhookCreated,
    WebhookPatch,
    WebhookSecret,
)
from api.webhook_service import new_secret
from ledger.errors import WebhookNotFoundError
from ledger.ids import new_id
from ledger.results import CommandResult
from ledger.webhook import TEST_TYPE
from ledger.webhook_targets import check_target
from projections.feed import UnknownEventTypeError, topics_for
from projections.queries import decode_position_cursor, encode_cursor
from projections.tables import ts
from projections.webhook_queries import WebhookQueries
from projections.webhook_store import Attempt
from projections.webhook_transport import Sender

router = APIRouter(prefix="/webhooks", tags=["webhooks"], route_class=JsonRoute,
                   dependencies=[allow(MANAGE)])

NOT_FOUND = {404: {"description": "No webhook endpoint has this id."}}
REFUSED = {400: {"description": "The URL is not http(s), or its target is refused (SSRF), or "
                                "an event type is unknown."}}


def _now() -> str:
    return ts(datetime.now(UTC)) or ""


def _row(services: Services, webhook_id: UUID) -> dict[str, Any]:
    row = WebhookQueries(services.store).endpoint(str(webhook_id))
    if row is None:
        raise WebhookNotFoundError(f"Webhook {webhook_id} does not exist.")
    return row


async def _answer(
    services: Services, webhook_id: UUID, result: CommandResult | None, response: Response
) -> dict[str, Any]:
    """The endpoint once the read side has the command's events."""
    if result is None:  # nothing changed
        webhook = await run_in_threadpool(services.ledger.get_webhook, webhook_id)
        result = CommandResult(webhook.id, webhook.version, services.ledger.head())
    await read_your_writes(services, result, response)
    return await run_in_threadpool(_row, services, webhook_id)


async def _check(services: Services, url: str | None, event_types: list[str] | None) -> None:
    """400 for a refused target or an unknown event type; nothing is recorded."""
    try:
        topics_for(event_types or ())
    except UnknownEventTypeError as e:
        raise BadRequestError(str(e)) from None
    if url is not None:
        await run_in_threadpool(
            check_target, url, allow_private=services.webhooks.config.allow_private)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=WebhookCreated,
             responses=REFUSED,
             description="Registers an endpoint (recorded as `Webhook.Registered`). The "
                         "answer carries its signing secret, shown this once.")
async def create_webhook(
    body: WebhookCreate, services: ServicesDep, actor: ActorDep, response: Response
) -> WebhookCreated:
    await _check(services, body.url, body.event_types)
    webhook_id, secret = new_id(), new_secret()
    # The secret first: the endpoint never exists without one.
    await run_in_threadpool(services.webhooks.table.put_secret, str(webhook_id), secret, _now())
    result = await asyncio.wrap_future(services.ledger.register_webhook(
        webhook_id=webhook_id, actor=actor, **body.model_dump()))
    response.headers["Location"] = f"/webhooks/{webhook_id}"
    return WebhookCreated(**await _answer(services, webhook_id, result, response), secret=secret)


@router.get("", response_model=Page[Webhook],
            description="The endpoints, in the order they were registered, with their "
                        "delivery health, paged like every global list. Never a secret.")
async def list_webhooks(
    services: ServicesDep, limit: Limit = 100, cursor: Cursor = None
) -> Page[Webhook]:
    page = await run_in_threadpool(
        lambda: WebhookQueries(services.store).page(limit=limit, cursor=cursor))
    return Page[Webhook](items=[Webhook(**r) for r in page.items], next_cursor=page.next_cursor)


@router.get("/{webhook_id}", response_model=Webhook, responses=NOT_FOUND,
            description="One endpoint with its delivery health. Never its secret.")
async def get_webhook(webhook_id: UUID, services: ServicesDep) -> Webhook:
    return Webhook(**await run_in_threadpool(_row, services, webhook_id))


@router.patch("/{webhook_id}", response_model=Webhook, responses={**NOT_FOUND, **REFUSED},
              description="Changes the fields sent (`Webhook.Updated`; `active` as "
                          "`Webhook.Activated` / `Webhook.Deactivated`); fields left out "
                          "stay. Deliveries resume from where they stopped.")
async def update_webhook(
    webhook_id: UUID, body: WebhookPatch, services: ServicesDep, actor: ActorDep,
    response: Response,
) -> Webhook:
    changes = body.model_dump(exclude_unset=True)
    if changes.get("url", "") is None:
        raise BadRequestError("url may not be null.")
    if changes.get("active", False) is None:
        del changes["active"]
    await _check(services, changes.get("url"), changes.get("event_types"))
    result = await asyncio.wrap_future(
        services.ledger.update_webhook(webhook_id, changes=changes, actor=actor))
    return Webhook(**await _answer(services, webhook_id, result, response))


@router.delete("/{webhook_id}", response_model=Webhook, responses=NOT_FOUND,
               description="Deactivates the endpoint (`Webhook.Deactivated`, reason "
                           "`deleted`); the record stays, and PATCH `active: true` resumes it.")
async def delete_webhook(
    webhook_id: UUID, services: ServicesDep, actor: ActorDep, response: Response
) -> Webhook:
    result = await asyncio.wrap_future(
        services.ledger.deactivate_webhook(webhook_id, reason="deleted", actor=actor))
    return Webhook(**await _answer(services, webhook_id, result, response))


@router.post("/{webhook_id}/rotate-secret", response_model=WebhookSecret, responses=NOT_FOUND,
             description="Replaces the signing secret (`Webhook.SecretRotated`, which holds "
                         "no secret); the new one is shown this once and signs every "
                         "message from now on.")
async def rotate_secret(
    webhook_id: UUID, services: ServicesDep, actor: ActorDep, response: Response
) -> WebhookSecret:
    result = await asyncio.wrap_future(
        services.ledger.record_secret_rotation(webhook_id, actor=actor))
    secret = new_secret()
    await run_in_threadpool(services.webhooks.table.put_secret, str(webhook_id), secret, _now())
    await read_your_writes(services, result, response)
    return WebhookSecret(id=webhook_id, secret=secret)


@router.post("/{webhook_id}/test", response_model=DeliveryAttempt, responses=NOT_FOUND,
             description="Sends a `webhook.test` message now, signed like any other, and "
                         "answers with the attempt (also in the delivery log). Records no "
                         "event.")
async def test_webhook(webhook_id: UUID, services: ServicesDep) -> DeliveryAttempt:
    row = await run_in_threadpool(_row, services, webhook_id)
    table, config = services.webhooks.table, services.webhooks.config
    secret = (await run_in_threadpool(table.secrets, [str(webhook_id)]))[str(webhook_id)]
    at = _now()
    body = orjson.dumps({"type": TEST_TYPE, "timestamp": at, "data": {
        "webhook_id": str(webhook_id), "message": "A test message from the assignment ledger."}})
    sender = Sender(allow_private=lambda: config.allow_private,
                    connect_timeout=config.connect_timeout,
                    request_timeout=config.request_timeout, connections=1,
                    resolve=services.webhooks.resolve)
    try:
        outcome = await sender.send(row["url"], secret, f"msg_test_{uuid4().hex}", body)
    finally:
        await sender.aclose()
    attempt = Attempt(str(webhook_id), None, 1, outcome.status_code, outcome.error,
                      outcome.duration_ms, _now())
    await run_in_threadpool(table.save, [], [attempt])
    return DeliveryAttempt(**vars(attempt))


@router.get("/{webhook_id}/deliveries", response_model=Page[DeliveryAttempt],
            responses=NOT_FOUND,
            description="The delivery log: every attempt, newest first (kept "
                        "LEDGER_WEBHOOK_LOG_DAYS days).")
async def deliveries(
    webhook_id: UUID, services: ServicesDep, limit: Limit = 100, cursor: Cursor = None
) -> Page[DeliveryAttempt]:
    before = decode_position_cursor(cursor) if cursor else None
    await run_in_threadpool(_row, services, webhook_id)
    rows = await run_in_threadpool(
        services.webhooks.table.deliveries, str(webhook_id), limit=limit + 1, before=before)
    items = [DeliveryAttempt(**{k: v for k, v in r.items() if k != "id"}) for r in rows[:limit]]
    more = len(rows) > limit
    return Page[DeliveryAttempt](
        items=items, next_cursor=encode_cursor([rows[limit - 1]["id"]]) if more else None)
