"""Coverage: who qualifies for a kind of work, and which open work nobody covers
(the qualification rule, ``ledger.qualification``, as SQL: projections.coverage)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

from fastapi import APIRouter, Query

from api.auth import READ, allow
from api.deps import MinPositionDep, ServicesDep, in_threadpool
from api.schemas_dispatch import CoverageGap, CoveringEngineer, Items

router = APIRouter(prefix="/coverage", tags=["coverage"])

Territory = Annotated[str | None, Query(
    min_length=1, max_length=100, description="The work's territory; left out: any.")]
Skill = Annotated[str | None, Query(
    min_length=1, max_length=100, description="The skill the work requires; left out: none.")]
Certification = Annotated[str | None, Query(
    min_length=1, max_length=100,
    description="The certification the work requires, valid on `on`; left out: none.")]
On = Annotated[date | None, Query(
    description="The day certifications are judged on (YYYY-MM-DD); today (UTC) by default.")]


def today() -> date:
    return datetime.now(UTC).date()


@router.get("", response_model=Items[CoveringEngineer],
            dependencies=[allow(READ), MinPositionDep],
            description="The engineers who qualify for work in `territory` needing `skill` "
                        "and `certification` (each optional: left out, not needed) at `tier` "
                        "on day `on`: active, availability above 0, the skill, the territory "
                        "(or no territories: anywhere), the certification valid that day, tier "
                        "at least `tier`. Least loaded first (open assignments per unit of "
                        "capacity), at most `limit`.")
@in_threadpool
def coverage(
    services: ServicesDep,
    territory: Territory = None,
    skill: Skill = None,
    certification: Certification = None,
    tier: Annotated[int, Query(ge=1, le=10, description="The tier the work is at.")] = 1,
    on: On = None,
    limit: Annotated[int, Query(ge=1, le=5000, description="At most this many.")] = 100,
) -> Items[CoveringEngineer]:
    rows = services.coverage.qualified(
        territory=territory, skill=skill, certification=certification, tier=tier,
        on=on or today(), limit=limit,
    )
    return Items[CoveringEngineer](items=[CoveringEngineer(**r) for r in rows])


@router.get("/gaps", response_model=Items[CoverageGap],
            dependencies=[allow(READ), MinPositionDep],
            description="The (territory, skill, certification) combinations that open, "
                        "assigned or in-progress tickets need and no active engineer covers on "
                        "day `on` (at any tier), with how many tickets need each; most first.")
@in_threadpool
def gaps(services: ServicesDep, on: On = None) -> Items[CoverageGap]:
    rows = services.coverage.gaps(on=on or today())
    return Items[CoverageGap](items=[CoverageGap(**r) for r in rows])
