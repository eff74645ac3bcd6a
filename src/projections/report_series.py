"""Series behind the console's reports page: figures per day, per tier and per
engineer over a window of days. Counts come from the daily roll-ups that the
metrics projection keeps (``daily_figures``, ``daily_engineer_hours``: a row a
day), so a chart costs the same at a hundred tickets as at a million; SLA
breaches are judged against today's targets over ``sla_clocks``."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import cached_property
from typing import Any

from projections.metrics import TicketMetricsProjection
from projections.ops_queries import CLOCK_COLUMNS, CLOCKS, ENGINEERS, OpsQueries, SlaTable
from projections.store import ReadStore

DAILY = TicketMetricsProjection.daily
HOURS = TicketMetricsProjection.engineer_hours


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

    @cached_property
    def _daily(self) -> list[dict[str, Any]]:
        return self.store.rows(
            DAILY, f"SELECT {', '.join(DAILY.column_names)} FROM {DAILY.name} WHERE day >= %s "
            "ORDER BY day", [self.days[0]])

    def tickets_per_day(self) -> dict[str, list[Any]]:
        """Tickets opened, and resolved (a successful completion), per day."""
        by_day = {r["day"]: r for r in self._daily}
        return {
            "days": self.days,
            "opened": [by_day[d]["opened"] if d in by_day else 0 for d in self.days],
            "resolved": [by_day[d]["resolved"] if d in by_day else 0 for d in self.days],
        }

    def first_assignment_resolution(self) -> dict[str, list[Any]]:
        """Per day: the share of that day's resolutions that were by the ticket's
        first and only assignment (None on a day without one)."""
        by_day = {r["day"]: r for r in self._daily}
        rates: list[float | None] = []
        for d in self.days:
            r = by_day.get(d)
            rates.append(round(r["resolved_first_time"] / r["resolved"], 4)
                         if r and r["resolved"] else None)
        return {"days": self.days, "rate": rates}

    def escalations_per_tier(self) -> dict[str, list[int]]:
        """Escalations in the window, by the tier escalated to."""
        totals: dict[int, int] = {}
        for r in self._daily:
            for tier, n in r["escalations"].items():
                totals[int(tier)] = totals.get(int(tier), 0) + n
        tiers = sorted(totals)
        return {"tiers": tiers, "escalations": [totals[t] for t in tiers]}

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
        ``limit`` engineers with the most hours."""
        top = self.store.select(
            f"SELECT engineer_id, SUM(hours) AS hours FROM {HOURS.name} WHERE day >= %s "
            "GROUP BY engineer_id ORDER BY SUM(hours) DESC, engineer_id LIMIT %s",
            [self.days[0], limit])
        ids = [r["engineer_id"] for r in top]
        load = {}
        if ids:
            marks = ", ".join(["%s"] * len(ids))
            load = {r["id"]: r for r in self.store.select(
                f"SELECT id, open_assignments, capacity FROM {ENGINEERS.name} "
                f"WHERE id IN ({marks})", ids)}
        return {
            "engineers": ids,
            "hours": [round(float(r["hours"] or 0), 2) for r in top],
            "load": [int(load[i]["open_assignments"]) if i in load else 0 for i in ids],
            "capacity": [int(load[i]["capacity"]) if i in load else 0 for i in ids],
        }
