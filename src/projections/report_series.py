"""Series behind the console's reports page: figures per day, per tier and per
engineer over a window of days, each one SQL aggregate over an indexed read
table (``ticket_metrics``, ``completions``, ``engineer_assignments``,
``sla_clocks``), so a chart costs the same at a hundred tickets as at a million."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from projections.ops_queries import ASSIGNMENTS, CLOCK_COLUMNS, CLOCKS, COMPLETIONS, METRICS
from projections.ops_queries import OpsQueries, SlaTable
from projections.store import ReadStore
from projections.tables import ts


def days_between(first: date, last: date) -> list[str]:
    """Every day from ``first`` to ``last`` inclusive, as ``YYYY-MM-DD``."""
    return [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]


class ReportSeries:
    """The figures of ``/console/reports`` for the ``days`` days up to ``now``."""

    def __init__(self, store: ReadStore, *, now: datetime, days: int) -> None:
        self.store = store
        self.now = now
        self.since = datetime.combine(
            (now - timedelta(days=days - 1)).date(), datetime.min.time(), now.tzinfo)
        self.days = days_between(self.since.date(), now.date())

    def _per_day(self, table: str, column: str, where: str = "1=1",
                 params: tuple[Any, ...] = ()) -> dict[str, int]:
        day = self.store.day_sql(column)
        rows = self.store.select(
            f"SELECT {day} AS day, COUNT(*) AS n FROM {table} "
            f"WHERE {column} >= %s AND {where} GROUP BY {day}",
            [ts(self.since), *params],
        )
        return {r["day"]: int(r["n"]) for r in rows}

    def tickets_per_day(self) -> dict[str, list[Any]]:
        """Tickets opened, and resolved (a successful completion), per day."""
        opened = self._per_day(METRICS.name, "opened_at")
        resolved = self._per_day(COMPLETIONS.name, "completed_at", "completion_status = %s",
                                 ("success",))
        return {
            "days": self.days,
            "opened": [opened.get(d, 0) for d in self.days],
            "resolved": [resolved.get(d, 0) for d in self.days],
        }

    def first_assignment_resolution(self) -> dict[str, list[Any]]:
        """Per day opened: the share of resolved tickets that the first engineer
        resolved (None on a day with no resolved ticket)."""
        day = self.store.day_sql("opened_at")
        rows = self.store.select(
            f"SELECT {day} AS day, COUNT(resolved_at) AS resolved, "
            "SUM(CASE WHEN resolved_on_first_assignment THEN 1 ELSE 0 END) AS first_time "
            f"FROM {METRICS.name} WHERE opened_at >= %s GROUP BY {day}",
            [ts(self.since)],
        )
        by_day = {r["day"]: r for r in rows}
        rates: list[float | None] = []
        for d in self.days:
            r = by_day.get(d)
            resolved = int(r["resolved"] or 0) if r else 0
            rates.append(round(int(r["first_time"] or 0) / resolved, 4) if resolved else None)
        return {"days": self.days, "rate": rates}

    def escalations_per_tier(self) -> dict[str, list[int]]:
        """Assignments escalated, by the tier they were escalated from."""
        rows = self.store.select(
            f"SELECT assignment_tier AS tier, COUNT(*) AS n FROM {ASSIGNMENTS.name} "
            "WHERE status = %s AND assigned_at >= %s GROUP BY assignment_tier "
            "ORDER BY assignment_tier",
            ["escalated", ts(self.since)],
        )
        return {"tiers": [int(r["tier"]) for r in rows], "escalations": [int(r["n"]) for r in rows]}

    def sla_breaches_per_tier(self, targets: SlaTable) -> dict[str, list[int]]:
        """Breached accept and resolve clocks per tier, of assignments whose
        deadline fell in the window (running clocks past their deadline count)."""
        counts: dict[str, dict[int, int]] = {}
        for clock in CLOCK_COLUMNS:
            clause, params = OpsQueries(self.store).breach_clause(
                clock, targets, self.now, self.since)
            rows = self.store.select(
                f"SELECT assignment_tier AS tier, COUNT(*) AS n FROM {CLOCKS.name} "
                f"WHERE {clause} GROUP BY assignment_tier", params)
            counts[clock] = {int(r["tier"]): int(r["n"]) for r in rows}
        tiers = sorted(set(counts["accept"]) | set(counts["resolve"]))
        return {
            "tiers": tiers,
            "accept": [counts["accept"].get(t, 0) for t in tiers],
            "resolve": [counts["resolve"].get(t, 0) for t in tiers],
        }

    def engineers(self, limit: int = 25) -> dict[str, list[Any]]:
        """Hours spent in the window and open load against capacity, for the
        ``limit`` engineers with the most hours (then the most load)."""
        report = OpsQueries(self.store).engineer_report(start=self.since)
        report.sort(key=lambda r: (-r["hours_spent"], -r["open_load"], r["engineer_id"]))
        top = report[:limit]
        return {
            "engineers": [r["engineer_id"] for r in top],
            "hours": [r["hours_spent"] for r in top],
            "load": [r["open_load"] for r in top],
            "capacity": [r["capacity"] for r in top],
        }
