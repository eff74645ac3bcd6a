"""The console's reports page: charts a manager would rather look at than read
(tickets opened and resolved per day, escalations and SLA breaches per tier,
hours and load per engineer, first-assignment resolution), each with the same
figures as a table beneath it for whoever cannot see the chart."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from api.console.session import SessionDep, keeper_of
from api.console.views import page, to_login
from projections.report_series import ReportSeries

router = APIRouter(include_in_schema=False)

#: The windows a manager can pick, in days.
WINDOWS = (7, 30, 90)


def report_data(services: Any, days: int, now: datetime) -> dict[str, Any]:
    series = ReportSeries(services.store, now=now, days=days)
    return {
        "tickets": series.tickets_per_day(),
        "first_time": series.first_assignment_resolution(),
        "escalations": series.escalations_per_tier(),
        "breaches": series.sla_breaches_per_tier(services.settings.sla_table()),
        "engineers": series.engineers(),
    }


@router.get("/reports")
async def reports_page(
    request: Request, session: SessionDep,
    days: Annotated[int, Query()] = 30,
) -> Response:
    if session is None:
        return to_login(request)
    days = days if days in WINDOWS else 30
    data = await run_in_threadpool(report_data, request.app.state.services, days,
                                   datetime.now(UTC))
    # The charts' script reads this from a JSON block (no inline script runs
    # under the page's content security policy); "</" cannot end that block early.
    chart_json = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    return page(request, "reports.html", session, keeper_of(request), days=days,
                windows=WINDOWS, data=data, chart_json=chart_json)
