"""The auditor's endpoints: signed checkpoints, the public key, verification."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool

from api.auth import AUDIT, READ, allow
from api.deps import ServicesDep
from projections.audit import Audit

router = APIRouter(prefix="/audit", tags=["audit"])


def _audit(services: ServicesDep) -> Audit:
    return services.audit


@router.get("/public-key", dependencies=[allow(READ)])
def public_key(services: ServicesDep) -> dict[str, str]:
    """The Ed25519 public key that checkpoint signatures verify against."""
    signer = _audit(services).signer
    return {
        "algorithm": "Ed25519",
        "key_id": signer.key_id,
        "public_key_hex": signer.public_raw.hex(),
        "public_key_pem": signer.public_pem,
    }


@router.get("/checkpoints", dependencies=[allow(READ)])
def checkpoints(
    services: ServicesDep,
    after: Annotated[int, Query(ge=0, le=2**62, description="Checkpoints after this position.")] = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> dict[str, Any]:
    """Signed checkpoints in position order. Each signs the message
    ``assignment-ledger checkpoint\\nposition=P\\nevents=N\\nrunning_hash=H\\nsealed_at=T\\n``
    (docs/audit.md)."""
    audit = _audit(services)
    found = audit.checkpoints.after(after, limit=limit)
    return {
        "key_id": audit.signer.key_id,
        "items": [c.as_dict() for c in found],
        "next_after": found[-1].position if len(found) == limit else None,
    }


@router.get("/verify", dependencies=[allow(AUDIT)])
async def verify(
    services: ServicesDep,
    ticket_id: Annotated[UUID | None, Query(description="Verify only this ticket's chain.")] = None,
    from_: Annotated[
        int | None,
        Query(alias="from", ge=0, le=2**62,
              description="Start at the last checkpoint at or before this position."),
    ] = None,
) -> dict[str, Any]:
    """Recomputes every event's hash from its stored bytes, every stream's chain,
    and the running hash and signature of every checkpoint. ``first_broken``
    names the ticket, version and position of the first bad event."""
    verifier = _audit(services).verifier()
    report = await run_in_threadpool(
        verifier.verify, ticket_id=ticket_id, from_position=from_ or 0
    )
    return report.as_dict()
