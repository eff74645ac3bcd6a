"""The storage gate (api.outage): refuse fast while tripped, one probe at a time."""

from __future__ import annotations

from api.outage import StorageGate


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_gate_refuses_while_tripped_then_lets_one_probe_through():
    clock = Clock()
    gate = StorageGate(hold=1.0, probe_limit=30.0, clock=clock)
    assert gate.admit() == "pass"
    gate.trip()
    assert gate.admit() == "refuse"
    clock.now += 1.5
    assert gate.admit() == "probe"
    assert gate.admit() == "refuse", "only one probe at a time"
    gate.probed(ok=False)
    assert gate.admit() == "refuse"
    clock.now += 1.5
    assert gate.admit() == "probe"
    gate.probed(ok=True)
    assert not gate.tripped
    assert gate.admit() == "pass"


def test_a_hung_probe_is_replaced_after_the_probe_limit():
    clock = Clock()
    gate = StorageGate(hold=1.0, probe_limit=5.0, clock=clock)
    gate.trip()
    clock.now += 2
    assert gate.admit() == "probe"
    clock.now += 4
    assert gate.admit() == "refuse"
    clock.now += 2
    assert gate.admit() == "probe"
