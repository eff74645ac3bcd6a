"""Certifications: which of the active engineers' run out soon (seed 001 T3.1)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

from fastapi import APIRouter, Query

from api.auth import READ, allow
from api.deps import MinPositionDep, ServicesDep, in_threadpool
from api.schemas_dispatch import ExpiringCertification, Items

router = APIRouter(prefix="/certifications", tags=["coverage"])


@router.get("/expiring", response_model=Items[ExpiringCertification],
            dependencies=[allow(READ), MinPositionDep],
            description="Active engineers' certifications whose last valid day is between "
                        "`on` (today, UTC, by default) and `within_days` later, soonest first.")
@in_threadpool
def expiring(
    services: ServicesDep,
    within_days: Annotated[int, Query(
        ge=0, le=3650, description="How many days ahead of `on` to look.")] = 30,
    on: Annotated[date | None, Query(
        description="The day to count from (YYYY-MM-DD); today (UTC) by default.")] = None,
) -> Items[ExpiringCertification]:
    rows = services.coverage.expiring(
        on=on or datetime.now(UTC).date(), within_days=within_days)
    return Items[ExpiringCertification](items=[ExpiringCertification(**r) for r in rows])
