"""Recording a legacy plan in the ledger through its commands, like every other
writer: each step is the Ledger command a user would send, with the original
timestamp and ``via = "import"``. What is recorded already is found by the
plan's ids (its ticket id, else an id an earlier import gave it), so running an
import again adds only what is missing.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from ledger.errors import (
    EngineerExistsError,
    EngineerNotFoundError,
    StaleVersionError,
    TicketExistsError,
    TicketNotFoundError,
)
from ledger.legacy.ids import legacy_assignment_id
from ledger.legacy.mapping import IMPORT_VIA, EngineerSpec, LegacyRowError, TicketPlan

if TYPE_CHECKING:
    from ledger.application import CommandResult, Ledger


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


def _command(
    ledger: Ledger, plan: TicketPlan, ticket_id: UUID, kind: str, at: datetime | None,
    actor: str, version: int | None,
) -> Future[CommandResult]:
    """One step of ``plan`` as the Ledger command that records it on ``ticket_id``,
    pinned to the ticket's ``version`` (None: the step opens the ticket)."""
    common: dict[str, Any] = {"actor": actor, "timestamp": at, "via": IMPORT_VIA}
    assignment_id = legacy_assignment_id(ticket_id)
    if kind == "open":
        return ledger.open_ticket(
            ticket_id=ticket_id, title=plan.title, description=plan.description,
            priority=plan.priority, required_skill=plan.required_skill,
            equipment_id=plan.equipment_id, reference=plan.legacy_id, **common,
        )
    common["expected_version"] = version
    if kind == "assign":
        if plan.engineer is None:
            raise LegacyRowError("the plan assigns without an engineer")
        return ledger.assign(
            ticket_id, assignment_id=assignment_id, engineer_id=plan.engineer.engineer_id,
            tier=plan.tier, tier_name=plan.tier_name,
            reason=f"Imported from legacy {plan.source} {plan.legacy_id}", **common,
        )
    if kind == "accept":
        return ledger.accept(ticket_id, assignment_id, **common)
    if kind == "start":
        return ledger.start(ticket_id, assignment_id, **common)
    if kind == "reject":
        return ledger.reject(ticket_id, assignment_id, reason="Rejected in the legacy system",
                             **common)
    if kind == "complete":
        return ledger.complete(ticket_id, assignment_id, completion_status="success",
                               time_spent_hours=0.0, **common)
    if kind == "close":
        return ledger.close_ticket(ticket_id, reason="Closed in the legacy system", **common)
    raise ValueError(kind)  # pragma: no cover - STEP_EVENTS lists every kind


def _recorded(ledger: Ledger, plan: TicketPlan) -> tuple[UUID, Any]:
    """(id, ticket) of the plan's ticket as recorded: under its id, else under an id
    an earlier import gave it (a ticket keeps the id it was opened with: events are
    never moved); (its id, None) when it is not recorded."""
    for ticket_id in (plan.ticket_id, *plan.earlier_ticket_ids):
        try:
            return ticket_id, ledger.get_ticket(ticket_id)
        except TicketNotFoundError:
            continue
    return plan.ticket_id, None


def _check_assignable(ledger: Ledger, plan: TicketPlan,
                      rest: Sequence[tuple[str, datetime | None]]) -> None:
    """Refuses, before anything is recorded, a row whose assignment the ledger's
    rules would refuse half-way (its engineer unknown or inactive): a bad row is
    recorded whole or not at all."""
    if plan.engineer is None or "assign" not in (kind for kind, _ in rest):
        return
    engineer_id = plan.engineer.engineer_id
    try:
        active = ledger.get_engineer(engineer_id).active
    except EngineerNotFoundError:
        raise LegacyRowError(f"Engineer {engineer_id!r} is not registered.") from None
    if not active:
        raise LegacyRowError(f"Engineer {engineer_id!r} is inactive and cannot take "
                             "assignments.")


def record_plan(ledger: Ledger, plan: TicketPlan, actor: str) -> tuple[str, UUID]:
    """Records what of ``plan`` the ledger does not have yet, one Ledger command per
    step, each pinned to the version the one before left (a ticket changed by
    someone else meanwhile stops the row; a second run carries on from where
    it stopped). Returns the outcome (``created``, ``updated``, ``unchanged`` or
    ``diverged``) and the ticket's id in the ledger."""
    ticket_id, existing = _recorded(ledger, plan)
    if existing is None:
        rest, version, outcome = plan.steps, None, "created"
    else:
        recorded = [
            (type(e).__name__, getattr(e, "engineer_id", None)
             if type(e).__name__ == "Assigned" else None)
            for e in ledger.events.get(ticket_id)
        ]
        found = remaining_steps(recorded, plan)
        if found is None:
            return "diverged", ticket_id
        if not found:
            return "unchanged", ticket_id
        rest, version, outcome = found, existing.version, "updated"
    _check_assignable(ledger, plan, rest)
    for kind, at in rest:
        try:
            version = _command(ledger, plan, ticket_id, kind, at, actor, version).result().version
        except (StaleVersionError, TicketExistsError):
            raise LegacyRowError("the ticket changed in the ledger during the import; "
                                 "run the import again") from None
    return outcome, ticket_id


def record_engineer(ledger: Ledger, spec: EngineerSpec, actor: str, *, update: bool) -> str:
    """Registers ``spec`` unless registered; with ``update``, records the fields that
    differ. Returns ``registered``, ``updated`` or ``unchanged``."""
    try:
        ledger.get_engineer(spec.engineer_id)
    except EngineerNotFoundError:
        try:
            ledger.register_engineer(
                engineer_id=spec.engineer_id, name=spec.name, skills=list(spec.skills),
                tier=spec.tier, capacity=spec.capacity, availability=spec.availability,
                actor=actor, via=IMPORT_VIA,
            ).result()
        except EngineerExistsError:
            return "unchanged"  # registered meanwhile by someone else
        return "registered"
    if not update:
        return "unchanged"
    changed = ledger.update_engineer(
        spec.engineer_id, changes=spec.as_changes(), actor=actor, via=IMPORT_VIA
    ).result()
    return "unchanged" if changed is None else "updated"
