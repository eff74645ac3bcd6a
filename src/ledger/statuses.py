"""The one list of status names, priorities and kinds: the domain checks
against them and the API's schemas (``api.schemas``) declare them from here."""

from __future__ import annotations

from typing import Literal, get_args

AssignmentStatus = Literal[
    "assigned", "accepted", "in_progress", "completed", "rejected", "escalated",
    "reassigned", "removed", "failed",
]
ASSIGNMENT_STATUSES: tuple[str, ...] = get_args(AssignmentStatus)
(
    ASSIGNED, ACCEPTED, IN_PROGRESS, COMPLETED, REJECTED, ESCALATED, REASSIGNED, REMOVED, FAILED,
) = ASSIGNMENT_STATUSES
ACTIVE_STATUSES = frozenset({ASSIGNED, ACCEPTED, IN_PROGRESS})

TicketStatus = Literal["open", "assigned", "in_progress", "resolved", "closed"]
TICKET_STATUSES: tuple[str, ...] = get_args(TicketStatus)

Priority = Literal["low", "medium", "high", "critical"]
PRIORITIES: tuple[str, ...] = get_args(Priority)

CompletionStatus = Literal[
    "success", "failed", "escalated", "parts_required", "customer_unavailable"
]
COMPLETION_STATUSES: tuple[str, ...] = get_args(CompletionStatus)

AssignmentType = Literal["manual", "auto"]


def ticket_status(*, closed: bool, resolved: bool, active_status: str | None) -> str:
    """The ticket status follows from its assignments (seed 001, T3.2)."""
    if closed:
        return "closed"
    if active_status == IN_PROGRESS:
        return "in_progress"
    if active_status in (ASSIGNED, ACCEPTED):
        return "assigned"
    if resolved:
        return "resolved"
    return "open"
