"""Every projection the read side maintains, in the order they are set up."""

from __future__ import annotations

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
