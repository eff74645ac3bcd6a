"""Handovers of a ticket between teams: Build -> QA -> Maintenance (seed 003)."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Response, status
from starlette.concurrency import run_in_threadpool

from api.auth import READ, allow
from api.deps import (
    DispatchContext,
    MinPositionDep,
    Services,
    ServicesDep,
    in_threadpool,
    read_your_writes,
)
from api.json_route import JsonRoute
from api.routers.tickets import ticket_or_404
from api.schemas_handovers import Handover, HandoverCreate
from ledger.application import CommandResult
from ledger.errors import SnapshotOutdatedError, TicketNotFoundError
from ledger.ids import new_id
from projections.handover_queries import handover, handovers_of_ticket, ticket_snapshot

router = APIRouter(prefix="/tickets", tags=["tickets"], route_class=JsonRoute)

#: How often the snapshot is taken again when the ticket changed before the
#: command ran.
SNAPSHOT_ATTEMPTS = 3


def _snapshot(services: Services, ticket_id: UUID) -> tuple[int, dict[str, Any]]:
    taken = ticket_snapshot(services.events, ticket_id)
    if taken is None:
        raise TicketNotFoundError(f"Ticket {ticket_id} does not exist.")
    return taken


def _recorded(
    services: Services, ticket_id: UUID, handover_id: UUID, version: int
) -> dict[str, Any]:
    """The handover's row; if the read side is still behind, as its event says."""
    row = handover(services.store, handover_id)
    if row is not None:
        return row
    event = next(e for e in services.events.stream(ticket_id) if e["version"] == version)
    data = event["data"]
    return {
        "id": str(handover_id), "ticket_id": str(ticket_id), "ticket_version": version,
        "from_team": data["from_team"], "to_team": data["to_team"],
        "handed_over_by": event["actor"], "handed_over_at": event["recorded_at"],
        "notes": data["notes"], "snapshot": data["snapshot"],
        "snapshot_hash": data["snapshot_hash"],
    }


async def record_handover(
    services: Services, ticket_id: UUID, body: HandoverCreate, *, actor: str,
    expected_version: int | None = None,
) -> tuple[CommandResult, UUID]:
    """The handover command, as the API and the console run it: the snapshot
    folded from the ticket's events, then the command, which checks that the
    ticket is still at the snapshot's version (taken again if not, three times
    at most). Returns what was recorded and the handover's id."""
    handover_id = new_id()
    attempt = 1
    while True:
        version, snapshot = await run_in_threadpool(_snapshot, services, ticket_id)
        try:
            result = await asyncio.wrap_future(services.ledger.hand_over(
                ticket_id, handover_id=handover_id, to_team=body.to_team, notes=body.notes,
                snapshot=snapshot, snapshot_version=version, actor=actor,
                expected_version=expected_version,
            ))
        except SnapshotOutdatedError:
            if attempt == SNAPSHOT_ATTEMPTS:
                raise
            attempt += 1
            continue
        return result, handover_id


@router.post(
    "/{ticket_id}/handover", status_code=status.HTTP_201_CREATED, response_model=Handover,
    responses={404: {"description": "unknown ticket"},
               409: {"description": "a move the ticket's owner may not make (allowed: no team "
                                    "-> build -> qa -> maintenance, and qa -> build), or the "
                                    "ticket is closed"},
               412: {"description": "If-Match version is stale"}},
)
async def hand_over(
    ticket_id: UUID, body: HandoverCreate, ctx: DispatchContext, response: Response,
) -> Handover:
    """Hands the ticket to another team. The event records the team it leaves,
    the one it goes to, who handed it over, the notes, and a snapshot of the
    ticket and its assignments as they stood, with the SHA-256 of the snapshot's
    canonical JSON (RFC 8785). The ticket's `owner_team` becomes `to_team`.
    Dispatchers and admins may hand over. A refused move records nothing.

    The snapshot is folded from the ticket's events just before the command; if
    the ticket changes in between, it is taken again (three times at most, then
    409 `concurrent-update`)."""
    services = ctx.services
    result, handover_id = await record_handover(
        services, ticket_id, body, actor=ctx.actor, expected_version=ctx.expected_version)
    await read_your_writes(services, result, response)
    row = await run_in_threadpool(_recorded, services, ticket_id, handover_id, result.version)
    response.headers["Location"] = f"/tickets/{ticket_id}/handovers"
    return Handover(**row)


@router.get("/{ticket_id}/handovers", response_model=list[Handover],
            description="The ticket's handovers between teams, oldest first (a bare array), "
                        "each with its snapshot and `snapshot_hash`.",
            dependencies=[allow(READ), MinPositionDep])
@in_threadpool
def ticket_handovers(ticket_id: UUID, services: ServicesDep) -> list[Handover]:
    ticket_or_404(services, ticket_id)
    return [Handover(**r) for r in handovers_of_ticket(services.store, ticket_id)]
