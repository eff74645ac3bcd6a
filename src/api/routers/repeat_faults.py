"""Repeat faults (contract: Field service, Repeat faults). The ledger raises
them (``projections.repeat_policy_runner``); people acknowledge and resolve."""

from __future__ import annotations

import asyncio
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response
from starlette.concurrency import run_in_threadpool

from api.auth import DISPATCH, READ, allow
from api.deps import (
    ActorDep,
    Cursor,
    IfMatchHeader,
    Limit,
    MinPositionDep,
    Services,
    ServicesDep,
    expected_version,
    in_threadpool,
    read_your_writes,
)
from api.json_route import JsonRoute
from api.schemas import Page
from api.schemas_repeat_faults import (
    AcknowledgeBody,
    FaultStatus,
    RepeatFault,
    ResolveBody,
    Scope,
)
from ledger.application import CommandResult
from ledger.errors import RepeatFaultNotFoundError
from projections.repeat_fault_queries import RepeatFaultQueries

router = APIRouter(prefix="/repeat-faults", tags=["repeat-faults"], route_class=JsonRoute)


def render(row: dict) -> RepeatFault:
    return RepeatFault(**{k: row[k] for k in RepeatFault.model_fields})


def fault_or_404(services: Services, fault_id: UUID) -> RepeatFault:
    row = RepeatFaultQueries(services.store).fault(fault_id)
    if row is None:
        # It may be recorded but not projected yet: the event store decides.
        services.ledger.get_repeat_fault(fault_id)
        services.read_side.wait_for(services.ledger.head(), services.settings.min_position_timeout)
        row = RepeatFaultQueries(services.store).fault(fault_id)
        if row is None:
            raise RepeatFaultNotFoundError(f"Repeat fault {fault_id} does not exist.")
    return render(row)


async def fault_answer(
    services: Services, fault_id: UUID, result: CommandResult | None, response: Response
) -> RepeatFault:
    if result is not None:
        await read_your_writes(services, result, response)
    return await run_in_threadpool(fault_or_404, services, fault_id)


@router.get("", response_model=Page[RepeatFault], dependencies=[allow(READ), MinPositionDep],
            description="Repeat faults, newest first, filtered by scope, status and place "
                        "(`value`), paged.")
@in_threadpool
def list_repeat_faults(
    services: ServicesDep,
    scope: Scope | None = None,
    status: FaultStatus | None = None,
    value: Annotated[str | None, Query(max_length=200, description="The place, e.g. P-1042.")]
    = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Page[RepeatFault]:
    page = RepeatFaultQueries(services.store).faults(
        limit=limit, cursor=cursor, scope=scope, status=status, value=value)
    return Page[RepeatFault](items=[render(r) for r in page.items], next_cursor=page.next_cursor)


@router.get("/{fault_id}", response_model=RepeatFault, dependencies=[allow(READ), MinPositionDep],
            description="One repeat fault.", responses={404: {"description": "unknown fault"}})
@in_threadpool
def get_repeat_fault(fault_id: UUID, services: ServicesDep) -> RepeatFault:
    return fault_or_404(services, fault_id)


@router.post("/{fault_id}/acknowledge", response_model=RepeatFault,
             description="Someone is on it: an open fault becomes `acknowledged` (409 from any "
                         "other status). `If-Match` with the fault's version (its ETag) makes "
                         "it conditional.",
             responses={404: {"description": "unknown fault"},
                        409: {"description": "not open"}},
             dependencies=[allow(DISPATCH)])
async def acknowledge(
    fault_id: UUID, services: ServicesDep, actor: ActorDep, response: Response,
    body: AcknowledgeBody | None = None, if_match: IfMatchHeader = None,
) -> RepeatFault:
    result = await asyncio.wrap_future(services.ledger.acknowledge_repeat_fault(
        fault_id, actor=actor, expected_version=expected_version(if_match),
        **(body or AcknowledgeBody()).model_dump(),
    ))
    return await fault_answer(services, fault_id, result, response)


@router.post("/{fault_id}/resolve", response_model=RepeatFault,
             description="Ends the fault (`resolved`, from open or acknowledged; 409 when "
                         "resolved already): later tickets at the place count toward a new "
                         "one. `resolution` is required.",
             responses={404: {"description": "unknown fault"},
                        409: {"description": "resolved already"}},
             dependencies=[allow(DISPATCH)])
async def resolve(
    fault_id: UUID, body: ResolveBody, services: ServicesDep, actor: ActorDep,
    response: Response, if_match: IfMatchHeader = None,
) -> RepeatFault:
    result = await asyncio.wrap_future(services.ledger.resolve_repeat_fault(
        fault_id, actor=actor, expected_version=expected_version(if_match),
        **body.model_dump(),
    ))
    return await fault_answer(services, fault_id, result, response)
