"""``projections.parallel.partition``: rebuild groups balanced by measured cost."""

from projections.parallel import DEFAULT_WEIGHT, WEIGHTS, partition
from projections.registry import ALL_PROJECTIONS


def test_every_projection_has_a_measured_weight() -> None:
    assert {cls.name for cls in ALL_PROJECTIONS} <= WEIGHTS.keys()


def test_two_groups_take_every_projection_once_and_balance_their_cost() -> None:
    names = [cls.name for cls in ALL_PROJECTIONS]
    groups = partition(names, 2)
    assert sorted(n for g in groups for n in g) == sorted(names)
    loads = [sum(WEIGHTS[n] for n in g) for g in groups]
    assert max(loads) - min(loads) <= min(WEIGHTS.values()) * 2
    # A plugin projection unknown to the weights still lands in exactly one group.
    groups = partition([*names, "plugin_view"], 3)
    assert sum(g.count("plugin_view") for g in groups) == 1
    assert DEFAULT_WEIGHT > 0
