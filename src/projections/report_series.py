"""Series behind the console's reports page: figures per day, per tier and per
engineer over a window of days. Counts come from the daily roll-ups that the
metrics projection keeps (``daily_figures``, ``daily_engineer_hours``: a row a
day), so a chart costs the same at a hundred tickets as at a million; SLA
breaches are judged against today's targets over ``sla_clocks``, reading only
the window's clocks from one index (a roll-up cannot hold them: the targets
are settings, changed without a rebuild, and a running clock breaches when its
deadline passes, with no event to fold)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import cached_property
from typing import Any

from projections.metrics import TicketMetricsProjection
from projections.ops_queries import CLOCK_COLUMNS, CLOCKS, ENGINEERS, SlaTable
from projections.store import ReadStore
from projections.tables import ts

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
        deadline fell in the window (running clocks past their deadline count):
        ``OpsQueries.breach_clause``'s judgement, counted in one statement."""
        statement, params = self._breach_counts(targets)
        counts = {int(r["tier"]): (int(r["accept"]), int(r["resolve"]))
                  for r in (self.store.select(statement, params) if statement else ())}
        tiers = sorted(t for t, (a, r) in counts.items() if a or r)
        return {
            "tiers": tiers,
            "accept": [counts[t][0] for t in tiers],
            "resolve": [counts[t][1] for t in tiers],
        }

    def _tiers_present(self, priorities: list[str]) -> dict[str, tuple[int, int]]:
        """priority -> (lowest, highest) tier of its clocks; left out without any."""
        parts, params = [], []
        for i, priority in enumerate(priorities):
            for fn in ("MIN", "MAX"):
                parts.append(f"(SELECT {fn}(assignment_tier) FROM {CLOCKS.name} "
                             f"WHERE priority = %s) AS {fn.lower()}{i}")
                params.append(priority)
        row = self.store.select(f"SELECT {', '.join(parts)}", params)[0]
        return {p: (int(row[f"min{i}"]), int(row[f"max{i}"]))
                for i, p in enumerate(priorities) if row[f"min{i}"] is not None}

    def _breach_counts(self, targets: SlaTable) -> tuple[str, list[Any]]:
        """One index range per (priority, band of tiers): ``priority = p AND tier
        IN (the band's tiers that exist) AND started_at >= since - the longer
        target``, both clocks judged on each row as ``breach_clause`` does. The
        tiers are listed so that the index's third column bounds the range (a
        tier range would read the whole history of those tiers)."""
        present = self._tiers_present(sorted(targets)) if targets else {}
        selects, params = [], []
        for priority, (low, high) in present.items():
            bands = targets[priority]
            for i, (first, accept_s, resolve_s) in enumerate(bands):
                lowest = low if i == 0 else max(first, low)
                highest = high if i + 1 == len(bands) else min(bands[i + 1][0] - 1, high)
                tiers = list(range(lowest, highest + 1))
                if not tiers:
                    continue
                judged = []
                for clock, target in (("accept", accept_s), ("resolve", resolve_s)):
                    column = CLOCK_COLUMNS[clock]
                    judged.append(
                        f"SUM(CASE WHEN started_at >= %s AND ({column} > %s OR "
                        f"({column} IS NULL AND started_at < %s)) THEN 1 ELSE 0 END) AS {clock}")
                    params.extend([ts(self.since - timedelta(seconds=target)), target,
                                   ts(self.now - timedelta(seconds=target))])
                selects.append(
                    f"SELECT assignment_tier AS tier, {', '.join(judged)} FROM {CLOCKS.name} "
                    f"WHERE priority = %s AND assignment_tier IN ({', '.join(['%s'] * len(tiers))}) "
                    "AND started_at >= %s GROUP BY assignment_tier")
                params.extend([priority, *tiers,
                               ts(self.since - timedelta(seconds=max(accept_s, resolve_s)))])
        if not selects:
            return "", []
        return (f"SELECT tier, SUM(accept) AS accept, SUM(resolve) AS resolve FROM "
                f"({' UNION ALL '.join(selects)}) AS bands GROUP BY tier", params)

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
