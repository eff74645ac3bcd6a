"""The "eventsourcing library behind FastAPI" reference for benchmarks/commands.py.

A plain eventsourcing ``Application`` (the library's defaults: JSON transcoder,
PostgreSQL recorder, no snapshots, no cache) holding the project's own
``ledger.domain.Ticket`` and ``Engineer`` aggregates. Per command request:
``repository.get`` the ticket (and the engineer where one is named), run the
command, one ``save``. No read model, no read-your-writes, no auth.

Without a read model it cannot find an assignment's ticket from the assignment id,
so accept/start/complete take ``?ticket_id=`` (the wrk scripts send it to every app;
the others ignore it).

    BENCH_DATABASE_URL=postgresql://u:p@host/db uvicorn library_app:app --app-dir benchmarks
"""

from __future__ import annotations

import os
import sys
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import RecordConflictError
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, Field

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from ledger.domain import Engineer, Ticket, engineer_aggregate_id  # noqa: E402
from ledger.errors import LedgerError, NotFoundError  # noqa: E402

ACTOR = "dispatcher"


def library_env(url: str, pool_size: int = 10) -> dict[str, str]:
    parts = urlsplit(url)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": unquote(parts.path.lstrip("/")),
        "POSTGRES_HOST": parts.hostname or "localhost",
        "POSTGRES_PORT": str(parts.port or 5432),
        "POSTGRES_USER": unquote(parts.username or ""),
        "POSTGRES_PASSWORD": unquote(parts.password or ""),
        "POSTGRES_POOL_SIZE": str(pool_size),
        "POSTGRES_MAX_OVERFLOW": str(pool_size),
    }


class Tickets(Application[UUID]):
    name = "Tickets"


lib: Tickets | None = None


@asynccontextmanager
async def lifespan(_app: FastAPI):  # noqa: ANN201
    global lib
    lib = Tickets(env=library_env(os.environ["BENCH_DATABASE_URL"]))
    try:
        yield
    finally:
        lib.close()


app = FastAPI(title="eventsourcing library reference", lifespan=lifespan)


class AssignmentCreate(BaseModel):
    ticket_id: UUID
    engineer_id: str = Field(min_length=1, max_length=64)
    equipment_id: str | None = None
    tier: int = Field(ge=1, le=10)
    tier_name: str | None = None
    reason: str | None = None
    type: Literal["manual", "auto"] = "manual"


class EscalateBody(BaseModel):
    ticket_id: UUID
    reason: str = Field(min_length=1)
    next_engineer_id: str = Field(min_length=1, max_length=64)
    next_tier_name: str | None = None


class CompleteBody(BaseModel):
    completion_status: Literal["success", "failed", "escalated", "parts_required",
                               "customer_unavailable"]
    time_spent_hours: float = Field(ge=0, le=999.99)
    diagnosis: str | None = None
    actions_taken: str | None = None


def _ticket(ticket_id: UUID) -> Ticket:
    try:
        return lib.repository.get(ticket_id)
    except AggregateNotFoundError:
        raise HTTPException(404, f"Ticket {ticket_id} does not exist.") from None


def _check_engineer(engineer_id: str) -> None:
    try:
        engineer: Engineer = lib.repository.get(engineer_aggregate_id(engineer_id))
    except AggregateNotFoundError:
        raise HTTPException(422, f"Engineer {engineer_id!r} is unknown.") from None
    if not engineer.active:
        raise HTTPException(422, f"Engineer {engineer_id!r} is inactive.")


def _save(ticket: Ticket, assignment: Any) -> dict[str, Any]:
    try:
        lib.save(ticket)
    except RecordConflictError:
        raise HTTPException(409, "The ticket changed concurrently; retry.") from None
    return {"id": str(assignment.id), "ticket_id": str(ticket.id),
            "engineer_id": assignment.engineer_id, "assignment_sequence": assignment.sequence,
            "assignment_tier": assignment.tier, "assignment_tier_name": assignment.tier_name,
            "status": assignment.status, "version": ticket.version}


def _run(ticket: Ticket, command: Any) -> dict[str, Any]:
    try:
        assignment = command(ticket)
    except LedgerError as e:
        raise HTTPException(404 if isinstance(e, NotFoundError) else 409, str(e)) from None
    return _save(ticket, assignment)


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/assignments", status_code=201)
def assign(body: AssignmentCreate) -> dict[str, Any]:
    ticket = _ticket(body.ticket_id)
    _check_engineer(body.engineer_id)
    return _run(ticket, lambda t: t.assign(
        assignment_id=uuid4(), engineer_id=body.engineer_id, tier=body.tier,
        tier_name=body.tier_name, reason=body.reason, assignment_type=body.type,
        equipment_id=body.equipment_id, actor=ACTOR))


@app.post("/assignments/escalate", status_code=201)
def escalate(body: EscalateBody) -> dict[str, Any]:
    ticket = _ticket(body.ticket_id)
    _check_engineer(body.next_engineer_id)
    return _run(ticket, lambda t: t.escalate(
        new_assignment_id=uuid4(), next_engineer_id=body.next_engineer_id,
        reason=body.reason, next_tier_name=body.next_tier_name, actor=ACTOR))


@app.post("/assignments/{assignment_id}/accept")
def accept(assignment_id: UUID, ticket_id: UUID) -> dict[str, Any]:
    return _run(_ticket(ticket_id), lambda t: t.accept(assignment_id, actor=ACTOR))


@app.post("/assignments/{assignment_id}/start")
def start(assignment_id: UUID, ticket_id: UUID) -> dict[str, Any]:
    return _run(_ticket(ticket_id), lambda t: t.start(assignment_id, actor=ACTOR))


@app.post("/assignments/{assignment_id}/complete")
def complete(assignment_id: UUID, ticket_id: UUID, body: CompleteBody) -> dict[str, Any]:
    return _run(_ticket(ticket_id), lambda t: t.complete(
        assignment_id, completion_status=body.completion_status,
        time_spent_hours=body.time_spent_hours, diagnosis=body.diagnosis,
        actions_taken=body.actions_taken, actor=ACTOR))


@app.get("/tickets/{ticket_id}")
def get_ticket(ticket_id: UUID) -> dict[str, Any]:
    t = _ticket(ticket_id)
    active = t.active_assignment
    return {"id": str(t.id), "title": t.title, "priority": t.priority, "status": t.status,
            "version": t.version,
            "current_assignment": None if active is None else {
                "id": str(active.id), "engineer_id": active.engineer_id,
                "assignment_sequence": active.sequence, "status": active.status}}
