"""ActiveEngineers: an unknown or inactive engineer is refused; while caching,
an active one's facts are remembered until a change says they differ, and a
load that began before a change of that engineer never fills the cache."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from ledger.engineer_gate import ActiveEngineers
from ledger.errors import EngineerNotFoundError, InvalidReferenceError
from ledger.qualification import EngineerFacts


class Roster:
    def __init__(self, **active: bool) -> None:
        self.active = active
        self.loads: list[str] = []
        self.during_load: Any = None
        self.territories: list[str] = []

    def facts(self, engineer_id: str) -> EngineerFacts:
        """The facts the runner would pass for the engineer's committed row."""
        return EngineerFacts(engineer_id=engineer_id, active=self.active[engineer_id],
                             availability=1.0, tier=1, territories=tuple(self.territories),
                             certifications={})

    def load(self, engineer_id: str) -> Any:
        self.loads.append(engineer_id)
        if engineer_id not in self.active:
            raise EngineerNotFoundError(f"Engineer {engineer_id!r} is not registered.")
        found = SimpleNamespace(engineer_id=engineer_id, active=self.active[engineer_id],
                                availability=1.0, tier=1, territories=self.territories)
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
    gate.changed("ada", roster.facts("ada"))  # the same facts: still remembered
    assert gate.require("ada").territories == ()
    assert roster.loads == ["ada"]
    roster.territories = ["north"]
    gate.changed("ada", roster.facts("ada"))  # what the rule reads changed: forgotten
    assert gate.require("ada").territories == ("north",)
    assert roster.loads == ["ada", "ada"]
    roster.active["ada"] = False
    gate.changed("ada", roster.facts("ada"))
    with pytest.raises(InvalidReferenceError):
        gate.require("ada")


def test_a_deactivation_during_a_load_keeps_the_load_out_of_the_cache() -> None:
    roster = Roster(ada=True)
    gate = ActiveEngineers(roster.load)
    gate.cache(True)
    roster.during_load = lambda: gate.changed("ada", None)
    gate.require("ada")  # loaded active, but deactivated meanwhile
    roster.during_load = None
    gate.require("ada")
    assert roster.loads == ["ada", "ada"]  # not answered from memory


def test_a_change_of_another_engineer_during_a_load_does_not_keep_it_out() -> None:
    roster = Roster(ada=True, bo=True)
    gate = ActiveEngineers(roster.load)
    gate.cache(True)
    roster.during_load = lambda: gate.changed("bo", None)
    gate.require("ada")
    roster.during_load = None
    gate.require("ada")
    assert roster.loads == ["ada"]
