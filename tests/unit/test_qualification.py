"""The qualification rule (ledger.qualification), table-driven: each
requirement's pass and fail, the certification's boundary days, and every unmet
requirement reported at once, as the sentences a dispatcher reads."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from ledger.qualification import EngineerFacts, TicketNeeds, qualifies, unmet

DAY = date(2026, 10, 31)
ABLE = EngineerFacts(
    engineer_id="aisha.k", active=True, availability=1.0, tier=2, skills=("fibre", "ont"),
    territories=("north", "harbour"),
    certifications={"fibre-splicing": DAY, "working-at-height": None},
)
ASKS_ALL = TicketNeeds(tier=2, required_skill="fibre", territory="north",
                       required_certification="fibre-splicing")

CASES = [
    # (what, engineer, needs, day, unmet sentences)
    ("meets everything", ABLE, ASKS_ALL, DAY, []),
    ("a ticket asking nothing", ABLE, TicketNeeds(), DAY, []),
    ("inactive", replace(ABLE, active=False), TicketNeeds(), DAY, ["is inactive"]),
    ("no availability", replace(ABLE, availability=0.0), TicketNeeds(), DAY,
     ["has no availability (0)"]),
    ("a sliver of availability", replace(ABLE, availability=0.01), TicketNeeds(), DAY, []),
    ("skill held", ABLE, TicketNeeds(required_skill="ont"), DAY, []),
    ("skill missing", ABLE, TicketNeeds(required_skill="copper"), DAY,
     ["does not have skill copper"]),
    ("territory covered", ABLE, TicketNeeds(territory="harbour"), DAY, []),
    ("territory not covered", ABLE, TicketNeeds(territory="south"), DAY,
     ["does not cover territory south"]),
    ("engineer works anywhere", replace(ABLE, territories=()),
     TicketNeeds(territory="south"), DAY, []),
    ("ticket without territory", ABLE, TicketNeeds(territory=None), DAY, []),
    ("certification valid on its last day", ABLE,
     TicketNeeds(required_certification="fibre-splicing"), DAY, []),
    ("certification valid before its last day", ABLE,
     TicketNeeds(required_certification="fibre-splicing"), date(2026, 1, 1), []),
    ("certification expired the day before", ABLE,
     TicketNeeds(required_certification="fibre-splicing"), date(2026, 11, 1),
     ["certification fibre-splicing expired on 2026-10-31"]),
    ("certification without expiry", ABLE,
     TicketNeeds(required_certification="working-at-height"), date(2099, 1, 1), []),
    ("certification not held", ABLE, TicketNeeds(required_certification="confined-space"),
     DAY, ["does not hold certification confined-space"]),
    ("no certifications at all", replace(ABLE, certifications=None),
     TicketNeeds(required_certification="fibre-splicing"), DAY,
     ["does not hold certification fibre-splicing"]),
    ("tier above", ABLE, TicketNeeds(tier=1), DAY, []),
    ("tier equal", ABLE, TicketNeeds(tier=2), DAY, []),
    ("tier below", ABLE, TicketNeeds(tier=3), DAY, ["is tier 2; the ticket needs tier 3"]),
    ("everything unmet, in the rule's order",
     replace(ABLE, active=False, availability=0, tier=1, skills=(), territories=("east",),
             certifications={"fibre-splicing": date(2026, 1, 31)}),
     ASKS_ALL, DAY,
     ["is inactive", "has no availability (0)", "does not have skill fibre",
      "does not cover territory north", "certification fibre-splicing expired on 2026-01-31",
      "is tier 1; the ticket needs tier 2"]),
]


@pytest.mark.parametrize(("engineer", "needs", "day", "expected"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_the_rule(engineer, needs, day, expected):
    assert unmet(engineer, needs, day) == expected
    assert qualifies(engineer, needs, day) is (expected == [])


def test_facts_from_a_row_and_from_an_aggregate_like_object():
    row = {"id": "aisha.k", "active": True, "availability": 0.5, "tier": 2,
           "skills": ["fibre"], "territories": ["north"],
           "certifications": [{"name": "fibre-splicing", "expires_on": "2026-10-31"},
                              {"name": "first-aid", "expires_on": None}]}
    facts = EngineerFacts.of(row)
    assert facts.engineer_id == "aisha.k"
    assert facts.certifications == {"fibre-splicing": DAY, "first-aid": None}

    class Aggregate:
        engineer_id, active, availability, tier = "aisha.k", True, 0.5, 2
        skills, territories = ["fibre"], ["north"]
        certifications = row["certifications"]

    assert EngineerFacts.of(Aggregate()) == facts


def test_needs_of_a_ticket_opened_before_issue_21_ask_nothing_new():
    class OldTicket:
        required_skill = "fibre"

    assert TicketNeeds.of(OldTicket(), 1) == TicketNeeds(tier=1, required_skill="fibre")
    assert TicketNeeds.of({"territory": "north"}, 2) == TicketNeeds(tier=2, territory="north")
