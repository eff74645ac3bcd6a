"""Every projection the read side maintains, in the order they are set up."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from eventsourcing.utils import resolve_topic

from projections.api_keys import ApiKeysProjection
from projections.assignments import (
    AssignmentHistoryProjection,
    CurrentAssignmentsProjection,
    EngineerAssignmentsProjection,
)
from projections.base import Projection
from projections.engineers import EngineersProjection
from projections.handovers import HandoversProjection
from projections.intervals import AssignmentIntervalsProjection
from projections.metrics import TicketMetricsProjection
from projections.proposals import ProposalsProjection
from projections.repeat_faults import RepeatFaultsProjection
from projections.sla import SlaProjection
from projections.ticket_notes import TicketNotesProjection
from projections.tickets import TicketsProjection
from projections.webhooks import WebhooksProjection

ALL_PROJECTIONS: tuple[type[Projection], ...] = (
    TicketsProjection,
    EngineerAssignmentsProjection,
    CurrentAssignmentsProjection,
    AssignmentHistoryProjection,
    EngineersProjection,
    ApiKeysProjection,
    AssignmentIntervalsProjection,
    TicketMetricsProjection,
    SlaProjection,
    WebhooksProjection,
    ProposalsProjection,
    HandoversProjection,
    TicketNotesProjection,
    RepeatFaultsProjection,
)


def with_plugins(plugins: str) -> list[Projection]:
    """Every projection, then those ``plugins`` names (``LEDGER_PROJECTION_PLUGINS``:
    comma-separated ``module:Class`` of ``Projection`` subclasses, importable where
    the process runs)."""
    extra = [resolve_topic(topic.strip()) for topic in plugins.split(",") if topic.strip()]
    return [cls() for cls in (*ALL_PROJECTIONS, *extra)]


def code_generation(projections: Iterable[Projection]) -> str:
    """A short name of the projection versions this code has: processes of one
    deployment share it; during a rolling deploy that changes a version, the old
    code and the new have one each (docs/deploy.md)."""
    versions = ";".join(sorted(f"{p.name}={p.version}" for p in projections))
    return hashlib.sha256(versions.encode()).hexdigest()[:10]
