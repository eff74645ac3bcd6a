"""Engineers: the roster that assignments draw on."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Response, status
from starlette.concurrency import run_in_threadpool

from api.auth import DISPATCH, READ, allow
from api.deps import (
    ActorDep,
    Cursor,
    DispatchContext,
    Limit,
    MinPositionDep,
    Services,
    ServicesDep,
    in_threadpool,
    read_your_writes,
)
from api.json_route import JsonRoute
from api.schemas import Engineer, EngineerCreate, EngineerPatch, Page
from ledger.application import CommandResult
from ledger.errors import EngineerNotFoundError
from projections.tables import ts

router = APIRouter(prefix="/engineers", tags=["engineers"], route_class=JsonRoute)


async def engineer_answer(
    services: Services, engineer_id: str, result: CommandResult | None, response: Response
) -> Engineer:
    """The engineer once the read side has the command's events."""
    if result is None:  # nothing changed: answer with the current version
        result = await run_in_threadpool(_unchanged, services, engineer_id)
    fresh = await read_your_writes(services, result, response)
    return await run_in_threadpool(_engineer, services, engineer_id, fresh)


def _unchanged(services: Services, engineer_id: str) -> CommandResult:
    engineer = services.ledger.get_engineer(engineer_id)
    return CommandResult(engineer.id, engineer.version, services.ledger.head())


def _engineer(services: ServicesDep, engineer_id: str, fresh: bool = True) -> Engineer:
    row = services.queries.engineer(engineer_id)
    if row is None and not fresh:
        # Registered, but the read side has not projected it within the wait (an
        # API-only process whose workers are down or behind): answer with what was
        # recorded, in the row's form, rather than a 404 for an engineer that exists.
        row = _recorded_row(services, engineer_id)
    if row is None:
        raise EngineerNotFoundError(f"Engineer {engineer_id!r} is not registered.")
    return Engineer(**{k: row[k] for k in Engineer.model_fields})


def _recorded_row(services: Services, engineer_id: str) -> dict[str, Any]:
    """The engineer as its events leave it, with the fields the read row has;
    ``open_assignments`` 0: the read side, which counts them, has no row for the
    engineer yet (the response says it is stale)."""
    engineer = services.ledger.get_engineer(engineer_id)
    return {
        "id": engineer.engineer_id, "name": engineer.name, "skills": list(engineer.skills),
        "tier": engineer.tier, "capacity": engineer.capacity,
        "availability": engineer.availability, "active": engineer.active,
        "open_assignments": 0, "territories": list(engineer.territories),
        "certifications": list(engineer.certifications),
        "created_at": ts(engineer.created_on), "updated_at": ts(engineer.modified_on),
    }


@router.post("", status_code=status.HTTP_201_CREATED, response_model=Engineer,
             description="Registers an engineer under an id the caller chooses; 409 when "
                         "the id is taken.",
             responses={409: {"description": "id taken"}},
             dependencies=[allow(DISPATCH)])
async def register_engineer(
    body: EngineerCreate, services: ServicesDep, actor: ActorDep, response: Response
) -> Engineer:
    result = await asyncio.wrap_future(services.ledger.register_engineer(
        engineer_id=body.id, actor=actor, **body.model_dump(exclude={"id"}),
    ))
    response.headers["Location"] = f"/engineers/{body.id}"
    return await engineer_answer(services, body.id, result, response)


@router.get("", response_model=Page[Engineer], dependencies=[allow(READ), MinPositionDep],
            description="The roster in the order engineers were registered, each with the "
                        "assignments they hold now; `active` keeps only active (or "
                        "inactive) engineers.")
@in_threadpool
def list_engineers(
    services: ServicesDep, limit: Limit = 100, cursor: Cursor = None, active: bool | None = None
) -> Page[Engineer]:
    page = services.queries.engineers(limit=limit, cursor=cursor, active=active)
    return Page[Engineer](
        items=[Engineer(**{k: r[k] for k in Engineer.model_fields}) for r in page.items],
        next_cursor=page.next_cursor,
    )


@router.get("/{engineer_id}", response_model=Engineer, dependencies=[allow(READ), MinPositionDep],
            description="One engineer, with the assignments they hold now.")
@in_threadpool
def get_engineer(engineer_id: str, services: ServicesDep) -> Engineer:
    return _engineer(services, engineer_id)


@router.patch("/{engineer_id}", response_model=Engineer,
              responses={412: {"description": "`If-Match` is not the engineer's version"}})
async def update_engineer(
    engineer_id: str, body: EngineerPatch, ctx: DispatchContext, response: Response,
) -> Engineer:
    """Changes the fields sent and records what changed; fields left out stay.
    ``active: false`` stops new assignments to the engineer. ``territories`` and
    ``certifications`` replace the old lists. ``If-Match`` (the ``ETag`` of
    the engineer's last answer) acts only on that version: stale, 412."""
    changes = body.model_dump(mode="json", exclude_unset=True, exclude_none=True)
    result = await asyncio.wrap_future(ctx.services.ledger.update_engineer(
        engineer_id, changes=changes, actor=ctx.actor, expected_version=ctx.expected_version,
    ))
    return await engineer_answer(ctx.services, engineer_id, result, response)
