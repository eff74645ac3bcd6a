"""The ``ledger_policy_positions`` table: how far each policy that follows the
log (``projections.repeat_policy_runner``) has acted, beside the read tables.

Not a projection's position: a rebuild of the read tables leaves it alone, so a
rebuild never makes a policy act on old events again. A position only moves
forward (two processes that both saved one keep the larger).
"""

from __future__ import annotations

from projections.side_tables import SideTables

TABLE = "ledger_policy_positions"


class PolicyPositions(SideTables):
    """One row per policy: its name and how far it has acted."""

    def setup(self) -> None:
        statement = (
            f"CREATE TABLE IF NOT EXISTS {TABLE} (name TEXT PRIMARY KEY, "
            "position BIGINT NOT NULL)"
        )
        self.create([statement])

    def get(self, name: str) -> int:
        with self.datastore.transaction(commit=False) as c:
            c.execute(self._sql(f"SELECT position FROM {TABLE} WHERE name = %s"), [name])
            rows = c.fetchall()
        return int(rows[0]["position"]) if rows else 0

    def save(self, name: str, position: int) -> None:
        larger = "GREATEST" if self.postgres else "MAX"
        with self.datastore.transaction(commit=True) as c:
            c.execute(
                self._sql(
                    f"INSERT INTO {TABLE} (name, position) VALUES (%s, %s) ON CONFLICT (name) "
                    f"DO UPDATE SET position = {larger}({TABLE}.position, excluded.position)"
                ),
                [name, position],
            )
