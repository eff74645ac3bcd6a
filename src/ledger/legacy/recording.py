"""Recording a legacy plan in the ledger, every event with the original timestamp
and ``via = "import"``. What is recorded already is found by the plan's name-based
ids, so running an import again adds only what is missing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from eventsourcing.persistence import RecordConflictError

from ledger.domain import Engineer, Ticket
from ledger.errors import EngineerNotFoundError, TicketNotFoundError
from ledger.legacy.mapping import IMPORT_VIA, EngineerSpec, LegacyRowError, TicketPlan


def remaining_steps(
    recorded: Sequence[tuple[str, str | None]], plan: TicketPlan
) -> tuple[tuple[str, datetime | None], ...] | None:
    """The plan's steps not recorded yet, or None when what is recorded is not a
    beginning of the plan (the ticket moved on in the ledger, or the legacy row
    changed in a way the import cannot follow)."""
    expected = plan.expected_events()
    if list(recorded) != expected[: len(recorded)]:
        return None
    return plan.steps[len(recorded):]


def _apply(ticket: Ticket, plan: TicketPlan, kind: str, at: datetime | None, actor: str) -> None:
    common: dict[str, Any] = {"actor": actor, "timestamp": at, "via": IMPORT_VIA}
    assignment_id = plan.assignment_id
    if kind == "assign":
        if plan.engineer is None:
            raise LegacyRowError("the plan assigns without an engineer")
        ticket.assign(
            assignment_id=assignment_id, engineer_id=plan.engineer.engineer_id,
            tier=plan.tier, tier_name=plan.tier_name,
            reason=f"Imported from legacy {plan.source} {plan.legacy_id}", **common,
        )
    elif kind == "accept":
        ticket.accept(assignment_id, **common)
    elif kind == "start":
        ticket.start(assignment_id, **common)
    elif kind == "reject":
        ticket.reject(assignment_id, reason="Rejected in the legacy system", **common)
    elif kind == "complete":
        ticket.complete(assignment_id, completion_status="success", time_spent_hours=0.0,
                        **common)
    elif kind == "close":
        ticket.close(reason="Closed in the legacy system", **common)
    else:  # pragma: no cover - STEP_EVENTS lists every kind
        raise ValueError(kind)


def record_plan(ledger: Any, plan: TicketPlan, actor: str) -> str:
    """Records what of ``plan`` the ledger does not have yet, in one save (all or
    nothing). Returns ``created``, ``updated``, ``unchanged`` or ``diverged``."""
    ticket_id = plan.ticket_id
    try:
        existing = ledger.get_ticket(ticket_id)
    except TicketNotFoundError:
        existing = None
    if existing is None:
        (_, opened_at), *rest = plan.steps
        ticket = Ticket.open(
            ticket_id=ticket_id, title=plan.title, description=plan.description,
            priority=plan.priority, required_skill=plan.required_skill,
            equipment_id=plan.equipment_id, reference=plan.legacy_id, actor=actor,
            timestamp=opened_at, via=IMPORT_VIA,
        )
        outcome = "created"
    else:
        recorded = [
            (type(e).__name__, getattr(e, "engineer_id", None)
             if type(e).__name__ == "Assigned" else None)
            for e in ledger.events.get(ticket_id)
        ]
        rest = remaining_steps(recorded, plan)
        if rest is None:
            return "diverged"
        if not rest:
            return "unchanged"
        ticket, outcome = existing, "updated"
    for kind, at in rest:
        _apply(ticket, plan, kind, at, actor)
    try:
        ledger.save(ticket)
    except RecordConflictError:
        raise LegacyRowError("the ticket changed in the ledger during the import; "
                             "run the import again") from None
    return outcome


def record_engineer(ledger: Any, spec: EngineerSpec, actor: str, *,
                    update: bool, at: datetime | None = None) -> str:
    """Registers ``spec`` unless registered; with ``update``, records the fields that
    differ. Returns ``registered``, ``updated`` or ``unchanged``."""
    try:
        engineer = ledger.get_engineer(spec.engineer_id)
    except EngineerNotFoundError:
        engineer = Engineer.register(
            engineer_id=spec.engineer_id, name=spec.name, skills=list(spec.skills),
            tier=spec.tier, capacity=spec.capacity, availability=spec.availability,
            actor=actor, timestamp=at, via=IMPORT_VIA,
        )
        try:
            ledger.save(engineer)
        except RecordConflictError:
            return "unchanged"  # registered meanwhile by someone else
        return "registered"
    if not update or not engineer.update(changes=spec.as_changes(), actor=actor, via=IMPORT_VIA):
        return "unchanged"
    try:
        ledger.save(engineer)
    except RecordConflictError:
        raise LegacyRowError(f"engineer {spec.engineer_id!r} changed during the import; "
                             "run the import again") from None
    return "updated"

