"""Auto-assignment scoring: pure, deterministic, explainable (no database)."""

from __future__ import annotations

import random
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.autoassign import Candidate, Previous, choose, next_tier, refusals, score
from ledger.errors import ConflictError, NoEligibleEngineerError
from ledger.qualification import TicketNeeds

#: The day certifications are judged on, in these tests.
ON = date(2026, 12, 7)


def needs(tier: int = 1, skill: str | None = "fibre", **kw: str) -> TicketNeeds:
    return TicketNeeds(tier=tier, required_skill=skill, **kw)


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


def test_each_hard_filter_is_named_by_the_qualification_rule_then_load() -> None:
    c = cand("x", active=False, tier=1, skills=("copper",), availability=0.0,
             open_assignments=5, capacity=5, territories=("north",),
             certifications={"splicing": date(2026, 10, 31)})
    wanted = needs(2, "fibre", territory="south", required_certification="splicing")
    assert refusals(c, needs=wanted, on=ON, rejected_by=frozenset({"x"})) == [
        "is inactive", "has no availability (0)", "does not have skill fibre",
        "does not cover territory south", "certification splicing expired on 2026-10-31",
        "is tier 1; the ticket needs tier 2", "at capacity 5/5", "rejected this ticket before",
    ]
    # A higher tier qualifies; no territory on either side asks nothing.
    assert refusals(cand("s", tier=3), needs=needs(2), on=ON, rejected_by=frozenset()) == []
    assert refusals(cand("y"), needs=needs(1, "fibre"), on=ON, rejected_by=frozenset()) == []
    assert refusals(cand("z", skills=()), needs=needs(1, None), on=ON,
                    rejected_by=frozenset()) == []


def test_nobody_qualifies_lists_every_candidate_with_reasons() -> None:
    with pytest.raises(NoEligibleEngineerError) as caught:
        choose([cand("b", skills=("copper",)), cand("a", open_assignments=5)],
               needs=needs(1, "fibre"), on=ON, ticket="ticket T")
    error = caught.value
    assert isinstance(error, ConflictError)  # answered 409
    assert "ticket T" in error.detail and "tier 1" in error.detail and "fibre" in error.detail
    assert error.candidates == [
        {"engineer_id": "a", "reasons": ["at capacity 5/5"]},
        {"engineer_id": "b", "reasons": ["does not have skill fibre"]},
    ]


def test_no_candidates_at_all_is_refused_too() -> None:
    with pytest.raises(NoEligibleEngineerError) as caught:
        choose([], needs=needs(3, None), on=ON)
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
        needs=needs(1, "fibre"), on=ON,
    )
    assert pick.engineer_id == "best"
    assert pick.tier == 1 and pick.score == 0.48
    assert pick.qualified == 4 and pick.considered == 4  # "l2" qualifies, but is not closest
    assert pick.reason == (
        "auto: skill fibre ✓, tier 1, load 2/5, availability 0.8, score 0.480; "
        "4 of 4 candidates qualified"
    )


def test_the_closest_tier_goes_first_and_a_senior_only_when_nobody_closer_qualifies() -> None:
    junior = cand("junior", open_assignments=4)
    senior = cand("senior", tier=2)
    assert choose([senior, junior], needs=needs(1), on=ON).engineer_id == "junior"
    pick = choose([senior, cand("junior", open_assignments=5)], needs=needs(1), on=ON)
    assert pick.engineer_id == "senior"
    assert "tier 2 for tier 1 (none closer qualifies)" in pick.reason


def test_territory_and_certification_are_stated_in_the_reason() -> None:
    ok = cand("a", territories=("north",), certifications={"splicing": None})
    expired = cand("b", territories=("north",), certifications={"splicing": date(2026, 12, 6)})
    pick = choose([ok, expired], on=ON,
                  needs=needs(1, "fibre", territory="north", required_certification="splicing"))
    assert pick.engineer_id == "a"
    assert pick.reason.startswith(
        "auto: skill fibre ✓, territory north ✓, certification splicing ✓, tier 1")


def test_without_a_required_skill_the_reason_says_so() -> None:
    pick = choose([cand("a", skills=())], needs=needs(1, None), on=ON)
    assert pick.reason.startswith("auto: no skill required, tier 1, load 0/5")


def test_ties_go_round_robin_least_recently_assigned_then_id() -> None:
    tied = [
        cand("c", last_assigned_at="2024-01-03T00:00:00.000000Z"),
        cand("b", last_assigned_at="2024-01-01T00:00:00.000000Z"),
        cand("a", last_assigned_at="2024-01-02T00:00:00.000000Z"),
    ]
    pick = choose(tied, needs=needs(1, "fibre"), on=ON)
    assert pick.engineer_id == "b"
    assert "round-robin among 3 tied" in pick.reason
    # Never assigned comes first of all; among those, the smallest id.
    never = [*tied, cand("z"), cand("y")]
    assert choose(never, needs=needs(1, "fibre"), on=ON).engineer_id == "y"


def test_round_robin_cycles_through_tied_engineers() -> None:
    """Feeding each pick back as "just assigned" visits every tied engineer in turn."""
    roster = {e: cand(e) for e in ("a", "b", "c")}
    picked = []
    for step in range(6):
        pick = choose(list(roster.values()), needs=needs(1, "fibre"), on=ON)
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
        first = choose(candidates, needs=needs(1, "fibre"), on=ON)
    except NoEligibleEngineerError as e:
        with pytest.raises(NoEligibleEngineerError) as again:
            choose(shuffled, needs=needs(1, "fibre"), on=ON)
        assert again.value.candidates == e.candidates
        assert len(e.candidates) == len(candidates)
        return
    assert choose(shuffled, needs=needs(1, "fibre"), on=ON) == first
    winner = next(c for c in candidates if c.engineer_id == first.engineer_id)
    assert refusals(winner, needs=needs(1, "fibre"), on=ON, rejected_by=frozenset()) == []
    for c in candidates:
        if not refusals(c, needs=needs(1, "fibre"), on=ON, rejected_by=frozenset()):
            assert score(c) <= first.score
