"""Helpers of the read side's integration tests: snapshots of the public tables, a
command mix that touches every table, and the catalog's entries.
"""

from __future__ import annotations

from typing import Any


from api.demo import seed_demo
from ledger.application import CommandResult, Ledger
from ledger.domain import Ticket
from projections.registry import ALL_PROJECTIONS
from projections.store import LIVE, CatalogEntry, ReadStore


#: The public read tables and the key each is ordered by.
PUBLIC = {
    "tickets": "id",
    "engineer_assignments": "id",
    "current_ticket_assignments": "ticket_id",
    "assignment_history": "id",
    "engineers": "id",
    "assignment_intervals": "assignment_id",
    "ticket_metrics": "ticket_id",
    "completions": "assignment_id",
    "sla_tickets": "ticket_id",
    "sla_clocks": "assignment_id",
}
#: The projections that own those tables (a projection may own several).
PUBLIC_PROJECTIONS = sorted(
    {cls.name for cls in ALL_PROJECTIONS for t in cls.tables if t.name in PUBLIC})
ACTOR = "it-dispatcher"

Snapshot = dict[str, list[tuple[tuple[str, str, Any], ...]]]


# --------------------------------------------------------------------- helpers


def snapshot(store: ReadStore) -> Snapshot:
    """Every public table, ordered by key, each value with its Python type."""
    out: Snapshot = {}
    for table, key in PUBLIC.items():
        rows = store.select(f"SELECT * FROM {table} ORDER BY {key}")
        out[table] = [tuple((k, type(v).__name__, v) for k, v in row.items()) for row in rows]
    return out


def assert_same(actual: Snapshot, expected: Snapshot) -> None:
    for table in PUBLIC:
        assert len(actual[table]) == len(expected[table]), table
        for a, e in zip(actual[table], expected[table], strict=True):
            assert a == e, table
    assert actual == expected


def table_exists(store: ReadStore, name: str) -> bool:
    if store.placeholder == "?":
        sql = "SELECT name FROM sqlite_master WHERE type = 'table' AND name = %s"
    else:
        sql = "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename = %s"
    return bool(store.select(sql, [name]))


def all_events(ledger: Ledger) -> list[Any]:
    notifications = ledger.recorder.select_notifications(start=1, limit=1_000_000)
    return [ledger.mapper.to_domain_event(n) for n in notifications]


def expected_history_rows(ledger: Ledger) -> int:
    """One row per assignment change; escalate/reassign also create the new one."""
    count = 0
    for e in all_events(ledger):
        if isinstance(e, Ticket.Escalated | Ticket.Reassigned):
            count += 2
        elif isinstance(e, Ticket.Assigned | Ticket.Accepted | Ticket.Rejected | Ticket.Started
                        | Ticket.Completed | Ticket.Removed):
            count += 1
    return count


def count(store: ReadStore, table: str) -> int:
    return len(store.select(f"SELECT {PUBLIC[table]} FROM {table}"))


def entries(store: ReadStore, name: str) -> list[CatalogEntry]:
    return [e for e in store.catalog() if e.name == name]


def live_entry(store: ReadStore, name: str) -> CatalogEntry:
    (entry,) = [e for e in entries(store, name) if e.state == LIVE]
    return entry


def drive_mix(ledger: Ledger) -> list[CommandResult]:
    """Commands the demo does not make: updates, deactivation, failed and
    escalated-from-assigned outcomes, removals, close/reopen, reject."""
    results = [
        ledger.register_engineer(engineer_id="zoe.q", name="Zoe Q", skills=["fibre"], tier=1,
                                 capacity=3, availability=0.5, actor=ACTOR).result(),
    ]
    upd = ledger.update_engineer("thandi.n", changes={"capacity": 9, "skills": ["fibre", "otdr"]},
                                 actor=ACTOR).result()
    assert upd is not None
    results.append(upd)
    t1 = ledger.open_ticket(title="Mixed story", actor=ACTOR, priority="low",
                            equipment_id="EQ-1", reference="MIX-1").result()
    results.append(t1)
    t = t1.aggregate_id
    r = ledger.assign(t, engineer_id="zoe.q", tier=1, reason="first", assignment_type="auto",
                      actor=ACTOR).result()
    results.append(r)
    r = ledger.escalate(t, next_engineer_id="sipho.d", reason="straight to L2", actor=ACTOR).result()
    results.append(r)
    r = ledger.reassign(t, r.assignment_id, new_engineer_id="maria.g", reason="swap",
                        actor=ACTOR).result()
    results.append(r)
    a = r.assignment_id
    results.append(ledger.accept(t, a, actor="maria.g").result())
    results.append(ledger.start(t, a, actor="maria.g").result())
    results.append(ledger.complete(
        t, a, actor="maria.g", completion_status="failed", time_spent_hours=1.25,
        diagnosis="Could not reach cabinet", parts_used=[
            {"part_number": "C-1", "part_name": "Connector", "quantity": 3, "cost": 1.5}]).result())
    r = ledger.assign(t, engineer_id="chen.w", tier=3, tier_name="Core", actor=ACTOR).result()
    results.append(r)
    results.append(ledger.accept(t, r.assignment_id, actor="chen.w").result())
    results.append(ledger.complete(
        t, r.assignment_id, actor="chen.w", completion_status="success", time_spent_hours=6.5,
        actions_taken="Swapped card", customer_rating=4, customer_feedback="Thanks").result())
    results.append(ledger.close_ticket(t, reason="done", actor=ACTOR).result())
    results.append(ledger.reopen_ticket(t, reason="came back", actor=ACTOR).result())
    r = ledger.assign(t, engineer_id="zoe.q", tier=1, actor=ACTOR).result()
    results.append(r)
    results.append(ledger.reject(t, r.assignment_id, reason="not mine", actor="zoe.q").result())
    r = ledger.assign(t, engineer_id="zoe.q", tier=1, actor=ACTOR).result()
    results.append(r)
    results.append(ledger.remove(t, r.assignment_id, reason="dup", actor=ACTOR).result())
    deactivated = ledger.update_engineer("zoe.q", changes={"active": False}, actor=ACTOR).result()
    assert deactivated is not None
    results.append(deactivated)
    waiting = ledger.open_ticket(title="Left assigned", actor=ACTOR).result()
    results.append(waiting)
    results.append(ledger.assign(waiting.aggregate_id, engineer_id="pieter.v", tier=1,
                                 actor=ACTOR).result())
    return results


def seed(ledger: Ledger, tickets: int = 60) -> int:
    seed_demo(ledger, tickets=tickets)
    drive_mix(ledger)
    return ledger.head()


def assert_looks_realistic(snap: Snapshot) -> None:
    statuses = {dict((k, v) for k, _t, v in row)["status"] for row in snap["engineer_assignments"]}
    assert {"assigned", "accepted", "in_progress", "completed", "rejected", "escalated",
            "reassigned", "removed", "failed"} <= statuses
    for table in PUBLIC:
        assert snap[table], f"{table} is empty"


