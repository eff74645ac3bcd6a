"""ActiveEngineers: an unknown or inactive engineer is refused; while caching,
an active one is remembered until a change says otherwise, and a load that
began before a deactivation never fills the cache."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from ledger.engineer_gate import ActiveEngineers
from ledger.errors import EngineerNotFoundError, InvalidReferenceError


class Roster:
    def __init__(self, **active: bool) -> None:
        self.active = active
        self.loads: list[str] = []
        self.during_load: Any = None

    def load(self, engineer_id: str) -> Any:
        self.loads.append(engineer_id)
        if engineer_id not in self.active:
            raise EngineerNotFoundError(f"Engineer {engineer_id!r} is not registered.")
        found = SimpleNamespace(active=self.active[engineer_id])
        if self.during_load is not None:
            self.during_load()
        return found


def test_unknown_and_inactive_engineers_are_refused() -> None:
    gate = ActiveEngineers(Roster(off=False).load)
    with pytest.raises(InvalidReferenceError, match="not registered"):
        gate.require("nobody")
    with pytest.raises(InvalidReferenceError, match="inactive"):
        gate.require("off")


def test_without_caching_every_check_loads() -> None:
    roster = Roster(ada=True)
    gate = ActiveEngineers(roster.load)
    gate.require("ada")
    gate.require("ada")
    assert roster.loads == ["ada", "ada"]


def test_while_caching_an_active_engineer_is_loaded_once_until_changed() -> None:
    roster = Roster(ada=True)
    gate = ActiveEngineers(roster.load)
    gate.cache(True)
    gate.require("ada")
    gate.require("ada")
    assert roster.loads == ["ada"]
    gate.changed("ada", True)  # the same state: still remembered
    gate.require("ada")
    assert roster.loads == ["ada"]
    roster.active["ada"] = False
    gate.changed("ada", False)
    with pytest.raises(InvalidReferenceError):
        gate.require("ada")


def test_a_deactivation_during_a_load_keeps_the_load_out_of_the_cache() -> None:
    roster = Roster(ada=True)
    gate = ActiveEngineers(roster.load)
    gate.cache(True)
    roster.during_load = lambda: gate.changed("ada", False)
    gate.require("ada")  # loaded active, but deactivated meanwhile
    roster.during_load = None
    gate.require("ada")
    assert roster.loads == ["ada", "ada"]  # not answered from memory
