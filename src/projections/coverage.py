"""Coverage queries (issue 21): who qualifies for a kind of work, which kinds of
open work nobody covers, and which certifications run out soon.

Each is one SQL statement over the read tables (``engineer_reach``,
``engineers``, ``engineer_certifications``; ``ticket_needs`` and ``tickets``),
written once for SQLite and PostgreSQL alike: text comparisons
only (a certification's ``expires_on`` is ISO date text, which sorts as it
reads), parameters typed where a backend must know their type (``CAST(%s AS
TEXT) IS NULL``), and the gaps' order finished in Python (the backends order
NULLs differently). Their WHERE clauses are the qualification rule
(``ledger.qualification.unmet``) in SQL; tests/integration/test_coverage.py
checks on generated data that the two agree. Each kind of work is answered by
index probes (benchmarks/coverage.py: 5,000 engineers, 100,000 open tickets).

Which needs nobody covers is the one costly part (it judges every need against
every engineer's reach), and its answer changes only with the roster's reach
and certifications, the set of needs and the day. So it is kept, per process,
under the position of the last reach change (``engineer_reach_changed``), the
number of needs (``ticket_needs`` only grows) and the day, and judged again
when any of them moves; the open tickets are counted afresh every time.
"""

from __future__ import annotations

import threading
from datetime import date, timedelta
from typing import Any

from projections.engineers import ANYWHERE
from projections.store import ReadStore

#: Needs counted per statement (well under SQLite's parameter limit).
_CHUNK = 500

#: Uncovered-needs answers kept (per reach position, needs and day; oldest dropped).
_KEPT = 8

#: Ticket statuses that still need an engineer (or hold one): the work coverage is for.
OPEN_STATUSES = ("open", "assigned", "in_progress")

#: The certification part of the rule for engineer ``{engineer}`` and a need
#: ``{certification}`` (a SQL expression; NULL asks nothing) valid on day %s.
_CERTIFIED = """
    ({certification} IS NULL OR EXISTS (
        SELECT 1 FROM engineer_certifications c
        WHERE c.engineer_id = {engineer} AND c.certification = {certification}
          AND (c.expires_on IS NULL OR c.expires_on >= %s)))
"""


def _days_after(day: date, days: int) -> date:
    """``day`` plus ``days``, or the last day there is."""
    return day + timedelta(days=days) if (date.max - day).days >= days else date.max


class CoverageQueries:
    """The three coverage views, on one read store.

    Active, available, skill and territory are answered by ``engineer_reach``
    (rows only for active engineers with availability, one per (skill,
    territory) they cover, "" for "not asked", "*" for "anywhere"): a kind of
    work is covered by the engineers found under (skill or "", territory or
    "") and (skill or "", "*"). The certification and the tier are checked on
    those candidates.

    One instance per process (it keeps the uncovered needs it has judged).
    """

    def __init__(self, store: ReadStore) -> None:
        self.store = store
        #: (reach position, number of needs, day) -> the needs nobody covers.
        self._uncovered: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def qualified(
        self, *, territory: str | None, skill: str | None, certification: str | None,
        tier: int, on: date, limit: int,
    ) -> list[dict[str, Any]]:
        """Engineers who qualify at ``tier`` on ``on`` for work needing these
        (None: not needed), least loaded first (open assignments per unit of
        capacity, then fewer open assignments, then id)."""
        certified = _CERTIFIED.format(engineer="e.id", certification="CAST(%s AS TEXT)")
        return self.store.select(
            "SELECT e.id AS engineer_id, e.name, e.tier, e.open_assignments, e.capacity "
            "FROM engineer_reach r JOIN engineers e ON e.id = r.engineer_id "
            "WHERE r.skill = %s AND r.territory IN (%s, %s) AND e.tier >= %s "
            f"AND {certified} "
            "ORDER BY e.open_assignments * 1.0 / e.capacity, e.open_assignments, e.id "
            "LIMIT %s",
            [skill or "", territory or "", ANYWHERE, tier, certification, certification,
             on.isoformat(), limit],
        )

    def gaps(self, *, on: date) -> list[dict[str, Any]]:
        """The (territory, skill, certification) combinations that open tickets
        need and no active engineer covers on ``on`` (at any tier), with how
        many open tickets need each; most tickets first. The uncovered needs
        come from what this process kept when nothing they depend on has
        changed (module docstring), else from ``uncovered_needs``; only their
        open tickets are counted (index on ``need``)."""
        key = (*self._state(), on)
        uncovered = self._uncovered.get(key)
        if uncovered is None:
            uncovered = self.uncovered_needs(on=on)
            # Kept only if nothing changed while it was judged: then it is
            # exactly the answer at ``key``.
            if (*self._state(), on) == key:
                with self._lock:
                    self._uncovered[key] = uncovered
                    while len(self._uncovered) > _KEPT:
                        del self._uncovered[next(iter(self._uncovered))]
        counts: dict[str, int] = {}
        statuses = ", ".join(["%s"] * len(OPEN_STATUSES))
        for start in range(0, len(uncovered), _CHUNK):
            needs = [r["need"] for r in uncovered[start:start + _CHUNK]]
            for row in self.store.select(
                "SELECT need, COUNT(*) AS n FROM tickets "
                f"WHERE need IN ({', '.join(['%s'] * len(needs))}) AND status IN ({statuses}) "
                "GROUP BY need",
                [*needs, *OPEN_STATUSES],
            ):
                counts[row["need"]] = int(row["n"])
        rows = [
            {"territory": r["territory"], "skill": r["skill"],
             "certification": r["certification"], "open_tickets": counts[r["need"]]}
            for r in uncovered if counts.get(r["need"])
        ]
        rows.sort(key=lambda r: (-r["open_tickets"], r["territory"] or "", r["skill"] or "",
                                 r["certification"] or ""))
        return rows

    def _state(self) -> tuple[Any, Any]:
        """(position of the last reach change, number of needs) as stored now."""
        row = self.store.select(
            "SELECT (SELECT position FROM engineer_reach_changed WHERE id = 'last') AS reach, "
            "(SELECT COUNT(*) FROM ticket_needs) AS needs"
        )[0]
        return row["reach"], int(row["needs"])

    def uncovered_needs(self, *, on: date) -> list[dict[str, Any]]:
        """The needs (``ticket_needs`` rows) no active engineer covers on
        ``on``, judged now: two hashable anti-joins over ``engineer_reach``.
        One statement with the open tickets' count too looks costly enough to
        PostgreSQL's planner to be JIT-compiled, which costs more than the
        query (benchmarks/RESULTS.md, issue 21)."""
        certified = _CERTIFIED.format(engineer="r.engineer_id", certification="n.certification")
        return self.store.select(
            "SELECT n.need, n.territory, n.skill, n.certification FROM ticket_needs n "
            "WHERE NOT EXISTS (SELECT 1 FROM engineer_reach r "
            "  WHERE r.skill = COALESCE(n.skill, '') "
            f"   AND r.territory = COALESCE(n.territory, '') AND {certified}) "
            "AND NOT EXISTS (SELECT 1 FROM engineer_reach r "
            f"  WHERE r.skill = COALESCE(n.skill, '') AND r.territory = %s AND {certified})",
            [on.isoformat(), ANYWHERE, on.isoformat()],
        )

    def expiring(self, *, on: date, within_days: int) -> list[dict[str, Any]]:
        """Active engineers' certifications whose last valid day falls between
        ``on`` and ``within_days`` later, soonest first."""
        rows = self.store.select(
            "SELECT c.engineer_id, e.name, c.certification, c.expires_on "
            "FROM engineer_certifications c JOIN engineers e ON e.id = c.engineer_id "
            "WHERE e.active = %s AND c.expires_on >= %s AND c.expires_on <= %s "
            "ORDER BY c.expires_on, c.engineer_id, c.certification",
            [True, on.isoformat(), _days_after(on, within_days).isoformat()],
        )
        return [
            {**r, "days_left": (date.fromisoformat(r["expires_on"]) - on).days} for r in rows
        ]

