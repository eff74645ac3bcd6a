"""Auto-assignment scoring: pure, deterministic, explainable (no database)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.autoassign import Candidate, Previous, choose, next_tier, refusals, score
from ledger.errors import ConflictError, NoEligibleEngineerError


def cand(engineer_id: str, **kw: object) -> Candidate:
    values: dict[str, object] = {
        "skills": ("fibre",), "tier": 1, "capacity": 5, "availability": 1.0, "active": True,
        "open_assignments": 0, "last_assigned_at": None,
    }
    values.update(kw)
    return Candidate(engineer_id=engineer_id, **values)  # type: ignore[arg-type]


# ------------------------------------------------------------------ next tier


def test_first_assignment_is_tier_one() -> None:
    assert next_tier([]) == 1


@pytest.mark.parametrize(
    ("status", "outcome", "expected"),
    [
        ("rejected", None, 2),
        ("removed", None, 2),
        ("failed", "failed", 2),
        ("completed", "parts_required", 2),
        ("completed", "customer_unavailable", 2),
        ("completed", "success", 2),  # resolved, then reopened: same tier again
        ("completed", "escalated", 3),
    ],
)
def test_next_tier_follows_the_latest_assignment(status: str, outcome: str | None,
                                                 expected: int) -> None:
    previous = [Previous(1, 1, "escalated"), Previous(2, 2, status, outcome)]
    assert next_tier(reversed(previous)) == expected  # by sequence, not by list order


# ------------------------------------------------------------------ filters


def test_each_hard_filter_is_named() -> None:
    c = cand("x", active=False, tier=2, skills=("copper",), availability=0.0,
             open_assignments=5, capacity=5)
    assert refusals(c, tier=1, required_skill="fibre", rejected_by=frozenset({"x"})) == [
        "inactive", "tier 2, needs 1", "lacks skill fibre", "availability 0",
        "at capacity 5/5", "rejected this ticket before",
    ]
    assert refusals(cand("y"), tier=1, required_skill="fibre", rejected_by=frozenset()) == []
    assert refusals(cand("z", skills=()), tier=1, required_skill=None,
                    rejected_by=frozenset()) == []


def test_nobody_qualifies_lists_every_candidate_with_reasons() -> None:
    with pytest.raises(NoEligibleEngineerError) as caught:
        choose([cand("b", skills=("copper",)), cand("a", open_assignments=5)],
               tier=1, required_skill="fibre", ticket="ticket T")
    error = caught.value
    assert isinstance(error, ConflictError)  # answered 409
    assert "ticket T" in error.detail and "tier 1" in error.detail and "fibre" in error.detail
    assert error.candidates == [
        {"engineer_id": "a", "reasons": ["at capacity 5/5"]},
        {"engineer_id": "b", "reasons": ["lacks skill fibre"]},
    ]


def test_no_candidates_at_all_is_refused_too() -> None:
    with pytest.raises(NoEligibleEngineerError) as caught:
        choose([], tier=3, required_skill=None)
    assert caught.value.candidates == []
    assert "0 considered" in caught.value.detail


# ------------------------------------------------------------------ scoring


def test_score_is_availability_times_free_capacity() -> None:
    assert score(cand("a", availability=0.8, open_assignments=2, capacity=5)) == 0.48
    assert score(cand("a", availability=1.0, open_assignments=0, capacity=3)) == 1.0
    assert score(cand("a", availability=0.5, open_assignments=1, capacity=3)) == 0.333


def test_highest_score_wins_and_the_reason_states_the_scoring() -> None:
    pick = choose(
        [cand("busy", open_assignments=4), cand("best", open_assignments=2, availability=0.8),
         cand("shy", availability=0.2), cand("l2", tier=2)],
        tier=1, required_skill="fibre",
    )
    assert pick.engineer_id == "best"
    assert pick.tier == 1 and pick.score == 0.48
    assert pick.qualified == 3 and pick.considered == 4
    assert pick.reason == (
        "auto: skill fibre ✓, tier 1, load 2/5, availability 0.8, score 0.480; "
        "3 of 4 candidates qualified"
    )


def test_without_a_required_skill_the_reason_says_so() -> None:
    pick = choose([cand("a", skills=())], tier=1, required_skill=None)
    assert pick.reason.startswith("auto: no skill required, tier 1, load 0/5")


def test_ties_go_round_robin_least_recently_assigned_then_id() -> None:
    tied = [
        cand("c", last_assigned_at="2024-01-03T00:00:00.000000Z"),
        cand("b", last_assigned_at="2024-01-01T00:00:00.000000Z"),
        cand("a", last_assigned_at="2024-01-02T00:00:00.000000Z"),
    ]
    pick = choose(tied, tier=1, required_skill="fibre")
    assert pick.engineer_id == "b"
    assert "round-robin among 3 tied" in pick.reason
    # Never assigned comes first of all; among those, the smallest id.
    never = [*tied, cand("z"), cand("y")]
    assert choose(never, tier=1, required_skill="fibre").engineer_id == "y"


def test_round_robin_cycles_through_tied_engineers() -> None:
    """Feeding each pick back as "just assigned" visits every tied engineer in turn."""
    roster = {e: cand(e) for e in ("a", "b", "c")}
    picked = []
    for step in range(6):
        pick = choose(list(roster.values()), tier=1, required_skill="fibre")
        picked.append(pick.engineer_id)
        roster[pick.engineer_id] = cand(
            pick.engineer_id, last_assigned_at=f"2024-01-01T00:00:0{step}.000000Z")
    assert picked == ["a", "b", "c", "a", "b", "c"]


@given(st.lists(
    st.tuples(st.integers(0, 5), st.integers(1, 5), st.sampled_from([0.0, 0.25, 0.5, 1.0]),
              st.booleans(), st.one_of(st.none(), st.integers(0, 9))),
    min_size=1, max_size=8,
))
def test_choice_is_deterministic_and_independent_of_order(rows: list[tuple]) -> None:
    candidates = [
        cand(f"e{i}", open_assignments=load, capacity=capacity, availability=availability,
             active=active,
             last_assigned_at=None if last is None else f"2024-01-01T00:00:0{last}.000000Z")
        for i, (load, capacity, availability, active, last) in enumerate(rows)
    ]
    shuffled = candidates[:]
    random.Random(len(rows)).shuffle(shuffled)
    try:
        first = choose(candidates, tier=1, required_skill="fibre")
    except NoEligibleEngineerError as e:
        with pytest.raises(NoEligibleEngineerError) as again:
            choose(shuffled, tier=1, required_skill="fibre")
        assert again.value.candidates == e.candidates
        assert len(e.candidates) == len(candidates)
        return
    assert choose(shuffled, tier=1, required_skill="fibre") == first
    winner = next(c for c in candidates if c.engineer_id == first.engineer_id)
    assert refusals(winner, tier=1, required_skill="fibre", rejected_by=frozenset()) == []
    for c in candidates:
        if not refusals(c, tier=1, required_skill="fibre", rejected_by=frozenset()):
            assert score(c) <= first.score
