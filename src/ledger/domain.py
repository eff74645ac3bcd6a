"""The write-side model, by the names the rest of the code (and the stored
events' topics, ``ledger.domain:Ticket.Accepted``) know it by: the ``Ticket``
and ``Engineer`` aggregates (``ledger.ticket``, ``ledger.engineer``) and the
status names (``ledger.statuses``)."""

from ledger.assignment import Assignment, default_tier_name
from ledger.engineer import Engineer, engineer_aggregate_id
from ledger.statuses import (
    ACCEPTED,
    ACTIVE_STATUSES,
    ASSIGNED,
    ASSIGNMENT_STATUSES,
    COMPLETED,
    COMPLETION_STATUSES,
    ESCALATED,
    FAILED,
    IN_PROGRESS,
    PRIORITIES,
    REASSIGNED,
    REJECTED,
    REMOVED,
    TICKET_STATUSES,
    ticket_status,
)
from ledger.ticket import Ticket

__all__ = [
    "ACCEPTED", "ACTIVE_STATUSES", "ASSIGNED", "ASSIGNMENT_STATUSES", "COMPLETED",
    "COMPLETION_STATUSES", "ESCALATED", "FAILED", "IN_PROGRESS", "PRIORITIES", "REASSIGNED",
    "REJECTED", "REMOVED", "TICKET_STATUSES", "Assignment", "Engineer", "Ticket",
    "default_tier_name", "engineer_aggregate_id", "ticket_status",
]
