"""Engineers: the roster that assignments draw on."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from api.auth import DISPATCH, READ, allow
from api.deps import (
    ActorDep,
    Cursor,
    Limit,
    MinPositionDep,
    ServicesDep,
    committed,
    in_threadpool,
)
from api.json_route import JsonRoute
from api.schemas import Engineer, EngineerCreate, EngineerPatch, Page
from ledger.application import CommandResult
from ledger.errors import EngineerNotFoundError

router = APIRouter(prefix="/engineers", tags=["engineers"], route_class=JsonRoute)


def _engineer(services: ServicesDep, engineer_id: str) -> Engineer:
    row = services.queries.engineer(engineer_id)
    if row is None:
        raise EngineerNotFoundError(f"Engineer {engineer_id!r} is not registered.")
    return Engineer(**{k: row[k] for k in Engineer.model_fields})


@router.post("", status_code=status.HTTP_201_CREATED, response_model=Engineer,
             responses={409: {"description": "id taken"}},
             dependencies=[allow(DISPATCH)])
@in_threadpool
def register_engineer(
    body: EngineerCreate, services: ServicesDep, actor: ActorDep, response: Response
) -> Engineer:
    result = services.ledger.register_engineer(
        engineer_id=body.id, name=body.name, skills=body.skills, tier=body.tier,
        capacity=body.capacity, availability=body.availability, actor=actor,
    )
    committed(services, result, response)
    response.headers["Location"] = f"/engineers/{body.id}"
    return _engineer(services, body.id)


@router.get("", response_model=Page[Engineer], dependencies=[allow(READ), MinPositionDep])
@in_threadpool
def list_engineers(
    services: ServicesDep, limit: Limit = 100, cursor: Cursor = None, active: bool | None = None
) -> Page[Engineer]:
    page = services.queries.engineers(limit=limit, cursor=cursor, active=active)
    return Page[Engineer](
        items=[Engineer(**{k: r[k] for k in Engineer.model_fields}) for r in page.items],
        next_cursor=page.next_cursor,
    )


@router.get("/{engineer_id}", response_model=Engineer, dependencies=[allow(READ), MinPositionDep])
@in_threadpool
def get_engineer(engineer_id: str, services: ServicesDep) -> Engineer:
    return _engineer(services, engineer_id)


@router.patch("/{engineer_id}", response_model=Engineer, dependencies=[allow(DISPATCH)])
@in_threadpool
def update_engineer(
    engineer_id: str, body: EngineerPatch, services: ServicesDep, actor: ActorDep,
    response: Response,
) -> Engineer:
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    result = services.ledger.update_engineer(engineer_id, changes=changes, actor=actor)
    if result is None:  # nothing changed: answer with the current version
        engineer = services.ledger.get_engineer(engineer_id)
        result = CommandResult(engineer.id, engineer.version, services.ledger.head())
    committed(services, result, response)
    return _engineer(services, engineer_id)
