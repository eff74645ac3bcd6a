"""projections.gcpolicy: overlapping phases that raise the collector's thresholds."""

from __future__ import annotations

import gc

import pytest

from api.runtime import SERVING_THRESHOLDS, serving_gc
from projections.gcpolicy import raised_thresholds
from projections.pages import RELAXED_THRESHOLDS, relaxed_gc


@pytest.fixture(autouse=True)
def _defaults():
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield
    gc.set_threshold(*before)


def test_one_hold_raises_then_restores():
    with raised_thresholds((5000, 20, 30)):
        assert gc.get_threshold() == (5000, 20, 30)
    assert gc.get_threshold() == (700, 10, 10)


def test_overlapping_holds_take_the_highest_of_each_value():
    with raised_thresholds((5000, 5, 30)), raised_thresholds((1000, 40, 20)):
        assert gc.get_threshold() == (5000, 40, 30)
    assert gc.get_threshold() == (700, 10, 10)


def test_a_catch_up_ending_while_serving_leaves_the_serving_thresholds():
    # A server starts serving while its runner's first pass still replays, and
    # the pass ends first: serving must go on with its own thresholds, not with
    # the defaults the pass found when it began.
    replay = relaxed_gc()
    replay.__enter__()
    with serving_gc():
        assert gc.get_threshold() == tuple(max(a, b) for a, b in zip(
            RELAXED_THRESHOLDS, SERVING_THRESHOLDS, strict=True))
        replay.__exit__(None, None, None)
        assert gc.get_threshold() == SERVING_THRESHOLDS
    assert gc.get_threshold() == (700, 10, 10)


def test_serving_ending_during_a_replay_leaves_the_replays_thresholds():
    with relaxed_gc():
        serving = serving_gc()
        serving.__enter__()
        serving.__exit__(None, None, None)
        assert gc.get_threshold() == RELAXED_THRESHOLDS
    assert gc.get_threshold() == (700, 10, 10)


def test_only_the_first_serving_start_collects():
    # Its import and start-up garbage is collected before the freeze; a start
    # after that (a test suite's next app) freezes without a full collection.
    import api.runtime

    full: list[int] = []

    def count(phase: str, info: dict) -> None:
        if phase == "start" and info["generation"] == 2:
            full.append(1)

    gc.callbacks.append(count)
    try:
        api.runtime._collected = False
        with serving_gc():
            assert full and gc.get_freeze_count() > 0
        full.clear()
        with serving_gc():
            assert not full and gc.get_freeze_count() > 0
    finally:
        gc.callbacks.remove(count)
    assert gc.get_freeze_count() == 0
