"""Metrics as Zendesk and ServiceNow define them: per ticket, per engineer, fleet."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from api.auth import READ, allow
from api.deps import MinPositionDep, ServicesDep
from api.problems import BadRequestError
from api.routers.sla import aware
from api.routers.tickets import ticket_or_404
from ledger.errors import TicketNotFoundError
from projections.ops_queries import OpsQueries
from projections.tables import ts

router = APIRouter(tags=["reports"])


class TicketMetrics(BaseModel):
    ticket_id: str
    priority: str
    opened_at: str
    first_assigned_at: str | None
    first_accepted_at: str | None
    first_resolved_at: str | None
    resolved_at: str | None
    assignee_stations: int
    unique_assignees: int
    assignees: list[str]
    escalations: int
    reassignment_count: int
    rejections: int
    reopens: int
    resolved_on_first_assignment: bool | None
    time_to_first_assignment_seconds: float | None
    time_to_first_accept_seconds: float | None
    time_to_first_resolution_seconds: float | None
    time_to_resolution_seconds: float | None
    time_spent_hours: float
    parts_cost: float = Field(description=(
        "The cost of the parts used in the ticket's completions: the sum of "
        "`parts_used[].cost`, rounded to cents."))


class EngineerReportRow(BaseModel):
    engineer_id: str
    name: str
    tier: int
    active: bool
    capacity: int
    open_load: int
    offered: int
    accepted: int
    rejected: int
    acceptance_rate: float | None
    rejection_rate: float | None
    completed: int
    resolved: int
    hours_spent: float
    parts_cost: float = Field(description=(
        "The cost of the parts used in the engineer's completions in the window: the sum "
        "of their `parts_used[].cost` (each line's cost for all its `quantity`), in the "
        "currency the costs were recorded in, rounded to cents."))


class EngineerReport(BaseModel):
    from_: str | None = Field(None, alias="from")
    to: str | None = None
    engineers: list[EngineerReportRow]


class Summary(BaseModel):
    from_: str | None = Field(None, alias="from")
    to: str | None = None
    tickets: int
    tickets_assigned: int
    tickets_resolved: int
    escalations: int
    avg_escalations_per_ticket: float | None
    avg_assignee_stations: float | None
    avg_unique_assignees: float | None
    avg_reassignment_count: float | None
    avg_rejections_per_ticket: float | None
    first_assignment_resolution_rate: float | None
    avg_time_to_first_accept_seconds: float | None
    avg_time_to_resolution_seconds: float | None
    hours_spent: float
    parts_cost: float = Field(description=(
        "The cost of the parts used on the tickets opened in the window, over all their "
        "completions: the sum of `parts_used[].cost` (each line's cost for all its "
        "`quantity`), rounded to cents."))
    active_engineers: int
    open_assignments: int
    fleet_utilisation: float | None


From = Annotated[datetime | None, Query(alias="from", description="Window start (RFC 3339), inclusive.")]
To = Annotated[datetime | None, Query(description="Window end (RFC 3339), exclusive.")]


def _window(start: datetime | None, end: datetime | None) -> tuple[datetime | None, datetime | None]:
    aware(start, "from")
    aware(end, "to")
    if start is not None and end is not None and end <= start:
        raise BadRequestError("to must be after from.", 422)
    return start, end


def _iso(value: datetime | None) -> str | None:
    return ts(value) if value else None


@router.get("/tickets/{ticket_id}/metrics", response_model=TicketMetrics,
            dependencies=[allow(READ), MinPositionDep])
def ticket_metrics(ticket_id: UUID, services: ServicesDep) -> TicketMetrics:
    """The ticket's assignment metrics (docs/operations.md, "Metrics")."""
    ticket_or_404(services, ticket_id)
    row = OpsQueries(services.store).ticket_metrics(str(ticket_id))
    if row is None:  # the metrics table lags the tickets table
        services.read_side.wait_for(services.ledger.head(), services.settings.min_position_timeout)
        row = OpsQueries(services.store).ticket_metrics(str(ticket_id))
    if row is None:
        raise TicketNotFoundError(f"Ticket {ticket_id} has no metrics yet.")
    return TicketMetrics(**{k: row[k] for k in TicketMetrics.model_fields})


@router.get("/reports/engineers", response_model=EngineerReport,
            responses={200: {"content": {"text/csv": {}}},
                       422: {"description": "bad parameters"}},
            dependencies=[allow(READ), MinPositionDep])
def engineer_report(
    services: ServicesDep,
    start: From = None,
    to: To = None,
    format: Literal["json", "csv"] = "json",  # noqa: A002
) -> Any:
    """Per engineer: offers, acceptance and rejection rates (assignments offered in
    the window), completions, hours spent and parts cost (completions in the
    window), and the current open load. ``format=csv`` answers text/csv with the
    same columns."""
    start, to = _window(start, to)
    rows = OpsQueries(services.store).engineer_report(start=start, end=to)
    if format == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(EngineerReportRow.model_fields),
                                lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if v is None else v for k, v in row.items()})
        return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers={
            "Content-Disposition": 'attachment; filename="engineer-report.csv"'})
    return {"from": _iso(start), "to": _iso(to), "engineers": rows}


@router.get("/reports/summary", response_model=Summary,
            responses={422: {"description": "bad parameters"}},
            dependencies=[allow(READ), MinPositionDep])
def summary(services: ServicesDep, start: From = None, to: To = None) -> dict[str, Any]:
    """Fleet figures over the tickets opened in the window (all when none), e.g.
    seed 002's average escalations per ticket, hours spent and parts cost."""
    start, to = _window(start, to)
    figures = OpsQueries(services.store).summary(start=start, end=to)
    return {"from": _iso(start), "to": _iso(to), **figures}
