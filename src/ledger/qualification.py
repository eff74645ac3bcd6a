"""The one qualification rule (contract, "Qualifications and coverage"): whether
an engineer qualifies for a ticket at a tier on a day, and if not, why.

An engineer qualifies for a ticket at tier T on day D when they are active;
their availability is above 0; they have the ticket's ``required_skill`` (if
any); they cover its ``territory`` (if both have one: an engineer without
territories works anywhere, a ticket without one is anywhere); they hold its
``required_certification`` valid on D (``expires_on`` null or on/after D); and
their tier is T or more.

``unmet`` is pure: it reads the two plain descriptions below, never a clock or
a database, so the manual commands' check, auto-assign, proposals and the
coverage queries' tests all judge by the same sentences. Each sentence says one
unmet requirement the way a dispatcher would ("certification fibre-splicing
expired on 2026-10-31"); an empty list means the engineer qualifies.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from ledger.errors import EngineerNotQualifiedError


@dataclass(frozen=True)
class EngineerFacts:
    """What the rule needs of an engineer (from the Engineer aggregate or a row)."""

    engineer_id: str
    active: bool
    availability: float
    tier: int
    skills: tuple[str, ...] = ()
    territories: tuple[str, ...] = ()
    #: certification name -> last valid day (None: no expiry)
    certifications: Mapping[str, date | None] | None = None

    @classmethod
    def of(cls, engineer: Any) -> EngineerFacts:
        """From anything with the engineer's attributes or keys (the aggregate,
        a read row): ``certifications`` as ``[{name, expires_on}]`` with ISO text
        or dates."""
        get = engineer.get if isinstance(engineer, Mapping) else (
            lambda name, default=None: getattr(engineer, name, default))
        return cls(
            engineer_id=get("engineer_id") or get("id"),
            active=bool(get("active", True)),
            availability=float(get("availability", 1.0)),
            tier=int(get("tier", 1)),
            skills=tuple(get("skills") or ()),
            territories=tuple(get("territories") or ()),
            certifications=certification_days(get("certifications") or ()),
        )


@dataclass(frozen=True)
class TicketNeeds:
    """What a ticket asks of its engineer, and the tier it is to be worked at."""

    tier: int = 1
    required_skill: str | None = None
    territory: str | None = None
    required_certification: str | None = None

    @classmethod
    def of(cls, ticket: Any, tier: int) -> TicketNeeds:
        """From the Ticket aggregate or a tickets row (older tickets lack the
        issue-21 fields: they ask nothing of them)."""
        get = ticket.get if isinstance(ticket, Mapping) else (
            lambda name, default=None: getattr(ticket, name, default))
        return cls(
            tier=tier,
            required_skill=get("required_skill"),
            territory=get("territory"),
            required_certification=get("required_certification"),
        )


def certification_days(certifications: Iterable[Mapping[str, Any]]) -> dict[str, date | None]:
    """``[{name, expires_on}]`` (ISO text, a date or None) as name -> last valid day."""
    days: dict[str, date | None] = {}
    for certification in certifications:
        expires = certification.get("expires_on")
        days[certification["name"]] = (
            date.fromisoformat(expires) if isinstance(expires, str) else expires
        )
    return days


def unmet(engineer: EngineerFacts, needs: TicketNeeds, on: date) -> list[str]:
    """Every requirement ``engineer`` does not meet for ``needs`` on day ``on``,
    each as a sentence; empty when the engineer qualifies."""
    reasons = []
    if not engineer.active:
        reasons.append("is inactive")
    if engineer.availability <= 0:
        reasons.append("has no availability (0)")
    if needs.required_skill is not None and needs.required_skill not in engineer.skills:
        reasons.append(f"does not have skill {needs.required_skill}")
    if (
        needs.territory is not None
        and engineer.territories
        and needs.territory not in engineer.territories
    ):
        reasons.append(f"does not cover territory {needs.territory}")
    wanted = needs.required_certification
    if wanted is not None:
        held = engineer.certifications or {}
        if wanted not in held:
            reasons.append(f"does not hold certification {wanted}")
        else:
            expires = held[wanted]
            if expires is not None and expires < on:
                reasons.append(f"certification {wanted} expired on {expires.isoformat()}")
    if engineer.tier < needs.tier:
        reasons.append(f"is tier {engineer.tier}; the ticket needs tier {needs.tier}")
    return reasons


def qualifies(engineer: EngineerFacts, needs: TicketNeeds, on: date) -> bool:
    return not unmet(engineer, needs, on)


#: ``LEDGER_QUALIFICATION_POLICY``: record the unmet requirements as warnings,
#: or refuse unless an override reason is given.
WARN, ENFORCE = "warn", "enforce"
POLICIES = (WARN, ENFORCE)


@dataclass(frozen=True)
class QualificationCheck:
    """A manual command's check of the engineer it names: the engineer's facts,
    the policy, the day judged on and the caller's override reason."""

    engineer: EngineerFacts
    on: date
    policy: str = WARN
    override_reason: str | None = None

    def judge(self, needs: TicketNeeds) -> dict[str, Any]:
        """The event field that records the check: ``qualification_warnings``,
        the unmet requirements (empty when the engineer qualifies). Under
        ``enforce``, an engineer who does not qualify is refused unless
        overridden (the command's ``override_reason``, an event field of its
        own, recorded under both policies)."""
        reasons = unmet(self.engineer, needs, self.on)
        if reasons and self.policy == ENFORCE and not self.override_reason:
            msg = (
                f"Engineer {self.engineer.engineer_id!r} does not qualify for this ticket at "
                f"tier {needs.tier}: {'; '.join(reasons)}. Give an override_reason to "
                "assign anyway."
            )
            raise EngineerNotQualifiedError(msg, reasons)
        return {"qualification_warnings": reasons}
