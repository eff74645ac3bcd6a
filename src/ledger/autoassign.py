"""Explainable auto-assignment (seed 004's "AI" assignment), as pure functions.

``next_tier`` decides the tier of a ticket's next assignment from its earlier
ones; ``choose`` picks the engineer for it from a roster snapshot. Both take
plain values and never read a clock or a database, so the same inputs always
give the same pick and the same explanation.

Scoring (docs/operations.md, "Auto-assignment"), for auto-assign and
proposals alike:

* hard filters, each failed one named in the refusal: the one qualification
  rule (``ledger.qualification``: active, availability above 0, the ticket's
  required skill, territory and certification valid on the day, tier at least
  the wanted tier), then open assignments below capacity, and not an engineer
  who already rejected this ticket;
* the closest tier first: engineers at the wanted tier, and a higher tier
  only when nobody at a closer one qualifies (a senior is not spent on
  first-line work while a first-line engineer is free);
* ``score = availability x (1 - open / capacity)``, rounded to 3 decimals;
  the highest score wins;
* ties (equal rounded score) go round-robin: the least recently assigned
  engineer first (never assigned = first of all), then the smallest engineer id.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from ledger.errors import NoEligibleEngineerError
from ledger.qualification import EngineerFacts, TicketNeeds, unmet

#: completion_status that asks for the next tier when the ticket is assigned again.
ESCALATING_OUTCOME = "escalated"


@dataclass(frozen=True)
class Candidate:
    """One engineer as the roster (the ``engineers`` read table) shows them."""

    engineer_id: str
    skills: tuple[str, ...]
    tier: int
    capacity: int
    availability: float
    active: bool
    open_assignments: int
    #: When they were last given any assignment (canonical UTC text), or None.
    last_assigned_at: str | None = None
    territories: tuple[str, ...] = ()
    #: certification name -> last valid day (None: no expiry).
    certifications: Mapping[str, date | None] | None = None

    def facts(self) -> EngineerFacts:
        """What the qualification rule reads of this engineer."""
        return EngineerFacts(
            self.engineer_id, self.active, self.availability, self.tier, self.skills,
            self.territories, self.certifications,
        )


@dataclass(frozen=True)
class Previous:
    """An earlier assignment of the ticket: its tier, status and outcome."""

    sequence: int
    tier: int
    status: str
    completion_status: str | None = None


@dataclass(frozen=True)
class Pick:
    """The chosen engineer, the tier, and why."""

    engineer_id: str
    tier: int
    score: float
    reason: str
    qualified: int
    considered: int
    #: The reason's parts, one sentence each (a proposal's ``reasons``).
    reasons: tuple[str, ...] = ()


def next_tier(previous: Iterable[Previous]) -> int:
    """Tier of the next assignment: 1 for a first one; else the tier of the latest
    assignment, plus one when it was completed with ``escalated``."""
    latest = max(previous, key=lambda p: p.sequence, default=None)
    if latest is None:
        return 1
    if latest.completion_status == ESCALATING_OUTCOME:
        return latest.tier + 1
    return latest.tier


def score(candidate: Candidate) -> float:
    """availability x free share of capacity, rounded so near-equal engineers tie."""
    free = 1 - candidate.open_assignments / candidate.capacity if candidate.capacity else 0.0
    return round(max(candidate.availability, 0.0) * max(free, 0.0), 3)


def refusals(
    candidate: Candidate, *, needs: TicketNeeds, on: date, rejected_by: frozenset[str]
) -> list[str]:
    """Why a candidate cannot take the ticket (empty: they may): the
    qualification rule's sentences, then capacity and an earlier rejection."""
    out = unmet(candidate.facts(), needs, on)
    if candidate.open_assignments >= candidate.capacity:
        out.append(f"at capacity {candidate.open_assignments}/{candidate.capacity}")
    if candidate.engineer_id in rejected_by:
        out.append("rejected this ticket before")
    return out


def _round_robin_key(candidate: Candidate) -> tuple[int, str, str]:
    # Never assigned sorts first, then the oldest last assignment, then the id.
    last = candidate.last_assigned_at
    return (0 if last is None else 1, last or "", candidate.engineer_id)


def choose(
    candidates: Sequence[Candidate],
    *,
    needs: TicketNeeds,
    on: date,
    rejected_by: Iterable[str] = (),
    ticket: str = "the ticket",
) -> Pick:
    """The best qualified candidate for ``needs`` on day ``on``, with a reason
    stating the scoring. Raises ``NoEligibleEngineerError`` (with each
    candidate's refusals) when none qualifies."""
    excluded = frozenset(rejected_by)
    qualified: list[Candidate] = []
    refused: list[dict[str, object]] = []
    for c in sorted(candidates, key=lambda c: c.engineer_id):
        reasons = refusals(c, needs=needs, on=on, rejected_by=excluded)
        if reasons:
            refused.append({"engineer_id": c.engineer_id, "reasons": reasons})
        else:
            qualified.append(c)
    skill = needs.required_skill
    skill_text = f"skill {skill}" if skill else "no skill required"
    if not qualified:
        msg = (
            f"No engineer qualifies for {ticket} at tier {needs.tier} ({skill_text}); "
            f"{len(candidates)} considered."
        )
        raise NoEligibleEngineerError(msg, refused)
    closest = min(c.tier for c in qualified)
    at_closest = [c for c in qualified if c.tier == closest]
    best_score = max(score(c) for c in at_closest)
    tied = [c for c in at_closest if score(c) == best_score]
    best = min(tied, key=_round_robin_key)
    parts = [f"skill {skill} ✓" if skill else "no skill required"]
    if needs.territory:
        parts.append(f"territory {needs.territory} ✓")
    if needs.required_certification:
        parts.append(f"certification {needs.required_certification} ✓")
    parts += [
        f"tier {needs.tier}" if closest == needs.tier
        else f"tier {closest} for tier {needs.tier} (none closer qualifies)",
        f"load {best.open_assignments}/{best.capacity}",
        f"availability {best.availability:g}",
        f"score {best_score:.3f}",
    ]
    reasons = [", ".join(parts), f"{len(qualified)} of {len(candidates)} candidates qualified"]
    if len(tied) > 1:
        reasons.append(f"round-robin among {len(tied)} tied (least recently assigned)")
    reason = "auto: " + "; ".join(reasons)
    return Pick(best.engineer_id, needs.tier, best_score, reason, len(qualified),
                len(candidates), tuple(reasons))
