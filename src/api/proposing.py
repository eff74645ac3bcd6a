"""The proposal operations both faces run (the API's ``/proposals`` routes and
the console's Proposals page): plan and record a batch, approve, reject, and
how a proposal id finds its row (and so its ticket)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from starlette.concurrency import run_in_threadpool

from api.deps import Services
from api.planner import Planner
from ledger.autoassign import Pick
from ledger.errors import (
    LedgerError,
    NoEligibleEngineerError,
    ProposalNotFoundError,
    ProposalStaleError,
)
from ledger.ids import new_id
from ledger.results import CommandResult
from projections.proposal_queries import PROPOSALS, ProposalQueries

#: Engineers named, each with their reasons, when no engineer qualifies.
MAX_REFUSALS_LISTED = 20


@dataclass
class Batch:
    """What one ``propose`` recorded: the proposal ids made (in the order
    asked), the tickets left without one and why, and the last command's result."""

    made: list[UUID] = field(default_factory=list)
    unassignable: list[tuple[UUID, list[str]]] = field(default_factory=list)
    last: CommandResult | None = None


async def propose(services: Services, ticket_ids: list[UUID], tier: int, actor: str) -> Batch:
    """Plans every ticket on one roster (``Planner``: a batch never plans an
    engineer beyond capacity), then records each proposal as a command on its
    ticket, concurrently (the commands share transactions)."""
    batch = Batch()
    planned = await run_in_threadpool(_plan, services, ticket_ids, tier, batch)
    ids = {ticket_id: new_id() for ticket_id, _pick in planned}
    outcomes = await asyncio.gather(*(
        asyncio.wrap_future(services.ledger.propose(
            ticket_id, proposal_id=ids[ticket_id], engineer_id=pick.engineer_id,
            tier=pick.tier, score=pick.score, reasons=list(pick.reasons), actor=actor,
        ))
        for ticket_id, pick in planned
    ), return_exceptions=True)
    for (ticket_id, _pick), outcome in zip(planned, outcomes, strict=True):
        if isinstance(outcome, LedgerError):
            # The ticket changed since it was planned (assigned, closed ...).
            batch.unassignable.append((ticket_id, [outcome.detail]))
        elif isinstance(outcome, BaseException):
            raise outcome
        else:
            batch.made.append(ids[ticket_id])
            if batch.last is None or outcome.position > batch.last.position:
                batch.last = outcome
    return batch


def _plan(
    services: Services, ticket_ids: list[UUID], tier: int, batch: Batch
) -> list[tuple[UUID, Pick]]:
    """Each ticket's pick; the others go to ``batch.unassignable`` with why
    (blocking: reads the tickets' streams and the read side)."""
    services.read_side.wait_for(services.ledger.head(), services.settings.min_position_timeout)
    planner = Planner(services.store)
    planned: list[tuple[UUID, Pick]] = []
    for ticket_id in dict.fromkeys(ticket_ids):
        try:
            ticket = services.ledger.get_ticket(ticket_id)
            ticket.check_assignable()
            pick = planner.choose(ticket, tier)
        except NoEligibleEngineerError as e:
            reasons = [e.detail] + [
                f"{c['engineer_id']}: {', '.join(c['reasons'])}"  # type: ignore[arg-type]
                for c in e.candidates[:MAX_REFUSALS_LISTED]
            ]
            if len(e.candidates) > MAX_REFUSALS_LISTED:
                reasons.append(f"and {len(e.candidates) - MAX_REFUSALS_LISTED} more engineers")
            batch.unassignable.append((ticket_id, reasons))
        except LedgerError as e:
            batch.unassignable.append((ticket_id, [e.detail]))
        else:
            planner.book(pick)
            planned.append((ticket_id, pick))
    return planned


class OpenLoads:
    """The engineers' open assignments as the read side shows them (they count
    toward the capacity an approval reserves in), read once per engineer for
    one request, after one wait for the read side to reach the log's head: a
    selection's approvals count each other through their reservations."""

    def __init__(self, services: Services) -> None:
        self._services = services
        self._waited = False
        self._ids: dict[str, list[UUID]] = {}

    async def of(self, engineer_id: str) -> list[UUID]:
        if engineer_id not in self._ids:
            self._ids[engineer_id] = await run_in_threadpool(self._read, engineer_id)
        return self._ids[engineer_id]

    def _read(self, engineer_id: str) -> list[UUID]:
        services = self._services
        if not self._waited:
            services.read_side.wait_for(services.ledger.head(),
                                        services.settings.min_position_timeout)
            self._waited = True
        return ProposalQueries(services.store).open_assignment_ids(engineer_id)


async def approve(
    services: Services, proposal_id: UUID, *, actor: str, expected_version: int | None = None,
    engineer_id: str | None = None, loads: OpenLoads | None = None, **fields: Any,
) -> CommandResult:
    """Approves (``Ledger.approve_proposal``); as proposed, with the
    engineer's open assignments from ``loads`` (a selection shares one)."""
    row = await find_proposal(services, proposal_id)
    open_ids: list[UUID] = []
    if engineer_id is None or engineer_id == row["engineer_id"]:
        open_ids = await (loads or OpenLoads(services)).of(row["engineer_id"])
    try:
        return await asyncio.wrap_future(services.ledger.approve_proposal(
            UUID(row["ticket_id"]), proposal_id, actor=actor, engineer_id=engineer_id,
            expected_version=expected_version, open_assignment_ids=open_ids,
            proposed_engineer_id=row["engineer_id"], **fields,
        ))
    except ProposalStaleError as e:
        # Recorded stale: the 409 answers once a read shows it so.
        await run_in_threadpool(services.read_side.wait_for, e.position,
                                services.settings.read_your_writes_timeout)
        raise


async def reject(
    services: Services, proposal_id: UUID, *, reason: str, actor: str,
    expected_version: int | None = None,
) -> CommandResult:
    row = await find_proposal(services, proposal_id)
    return await asyncio.wrap_future(services.ledger.reject_proposal(
        UUID(row["ticket_id"]), proposal_id, actor=actor, expected_version=expected_version,
        reason=reason,
    ))


async def find_proposal(services: Services, proposal_id: UUID) -> dict[str, Any]:
    """The proposal's row (its ticket is how a proposal id finds its stream):
    the row this process committed if at hand, else the stored one, once a
    lagging read side has caught up; else 404."""
    row = services.read_side.committed_row(PROPOSALS, (str(proposal_id),))
    if row is None:
        row = await run_in_threadpool(_stored_proposal, services, proposal_id)
    return row


def _stored_proposal(services: Services, proposal_id: UUID) -> dict[str, Any]:
    queries = ProposalQueries(services.store)
    row = queries.proposal(proposal_id)
    if row is None:
        services.read_side.wait_for(services.ledger.head(), services.settings.min_position_timeout)
        row = queries.proposal(proposal_id)
    if row is None:
        raise ProposalNotFoundError(f"Proposal {proposal_id} does not exist.")
    return row
