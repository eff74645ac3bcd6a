"""Coverage queries (issue 21): who qualifies for a kind of work, which kinds of
open work nobody covers, and which certifications run out soon.

Each is one SQL statement over the engineers' read tables (``engineers``,
``engineer_skills``, ``engineer_territories``, ``engineer_certifications``) and
``tickets``, written once for SQLite and PostgreSQL alike: text comparisons
only (a certification's ``expires_on`` is ISO date text, which sorts as it
reads), parameters typed where a backend must know their type (``CAST(%s AS
TEXT) IS NULL``), and the gaps' order finished in Python (the backends order
NULLs differently). The WHERE clause below is the qualification rule
(``ledger.qualification.unmet``) in SQL; tests/integration/test_coverage.py
checks on generated data that the two agree.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from projections.store import ReadStore

#: Ticket statuses that still need an engineer (or hold one): the work coverage is for.
OPEN_STATUSES = ("open", "assigned", "in_progress")

#: The rule's conditions on engineer ``e`` for a ticket needing skill ``{skill}``,
#: territory ``{territory}`` and certification ``{certification}`` on day
#: ``{day}`` (each placeholder a SQL expression; a NULL need asks nothing).
_QUALIFIES = """
    e.active = %s AND e.availability > 0
    AND ({skill} IS NULL OR EXISTS (
        SELECT 1 FROM engineer_skills s WHERE s.engineer_id = e.id AND s.skill = {skill}))
    AND ({territory} IS NULL
        OR NOT EXISTS (SELECT 1 FROM engineer_territories a WHERE a.engineer_id = e.id)
        OR EXISTS (SELECT 1 FROM engineer_territories t
                   WHERE t.engineer_id = e.id AND t.territory = {territory}))
    AND ({certification} IS NULL OR EXISTS (
        SELECT 1 FROM engineer_certifications c
        WHERE c.engineer_id = e.id AND c.certification = {certification}
          AND (c.expires_on IS NULL OR c.expires_on >= {day})))
"""


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


class CoverageQueries:
    """The three coverage views, on one read store."""

    def __init__(self, store: ReadStore) -> None:
        self.store = store

    def qualified(
        self, *, territory: str | None, skill: str | None, certification: str | None,
        tier: int, on: date, limit: int,
    ) -> list[dict[str, Any]]:
        """Engineers who qualify at ``tier`` on ``on`` for work needing these
        (None: not needed), least loaded first (open assignments per unit of
        capacity, then fewer open assignments, then id)."""
        where = _QUALIFIES.format(
            skill="CAST(%s AS TEXT)", territory="CAST(%s AS TEXT)",
            certification="CAST(%s AS TEXT)", day="%s",
        )
        # Each placeholder's value, in the order the statement names them.
        params = [True, skill, skill, territory, territory, certification, certification,
                  on.isoformat()]
        return self.store.select(
            "SELECT e.id AS engineer_id, e.name, e.tier, e.open_assignments, e.capacity "
            f"FROM engineers e WHERE {where} AND e.tier >= %s "
            "ORDER BY e.open_assignments * 1.0 / e.capacity, e.open_assignments, e.id "
            "LIMIT %s",
            [*params, tier, limit],
        )

    def gaps(self, *, on: date) -> list[dict[str, Any]]:
        """The (territory, skill, certification) combinations that open tickets
        need and no active engineer covers on ``on`` (at any tier), with how
        many open tickets need each; most tickets first."""
        where = _QUALIFIES.format(
            skill="n.skill", territory="n.territory", certification="n.certification", day="%s",
        )
        statuses = ", ".join(["%s"] * len(OPEN_STATUSES))
        rows = self.store.select(
            "SELECT n.territory, n.skill, n.certification, n.open_tickets FROM ("
            "  SELECT territory, required_skill AS skill, "
            "         required_certification AS certification, COUNT(*) AS open_tickets "
            f"  FROM tickets WHERE status IN ({statuses}) "
            "  GROUP BY territory, required_skill, required_certification) n "
            f"WHERE NOT EXISTS (SELECT 1 FROM engineers e WHERE {where})",
            [*OPEN_STATUSES, True, on.isoformat()],
        )
        rows = [{**r, "open_tickets": int(r["open_tickets"])} for r in rows]
        rows.sort(key=lambda r: (-r["open_tickets"], r["territory"] or "", r["skill"] or "",
                                 r["certification"] or ""))
        return rows

    def expiring(self, *, on: date, within_days: int) -> list[dict[str, Any]]:
        """Active engineers' certifications whose last valid day falls between
        ``on`` and ``within_days`` later, soonest first."""
        rows = self.store.select(
            "SELECT c.engineer_id, e.name, c.certification, c.expires_on "
            "FROM engineer_certifications c JOIN engineers e ON e.id = c.engineer_id "
            "WHERE e.active = %s AND c.expires_on >= %s AND c.expires_on <= %s "
            "ORDER BY c.expires_on, c.engineer_id, c.certification",
            [True, on.isoformat(), (on + timedelta(days=within_days)).isoformat()],
        )
        return [
            {**r, "days_left": (date.fromisoformat(r["expires_on"]) - on).days} for r in rows
        ]

