"""Operations queries (issue 7): SLA breaches, ticket metrics, engineer reports,
fleet summary, and the roster snapshot auto-assignment scores.

Every query reads the public read tables, with placeholders for every value,
and is served by an index of the table it reads (``sla_clocks``,
``ticket_metrics``, ``completions``, ``engineer_assignments``, ``engineers``);
nothing replays events.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from ledger.autoassign import Candidate
from projections.assignments import EngineerAssignmentsProjection
from projections.engineers import EngineersProjection
from projections.metrics import TicketMetricsProjection
from projections.queries import Page, decode_cursor, encode_cursor
from projections.sla import SlaProjection
from projections.store import ReadStore
from projections.tables import Table, parse_ts, ts

CLOCKS = SlaProjection.clocks
METRICS = TicketMetricsProjection.metrics
COMPLETIONS = TicketMetricsProjection.completions
ASSIGNMENTS = EngineerAssignmentsProjection.table
ENGINEERS = EngineersProjection.table

#: SLA targets: priority -> [(first tier of the band, accept s, resolve s)] by tier.
SlaTable = Mapping[str, Sequence[tuple[int, float, float]]]
#: The two clocks of an assignment, and the column holding each one's stopped value.
CLOCK_COLUMNS = {"accept": "accept_seconds", "resolve": "resolve_seconds"}


def _cols(table: Table) -> str:
    return ", ".join(table.column_names)


def _num(value: Any) -> Any:
    """Aggregates come back as Decimal on PostgreSQL: plain numbers out."""
    return float(value) if isinstance(value, Decimal) else value


def _ratio(part: float | None, whole: float | None, digits: int = 4) -> float | None:
    return round(part / whole, digits) if part is not None and whole else None


def target_for(targets: SlaTable, priority: str, tier: int, clock: str) -> float:
    """The target (seconds) of ``clock`` for a priority and tier: the band of the
    highest first tier not above ``tier``."""
    index = 1 if clock == "accept" else 2
    bands = targets[priority]
    chosen = bands[0]
    for band in bands:
        if band[0] <= tier:
            chosen = band
    return chosen[index]


class OpsQueries:
    """Read queries behind /sla, /reports, /tickets/{id}/metrics and auto-assign."""

    def __init__(self, store: ReadStore) -> None:
        self.store = store

    # ---------------------------------------------------------------- SLA

    def breach_clause(
        self, clock: str, targets: SlaTable, now: datetime, since: datetime | None
    ) -> tuple[str, list[Any]]:
        """One OR-ed condition per (priority, tier band): the clock stopped over its
        target, or still runs past its deadline (started before now - target)."""
        column = CLOCK_COLUMNS[clock]
        parts, params = [], []
        for priority, bands in sorted(targets.items()):
            for i, (first_tier, accept_s, resolve_s) in enumerate(bands):
                target = accept_s if clock == "accept" else resolve_s
                cond = ["priority = %s"]
                params.append(priority)
                if i > 0:
                    cond.append("assignment_tier >= %s")
                    params.append(first_tier)
                if i + 1 < len(bands):
                    cond.append("assignment_tier < %s")
                    params.append(bands[i + 1][0])
                cond.append(f"({column} > %s OR ({column} IS NULL AND started_at < %s))")
                params.extend([target, ts(now - timedelta(seconds=target))])
                if since is not None:  # the deadline (start + target) is at or after since
                    cond.append("started_at >= %s")
                    params.append(ts(since - timedelta(seconds=target)))
                parts.append(f"({' AND '.join(cond)})")
        return f"({' OR '.join(parts)})", params

    def sla_breaches(
        self,
        *,
        targets: SlaTable,
        now: datetime,
        limit: int,
        cursor: str | None = None,
        since: datetime | None = None,
        tier: int | None = None,
        engineer_id: str | None = None,
    ) -> Page:
        """Breached clocks (one item per assignment and clock), ordered by the
        assignment's start; open clocks past their deadline included."""
        common, common_params = ["1=1"], []
        if tier is not None:
            common.append("assignment_tier = %s")
            common_params.append(tier)
        if engineer_id is not None:
            common.append("engineer_id = %s")
            common_params.append(engineer_id)
        selects, params = [], []
        for clock in CLOCK_COLUMNS:
            clause, clause_params = self.breach_clause(clock, targets, now, since)
            selects.append(
                f"SELECT '{clock}' AS clock, {_cols(CLOCKS)} FROM {CLOCKS.name} "
                f"WHERE {' AND '.join(common)} AND {clause}"
            )
            params.extend([*common_params, *clause_params])
        outer = ""
        if cursor:
            at, assignment_id, clock = decode_cursor(cursor, 3)
            outer = ("WHERE (started_at > %s OR (started_at = %s AND (assignment_id > %s "
                     "OR (assignment_id = %s AND clock > %s))))")
            params.extend([at, at, assignment_id, assignment_id, clock])
        rows = self.store.rows(
            CLOCKS,
            f"SELECT * FROM ({' UNION ALL '.join(selects)}) AS b {outer} "
            "ORDER BY started_at, assignment_id, clock LIMIT %s",
            [*params, limit + 1],
        )
        more = len(rows) > limit
        items = [self._breach(r, targets, now) for r in rows[:limit]]
        last = rows[limit - 1] if more else None
        next_cursor = (
            encode_cursor([last["started_at"], last["assignment_id"], last["clock"]])
            if last else None
        )
        return Page(items, next_cursor)

    @staticmethod
    def _breach(row: dict[str, Any], targets: SlaTable, now: datetime) -> dict[str, Any]:
        clock = row["clock"]
        target = target_for(targets, row["priority"], row["assignment_tier"], clock)
        started = parse_ts(row["started_at"])
        stopped_seconds = row[CLOCK_COLUMNS[clock]]
        if clock == "accept":
            stopped_at = row["accepted_at"] or row["ended_at"]
        else:
            stopped_at = row["ended_at"]
        running = stopped_seconds is None
        elapsed = (now - started).total_seconds() if running else stopped_seconds
        return {
            "clock": clock,
            "ticket_id": row["ticket_id"],
            "assignment_id": row["assignment_id"],
            "assignment_sequence": row["assignment_sequence"],
            "engineer_id": row["engineer_id"],
            "tier": row["assignment_tier"],
            "priority": row["priority"],
            "started_at": row["started_at"],
            "deadline": ts(started + timedelta(seconds=target)),
            "stopped_at": stopped_at if not running else None,
            "running": running,
            "target_seconds": target,
            "elapsed_seconds": round(elapsed, 3),
            "overdue_seconds": round(elapsed - target, 3),
            "end_reason": row["end_reason"],
        }

    # ---------------------------------------------------------------- metrics

    def ticket_metrics(self, ticket_id: str) -> dict[str, Any] | None:
        rows = self.store.rows(
            METRICS, f"SELECT {_cols(METRICS)} FROM {METRICS.name} WHERE ticket_id = %s",
            [ticket_id],
        )
        return rows[0] if rows else None

    @staticmethod
    def _window(column: str, start: datetime | None, end: datetime | None) -> tuple[str, list[Any]]:
        where, params = ["1=1"], []
        if start is not None:
            where.append(f"{column} >= %s")
            params.append(ts(start))
        if end is not None:
            where.append(f"{column} < %s")
            params.append(ts(end))
        return " AND ".join(where), params

    def engineer_report(
        self, *, start: datetime | None = None, end: datetime | None = None
    ) -> list[dict[str, Any]]:
        """Per engineer, for assignments offered (``assigned_at``) and completions
        (``completed_at``) in [start, end): offers, accept/reject counts and rates,
        completions, hours spent and parts cost; plus the current open load."""
        where, params = self._window("assigned_at", start, end)
        offers = {
            r["engineer_id"]: r for r in self.store.select(
                "SELECT engineer_id, COUNT(*) AS offered, COUNT(accepted_at) AS accepted, "
                f"COUNT(rejected_at) AS rejected FROM {ASSIGNMENTS.name} WHERE {where} "
                "GROUP BY engineer_id", params)
        }
        where, params = self._window("completed_at", start, end)
        work = {
            r["engineer_id"]: r for r in self.store.select(
                "SELECT engineer_id, COUNT(*) AS completed, "
                "SUM(CASE WHEN completion_status = %s THEN 1 ELSE 0 END) AS resolved, "
                "SUM(time_spent_hours) AS hours, SUM(parts_cost) AS parts_cost "
                f"FROM {COMPLETIONS.name} WHERE {where} "
                "GROUP BY engineer_id", ["success", *params])
        }
        engineers = self.store.rows(
            ENGINEERS,
            "SELECT id, name, tier, capacity, availability, active, open_assignments "
            f"FROM {ENGINEERS.name} ORDER BY id",
        )
        report = []
        for e in engineers:
            o = offers.get(e["id"], {})
            w = work.get(e["id"], {})
            offered = int(_num(o.get("offered", 0)))
            accepted = int(_num(o.get("accepted", 0)))
            rejected = int(_num(o.get("rejected", 0)))
            report.append({
                "engineer_id": e["id"],
                "name": e["name"],
                "tier": e["tier"],
                "active": bool(e["active"]),
                "capacity": e["capacity"],
                "open_load": e["open_assignments"],
                "offered": offered,
                "accepted": accepted,
                "rejected": rejected,
                "acceptance_rate": _ratio(accepted, offered),
                "rejection_rate": _ratio(rejected, offered),
                "completed": int(_num(w.get("completed", 0))),
                "resolved": int(_num(w.get("resolved", 0) or 0)),
                "hours_spent": round(float(_num(w.get("hours", 0) or 0)), 2),
                "parts_cost": round(float(_num(w.get("parts_cost", 0) or 0)), 2),
            })
        return report

    def summary(
        self, *, start: datetime | None = None, end: datetime | None = None
    ) -> dict[str, Any]:
        """Fleet figures over the tickets opened in [start, end)."""
        where, params = self._window("opened_at", start, end)
        (row,) = self.store.select(
            "SELECT COUNT(*) AS tickets, COUNT(first_assigned_at) AS assigned, "
            "COUNT(resolved_at) AS resolved, SUM(escalations) AS escalations, "
            "SUM(assignee_stations) AS stations, SUM(unique_assignees) AS unique_assignees, "
            "SUM(reassignment_count) AS reassignments, SUM(rejections) AS rejections, "
            "SUM(CASE WHEN resolved_on_first_assignment THEN 1 ELSE 0 END) AS first_time, "
            "AVG(time_to_first_accept_seconds) AS avg_accept, "
            "AVG(time_to_resolution_seconds) AS avg_resolution, "
            "SUM(time_spent_hours) AS hours, SUM(parts_cost) AS parts_cost "
            f"FROM {METRICS.name} WHERE {where}",
            params,
        )
        r = {k: _num(v) for k, v in row.items()}
        assigned = int(r["assigned"] or 0)
        resolved = int(r["resolved"] or 0)
        (load,) = self.store.select(
            "SELECT COUNT(*) AS engineers, SUM(open_assignments) AS open_assignments, "
            f"SUM(capacity) AS capacity FROM {ENGINEERS.name} WHERE active = %s", [True],
        )
        load = {k: _num(v) for k, v in load.items()}
        return {
            "tickets": int(r["tickets"] or 0),
            "tickets_assigned": assigned,
            "tickets_resolved": resolved,
            "escalations": int(r["escalations"] or 0),
            "avg_escalations_per_ticket": _ratio(r["escalations"], assigned),
            "avg_assignee_stations": _ratio(r["stations"], assigned),
            "avg_unique_assignees": _ratio(r["unique_assignees"], assigned),
            "avg_reassignment_count": _ratio(r["reassignments"], assigned),
            "avg_rejections_per_ticket": _ratio(r["rejections"], assigned),
            "first_assignment_resolution_rate": _ratio(r["first_time"], resolved),
            "avg_time_to_first_accept_seconds": (
                round(r["avg_accept"], 3) if r["avg_accept"] is not None else None),
            "avg_time_to_resolution_seconds": (
                round(r["avg_resolution"], 3) if r["avg_resolution"] is not None else None),
            "hours_spent": round(float(r["hours"] or 0), 2),
            "parts_cost": round(float(r["parts_cost"] or 0), 2),
            "active_engineers": int(load["engineers"] or 0),
            "open_assignments": int(load["open_assignments"] or 0),
            "fleet_utilisation": _ratio(load["open_assignments"], load["capacity"]),
        }

    # ---------------------------------------------------------------- auto-assign

    def candidates(self, tier: int) -> list[Candidate]:
        """The engineers at ``tier`` with their load and when each was last assigned."""
        engineers = self.store.rows(
            ENGINEERS, f"SELECT {_cols(ENGINEERS)} FROM {ENGINEERS.name} WHERE tier = %s "
            "ORDER BY id", [tier],
        )
        last: dict[str, str] = {}
        ids = [e["id"] for e in engineers]
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            for r in self.store.rows(
                ASSIGNMENTS,
                f"SELECT engineer_id, MAX(assigned_at) AS assigned_at FROM {ASSIGNMENTS.name} "
                f"WHERE engineer_id IN ({', '.join(['%s'] * len(chunk))}) GROUP BY engineer_id",
                chunk,
            ):
                last[r["engineer_id"]] = r["assigned_at"]
        return [
            Candidate(
                engineer_id=e["id"], skills=tuple(e["skills"]), tier=e["tier"],
                capacity=e["capacity"], availability=float(e["availability"]),
                active=bool(e["active"]), open_assignments=e["open_assignments"],
                last_assigned_at=last.get(e["id"]),
            )
            for e in engineers
        ]
