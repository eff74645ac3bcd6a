"""The naive-CRUD reference for benchmarks/commands.py: seed 004's design, done the
way a typical team would write it with FastAPI and psycopg 3.

Rows are updated in place; every change also inserts an ``assignment_history`` row,
in the same transaction. Sync ``def`` endpoints (FastAPI runs them in its thread
pool), one ``psycopg_pool.ConnectionPool``, plain dicts as JSON. Errors are small
JSON bodies with 404/409/422 (no problem+json, no ETags, no idempotency, no auth:
this is the baseline the ledger is compared with).

    BENCH_DATABASE_URL=postgresql://u:p@host/db uvicorn crud_app:app --app-dir benchmarks

``BENCH_POOL_MAX`` (default 20) sets the pool size; tables are created on start.
"""

from __future__ import annotations

import os
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from typing import Any, Literal
from uuid import UUID, uuid4

from fastapi import FastAPI, HTTPException
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool
from pydantic import BaseModel, Field

SCHEMA = """
CREATE TABLE IF NOT EXISTS engineers (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    tier INTEGER NOT NULL DEFAULT 1,
    capacity INTEGER NOT NULL DEFAULT 1,
    availability NUMERIC(3,2) NOT NULL DEFAULT 1,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS tickets (
    id UUID PRIMARY KEY,
    title TEXT NOT NULL,
    description TEXT,
    priority TEXT NOT NULL DEFAULT 'medium',
    equipment_id TEXT,
    status TEXT NOT NULL DEFAULT 'open',
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS engineer_assignments (
    id UUID PRIMARY KEY,
    ticket_id UUID NOT NULL REFERENCES tickets(id),
    engineer_id TEXT NOT NULL REFERENCES engineers(id),
    equipment_id TEXT,
    assignment_sequence INTEGER NOT NULL,
    assignment_tier INTEGER NOT NULL,
    assignment_tier_name TEXT,
    assignment_reason TEXT,
    assignment_type TEXT NOT NULL DEFAULT 'manual',
    status TEXT NOT NULL DEFAULT 'assigned',
    assigned_by TEXT,
    assigned_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    accepted_at TIMESTAMPTZ,
    started_at TIMESTAMPTZ,
    completed_at TIMESTAMPTZ,
    completion_status TEXT,
    escalation_reason TEXT,
    time_spent_hours NUMERIC(5,2),
    diagnosis TEXT,
    actions_taken TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (ticket_id, assignment_sequence)
);
CREATE TABLE IF NOT EXISTS assignment_history (
    id BIGSERIAL PRIMARY KEY,
    assignment_id UUID REFERENCES engineer_assignments(id),
    ticket_id UUID NOT NULL,
    previous_engineer TEXT,
    new_engineer TEXT,
    action TEXT NOT NULL,
    reason TEXT,
    changed_by TEXT,
    changed_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- seed 004, 1.2: indexes for performance
CREATE INDEX IF NOT EXISTS idx_assignments_ticket_id ON engineer_assignments(ticket_id);
CREATE INDEX IF NOT EXISTS idx_assignments_engineer ON engineer_assignments(engineer_id);
CREATE INDEX IF NOT EXISTS idx_assignments_status ON engineer_assignments(status);
CREATE INDEX IF NOT EXISTS idx_tickets_status ON tickets(status);
CREATE INDEX IF NOT EXISTS idx_history_assignment ON assignment_history(assignment_id);
CREATE INDEX IF NOT EXISTS idx_history_ticket ON assignment_history(ticket_id);
"""

ACTIVE = ("assigned", "accepted", "in_progress")
ACTOR = "dispatcher"

pool: ConnectionPool | None = None


@asynccontextmanager
async def lifespan(_app: FastAPI):  # noqa: ANN201
    global pool
    size = int(os.environ.get("BENCH_POOL_MAX", "20"))
    pool = ConnectionPool(os.environ["BENCH_DATABASE_URL"], min_size=min(10, size),
                          max_size=size, kwargs={"row_factory": dict_row}, open=True)
    with pool.connection() as conn:
        conn.execute(SCHEMA)
    try:
        yield
    finally:
        pool.close()


app = FastAPI(title="naive CRUD reference", lifespan=lifespan)


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


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _check_engineer(cur: Any, engineer_id: str) -> None:
    cur.execute("SELECT active FROM engineers WHERE id = %s", (engineer_id,))
    row = cur.fetchone()
    if row is None or not row["active"]:
        raise HTTPException(422, f"Engineer {engineer_id!r} is unknown or inactive.")


def _history(cur: Any, assignment_id: UUID, ticket_id: UUID, previous: str | None,
             new: str | None, action: str, reason: str | None) -> None:
    cur.execute(
        "INSERT INTO assignment_history (assignment_id, ticket_id, previous_engineer, "
        "new_engineer, action, reason, changed_by) VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (assignment_id, ticket_id, previous, new, action, reason, ACTOR),
    )


def _insert_assignment(cur: Any, ticket_id: UUID, engineer_id: str, tier: int,
                       tier_name: str | None, reason: str | None, kind: str,
                       equipment_id: str | None) -> dict[str, Any]:
    cur.execute(
        "SELECT COALESCE(MAX(assignment_sequence), 0) + 1 AS seq "
        "FROM engineer_assignments WHERE ticket_id = %s", (ticket_id,))
    seq = cur.fetchone()["seq"]
    cur.execute(
        "INSERT INTO engineer_assignments (id, ticket_id, engineer_id, equipment_id, "
        "assignment_sequence, assignment_tier, assignment_tier_name, assignment_reason, "
        "assignment_type, status, assigned_by) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, 'assigned', %s) RETURNING *",
        (uuid4(), ticket_id, engineer_id, equipment_id, seq, tier,
         tier_name or f"L{tier}", reason, kind, ACTOR),
    )
    return cur.fetchone()


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/assignments", status_code=201)
def assign(body: AssignmentCreate) -> dict[str, Any]:
    with pool.connection() as conn, conn.cursor() as cur:  # one transaction
        cur.execute("SELECT status, equipment_id FROM tickets WHERE id = %s FOR UPDATE",
                    (body.ticket_id,))
        ticket = cur.fetchone()
        if ticket is None:
            raise HTTPException(404, f"Ticket {body.ticket_id} does not exist.")
        if ticket["status"] in ("closed", "resolved"):
            raise HTTPException(409, f"Ticket {body.ticket_id} is {ticket['status']}.")
        _check_engineer(cur, body.engineer_id)
        cur.execute("SELECT id FROM engineer_assignments WHERE ticket_id = %s "
                    "AND status = ANY(%s)", (body.ticket_id, list(ACTIVE)))
        if cur.fetchone() is not None:
            raise HTTPException(409, f"Ticket {body.ticket_id} has an active assignment.")
        row = _insert_assignment(cur, body.ticket_id, body.engineer_id, body.tier,
                                 body.tier_name, body.reason, body.type,
                                 body.equipment_id or ticket["equipment_id"])
        _history(cur, row["id"], body.ticket_id, None, body.engineer_id, "created", body.reason)
        cur.execute("UPDATE tickets SET status = 'assigned', updated_at = now() WHERE id = %s",
                    (body.ticket_id,))
        return row


@app.post("/assignments/escalate", status_code=201)
def escalate(body: EscalateBody) -> dict[str, Any]:
    with pool.connection() as conn, conn.cursor() as cur:
        cur.execute("SELECT status FROM tickets WHERE id = %s FOR UPDATE", (body.ticket_id,))
        if cur.fetchone() is None:
            raise HTTPException(404, f"Ticket {body.ticket_id} does not exist.")
        _check_engineer(cur, body.next_engineer_id)
        cur.execute("SELECT * FROM engineer_assignments WHERE ticket_id = %s "
                    "AND status = ANY(%s)", (body.ticket_id, list(ACTIVE)))
        old = cur.fetchone()
        if old is None:
            raise HTTPException(409, f"Ticket {body.ticket_id} has no active assignment.")
        cur.execute(
            "UPDATE engineer_assignments SET status = 'escalated', completion_status = "
            "'escalated', escalation_reason = %s, completed_at = now(), updated_at = now() "
            "WHERE id = %s", (body.reason, old["id"]))
        _history(cur, old["id"], body.ticket_id, old["engineer_id"], body.next_engineer_id,
                 "escalated", body.reason)
        tier = old["assignment_tier"] + 1
        row = _insert_assignment(cur, body.ticket_id, body.next_engineer_id, tier,
                                 body.next_tier_name, body.reason, "manual",
                                 old["equipment_id"])
        _history(cur, row["id"], body.ticket_id, old["engineer_id"], body.next_engineer_id,
                 "created", body.reason)
        cur.execute("UPDATE tickets SET status = 'assigned', updated_at = now() WHERE id = %s",
                    (body.ticket_id,))
        return row


def _transition(assignment_id: UUID, allowed: tuple[str, ...], action: str,
                sets: str, params: tuple[Any, ...], ticket_status: str | None) -> dict[str, Any]:
    with pool.connection() as conn, conn.cursor() as cur:
        cur.execute("SELECT * FROM engineer_assignments WHERE id = %s FOR UPDATE",
                    (assignment_id,))
        row = cur.fetchone()
        if row is None:
            raise HTTPException(404, f"Assignment {assignment_id} does not exist.")
        if row["status"] not in allowed:
            raise HTTPException(409, f"Cannot {action} an assignment that is {row['status']}.")
        cur.execute(f"UPDATE engineer_assignments SET {sets}, updated_at = now() "
                    "WHERE id = %s RETURNING *", (*params, assignment_id))
        updated = cur.fetchone()
        _history(cur, assignment_id, row["ticket_id"], row["engineer_id"], row["engineer_id"],
                 action, None)
        if ticket_status is not None:
            cur.execute("UPDATE tickets SET status = %s, updated_at = now() WHERE id = %s",
                        (ticket_status, row["ticket_id"]))
        return updated


@app.post("/assignments/{assignment_id}/accept")
def accept(assignment_id: UUID) -> dict[str, Any]:
    return _transition(assignment_id, ("assigned",), "accepted",
                       "status = 'accepted', accepted_at = now()", (), None)


@app.post("/assignments/{assignment_id}/start")
def start(assignment_id: UUID) -> dict[str, Any]:
    return _transition(assignment_id, ("accepted",), "started",
                       "status = 'in_progress', started_at = now()", (), "in_progress")


@app.post("/assignments/{assignment_id}/complete")
def complete(assignment_id: UUID, body: CompleteBody) -> dict[str, Any]:
    status = "failed" if body.completion_status == "failed" else "completed"
    return _transition(
        assignment_id, ("accepted", "in_progress"), "completed",
        "status = %s, completion_status = %s, time_spent_hours = %s, diagnosis = %s, "
        "actions_taken = %s, completed_at = now()",
        (status, body.completion_status, body.time_spent_hours, body.diagnosis,
         body.actions_taken),
        "resolved" if body.completion_status == "success" else "open",
    )


@app.get("/tickets/{ticket_id}")
def get_ticket(ticket_id: UUID) -> dict[str, Any]:
    with pool.connection() as conn, conn.cursor() as cur:
        cur.execute("SELECT * FROM tickets WHERE id = %s", (ticket_id,))
        ticket = cur.fetchone()
        if ticket is None:
            raise HTTPException(404, f"Ticket {ticket_id} does not exist.")
        cur.execute("SELECT * FROM engineer_assignments WHERE ticket_id = %s "
                    "AND status = ANY(%s)", (ticket_id, list(ACTIVE)))
        ticket["current_assignment"] = cur.fetchone()
        return ticket


# The reads of benchmarks/queries.py, answered the plain way: one query each on the
# tables the commands update, through the same pool.


def _rows(statement: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
    with pool.connection() as conn, conn.cursor() as cur:
        cur.execute(statement, params)
        return cur.fetchall()


@app.get("/tickets/{ticket_id}/current-assignment")
def current_assignment(ticket_id: UUID) -> dict[str, Any]:
    rows = _rows("SELECT * FROM engineer_assignments WHERE ticket_id = %s AND status = ANY(%s) "
                 "ORDER BY assignment_sequence DESC LIMIT 1", (ticket_id, list(ACTIVE)))
    if not rows:
        raise HTTPException(404, f"Ticket {ticket_id} has no current assignment.")
    return rows[0]


@app.get("/tickets/{ticket_id}/assignments")
def ticket_assignments(ticket_id: UUID) -> list[dict[str, Any]]:
    return _rows("SELECT * FROM engineer_assignments WHERE ticket_id = %s "
                 "ORDER BY assignment_sequence", (ticket_id,))


@app.get("/assignments")
def list_assignments(engineer_id: str, status: str = "active", limit: int = 100) -> dict[str, Any]:
    statuses = list(ACTIVE) if status == "active" else [status]
    items = _rows("SELECT * FROM engineer_assignments WHERE engineer_id = %s "
                  "AND status = ANY(%s) ORDER BY assigned_at, id LIMIT %s",
                  (engineer_id, statuses, limit))
    return {"items": items, "next_cursor": None}


@app.get("/events")
def ticket_events(ticket_id: UUID, limit: int = 100) -> dict[str, Any]:
    items = _rows("SELECT * FROM assignment_history WHERE ticket_id = %s ORDER BY id LIMIT %s",
                  (ticket_id, limit))
    return {"items": items, "next_cursor": None}
