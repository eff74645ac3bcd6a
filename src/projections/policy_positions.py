"""The ``ledger_policy_positions`` table: how far each policy that follows the
log (``projections.repeat_policy_runner``) has acted, beside the read tables.

Not a projection's position: a rebuild of the read tables leaves it alone, so a
rebuild never makes a policy act on old events again. A position only moves
forward (two processes that both saved one keep the larger).

Beside it, ``ledger_policy_states``: a policy's state as of a position, so that
a process taking the lead resumes from there instead of replaying the whole log.
"""

from __future__ import annotations

from typing import NamedTuple

import orjson

from projections.side_tables import SideTables

TABLE = "ledger_policy_positions"
STATES = "ledger_policy_states"


class SavedState(NamedTuple):
    """A policy's state after the events up to ``position``, kept under ``settings``."""

    position: int
    settings: str
    state: dict


class PolicyPositions(SideTables):
    """One row per policy: its name and how far it has acted."""

    def setup(self) -> None:
        self.create([
            f"CREATE TABLE IF NOT EXISTS {TABLE} (name TEXT PRIMARY KEY, "
            "position BIGINT NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS {STATES} (name TEXT PRIMARY KEY, "
            "position BIGINT NOT NULL, settings TEXT NOT NULL, state TEXT NOT NULL)",
        ])

    def get(self, name: str) -> int:
        rows = self.read(f"SELECT position FROM {TABLE} WHERE name = %s", [name])
        return int(rows[0]["position"]) if rows else 0

    def save(self, name: str, position: int) -> None:
        larger = "GREATEST" if self.postgres else "MAX"
        self.write(
            f"INSERT INTO {TABLE} (name, position) VALUES (%s, %s) ON CONFLICT (name) "
            f"DO UPDATE SET position = {larger}({TABLE}.position, excluded.position)",
            [name, position])

    def get_state(self, name: str) -> SavedState | None:
        rows = self.read(f"SELECT position, settings, state FROM {STATES} WHERE name = %s",
                         [name])
        if not rows:
            return None
        row = rows[0]
        return SavedState(int(row["position"]), row["settings"], orjson.loads(row["state"]))

    def save_state(self, name: str, saved: SavedState) -> None:
        """Keeps the state of the larger position (two processes may both save)."""
        self.write(
            f"INSERT INTO {STATES} (name, position, settings, state) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (name) DO UPDATE SET position = excluded.position, "
            "settings = excluded.settings, state = excluded.state "
            f"WHERE excluded.position >= {STATES}.position",
            [name, saved.position, saved.settings, orjson.dumps(saved.state).decode()])
