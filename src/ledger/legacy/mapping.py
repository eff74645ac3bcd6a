"""Legacy rows -> what the ledger records for them (pure: no I/O, no ledger).

Two legacy shapes are understood:

- seed 002's ``service_tickets`` table, which keeps the current assignment inline
  (``assigned_engineer_id``, ``assignment_tier``, ``assigned_at``, ``started_at``,
  ``resolved_at`` ...);
- seed 004's CSV files (``tickets``: ``id, title, description, story_points,
  required_skill, priority, due_date, status, assigned_to``; ``developers``: ``name,
  title, experience_years, current_workload, availability, skills, capacity``).

A legacy row becomes a ``TicketPlan`` (the ticket's fields and the ordered steps its
status and timestamps imply, each step one ledger command) or raises
``LegacyRowError`` with the reason; a developer becomes an ``EngineerSpec``. A
``service_tickets`` id that is a UUID is kept as the ticket's id, so other systems'
references to it still hold; any other id is name-based (uuid5). Either way a second
import finds what the first one recorded.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any
from uuid import UUID

from ledger.domain import PRIORITIES
from ledger.keys import PRINCIPAL_NAME
from ledger.legacy.ids import (
    legacy_assignment_id,
    legacy_ticket_id,
    name_based_ticket_id,
)

#: The ``via`` marker every imported event carries.
IMPORT_VIA = "import"

PRIORITY_ALIASES = {
    "lowest": "low",
    "minor": "low",
    "normal": "medium",
    "moderate": "medium",
    "med": "medium",
    "major": "high",
    "urgent": "critical",
    "highest": "critical",
    "blocker": "critical",
    "p1": "critical",
    "p2": "high",
    "p3": "medium",
    "p4": "low",
}

#: Step kinds, in the only order they can happen, and the event each records.
STEP_EVENTS = {
    "open": "Opened",
    "assign": "Assigned",
    "accept": "Accepted",
    "start": "Started",
    "reject": "Rejected",
    "complete": "Completed",
    "close": "Closed",
}

MAX_TITLE = 200


class LegacyRowError(ValueError):
    """Raised when a legacy row cannot be mapped onto the ledger; the message is why."""


@dataclass(frozen=True)
class EngineerSpec:
    """An engineer as a legacy source describes them."""

    engineer_id: str
    name: str
    skills: tuple[str, ...] = ()
    tier: int = 1
    capacity: int = 1
    availability: float = 1.0

    def as_changes(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "skills": list(self.skills),
            "tier": self.tier,
            "capacity": self.capacity,
            "availability": self.availability,
        }


@dataclass(frozen=True)
class TicketPlan:
    """What one legacy row becomes: a ticket, at most one assignment, and its steps."""

    source: str
    legacy_id: str
    title: str
    description: str | None = None
    priority: str = "medium"
    required_skill: str | None = None
    equipment_id: str | None = None
    engineer: EngineerSpec | None = None
    tier: int = 1
    tier_name: str | None = None
    steps: tuple[tuple[str, datetime | None], ...] = ()
    warnings: tuple[str, ...] = field(default=())

    @property
    def ticket_id(self) -> UUID:
        return legacy_ticket_id(self.source, self.legacy_id)

    @property
    def assignment_id(self) -> UUID:
        return legacy_assignment_id(self.ticket_id)

    @property
    def earlier_ticket_ids(self) -> tuple[UUID, ...]:
        """Ids an earlier import may have given this ticket: the name-based id of a
        UUID legacy id (imports before ids were kept), so a re-run finds it there."""
        name_based = name_based_ticket_id(self.source, self.legacy_id)
        return () if name_based == self.ticket_id else (name_based,)

    @property
    def outcome(self) -> str | None:
        """Where the assignment ends up: ``active``, ``completed``, ``rejected``, or
        None without one (what the reconciliation expects)."""
        kinds = {kind for kind, _ in self.steps}
        if "assign" not in kinds:
            return None
        if "complete" in kinds:
            return "completed"
        if "reject" in kinds:
            return "rejected"
        return "active"

    def expected_events(self) -> list[tuple[str, str | None]]:
        """(event type, engineer id of an ``Assigned``) per step."""
        return [
            (STEP_EVENTS[kind], self.engineer.engineer_id if kind == "assign" and self.engineer
             else None)
            for kind, _ in self.steps
        ]


# ---------------------------------------------------------------- values


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def parse_timestamp(value: Any, column: str) -> datetime | None:
    """A legacy time as an aware UTC datetime. Naive values are taken as UTC; a date
    is its midnight; text must be ISO 8601."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time())
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise LegacyRowError(f"{column} {value!r} is not an ISO 8601 time") from None
    else:
        raise LegacyRowError(f"{column} {value!r} is not a time")
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def normalise_priority(value: Any) -> tuple[str, str | None]:
    """(priority, warning): unknown or missing priorities become ``medium``."""
    text = _text(value)
    if text is None:
        return "medium", None
    key = text.lower()
    if key in PRIORITIES:
        return key, None
    if key in PRIORITY_ALIASES:
        return PRIORITY_ALIASES[key], None
    return "medium", f"priority {text!r} is unknown; recorded as medium"


def _tier(value: Any) -> int:
    if value is None or (isinstance(value, str) and not value.strip()):
        return 1
    try:
        tier = int(str(value).strip())
    except ValueError:
        raise LegacyRowError(f"assignment_tier {value!r} is not a number") from None
    if not 1 <= tier <= 10:
        raise LegacyRowError(f"assignment_tier {tier} is outside 1-10")
    return tier


def _check_engineer_id(engineer_id: str, column: str) -> str:
    if not PRINCIPAL_NAME.match(engineer_id):
        raise LegacyRowError(
            f"{column} {engineer_id!r} is not a valid engineer id "
            "(letters, digits, '._@-', at most 64)"
        )
    return engineer_id


def _title(value: Any, fallback: str, warnings: list[str]) -> str:
    title = _text(value) or fallback
    if len(title) > MAX_TITLE:
        warnings.append(f"title cut to {MAX_TITLE} characters")
        title = title[:MAX_TITLE]
    return title


def _ordered(*moments: tuple[str, datetime | None]) -> None:
    known = [(name, m) for name, m in moments if m is not None]
    for (a, ma), (b, mb) in zip(known, known[1:], strict=False):
        if mb < ma:
            raise LegacyRowError(f"{b} ({mb.isoformat()}) is before {a} ({ma.isoformat()})")


# ---------------------------------------------------------------- seed 002


SERVICE_STATUSES = ("open", "new", "pending", "assigned", "in_progress", "resolved", "closed")


def plan_service_ticket(row: Mapping[str, Any]) -> TicketPlan:
    """One ``service_tickets`` row -> its plan (seed 002, step 3 of the migration).

    With an assignee the ticket gets assignment 1 at the row's tier, assigned at
    ``assigned_at``: ``assigned`` (or ``open``) stays assigned; ``in_progress`` is
    accepted at ``assigned_at`` ("assume immediate acceptance for old data") and
    started at ``started_at``; ``resolved`` and ``closed`` are accepted, started
    (if ``started_at`` is known) and completed with ``success`` at ``resolved_at``,
    and ``closed`` is closed at ``updated_at``. Without an assignee only ``open``
    and ``closed`` make sense."""
    legacy_id = _text(row.get("id"))
    if legacy_id is None:
        raise LegacyRowError("id is empty")
    warnings: list[str] = []
    status = (_text(row.get("status")) or "open").lower().replace(" ", "_").replace("-", "_")
    if status not in SERVICE_STATUSES:
        raise LegacyRowError(f"status {row.get('status')!r} is unknown "
                             f"(known: {', '.join(SERVICE_STATUSES)})")
    created = parse_timestamp(row.get("created_at"), "created_at")
    updated = parse_timestamp(row.get("updated_at"), "updated_at")
    assigned = parse_timestamp(row.get("assigned_at"), "assigned_at")
    started = parse_timestamp(row.get("started_at"), "started_at")
    resolved = parse_timestamp(row.get("resolved_at"), "resolved_at")
    if created is None:
        raise LegacyRowError("created_at is empty")
    priority, warning = normalise_priority(row.get("priority"))
    if warning:
        warnings.append(warning)
    engineer_id = _text(row.get("assigned_engineer_id"))
    steps: list[tuple[str, datetime | None]] = [("open", created)]
    engineer = None
    tier = 1
    tier_name = None
    if engineer_id is None:
        if status in ("assigned", "in_progress", "resolved"):
            raise LegacyRowError(f"status is {status} but assigned_engineer_id is empty")
        if status == "closed":
            steps.append(("close", updated or created))
            _ordered(("created_at", created), ("updated_at", updated))
    else:
        _check_engineer_id(engineer_id, "assigned_engineer_id")
        engineer = EngineerSpec(
            engineer_id, _text(row.get("assigned_engineer_name")) or engineer_id
        )
        tier = _tier(row.get("assignment_tier"))
        tier_name = _text(row.get("assignment_tier_name"))
        if assigned is None:
            warnings.append("assigned_at is empty; assigned at created_at")
            assigned = created
        steps.append(("assign", assigned))
        if status in ("in_progress", "resolved", "closed"):
            steps.append(("accept", assigned))
            if started is not None or status == "in_progress":
                steps.append(("start", started or assigned))
        if status in ("resolved", "closed"):
            if resolved is None:
                raise LegacyRowError(f"status is {status} but resolved_at is empty")
            steps.append(("complete", resolved))
        if status == "closed":
            steps.append(("close", max(updated or resolved, resolved)))  # type: ignore[type-var]
        _ordered(("created_at", created), ("assigned_at", assigned),
                 ("started_at", started if status != "assigned" else None),
                 ("resolved_at", resolved if status in ("resolved", "closed") else None))
    return TicketPlan(
        source="service_tickets",
        legacy_id=legacy_id,
        title=_title(row.get("title"), f"Legacy ticket {legacy_id}", warnings),
        description=_text(row.get("description")),
        priority=priority,
        required_skill=_text(row.get("required_skill")),
        equipment_id=_text(row.get("equipment_id")),
        engineer=engineer,
        tier=tier,
        tier_name=tier_name,
        steps=tuple(steps),
        warnings=tuple(warnings),
    )


# ---------------------------------------------------------------- seed 004


def engineer_slug(name: str) -> str:
    """A developer's name as an engineer id: ``"Zoë O'Brien"`` -> ``zoe.o.brien``."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", ".", ascii_name.lower()).strip(".")
    return slug[:64].rstrip(".")


def _number(value: Any, column: str) -> float | None:
    text = _text(value)
    if text is None:
        return None
    percent = text.endswith("%")
    try:
        number = float(text.rstrip("%").strip())
    except ValueError:
        raise LegacyRowError(f"{column} {text!r} is not a number") from None
    return number / 100 if percent else number


def _tier_of_title(title: str | None) -> int:
    text = (title or "").lower()
    if any(word in text for word in ("principal", "staff", "architect", "lead", "head")):
        return 3
    if "senior" in text or re.search(r"\bsr\b", text):
        return 2
    return 1


def split_skills(value: Any) -> tuple[str, ...]:
    """seed 004's ``skills TEXT``: comma- or semicolon-separated, blanks dropped,
    duplicates (ignoring case) dropped."""
    seen: dict[str, str] = {}
    for part in re.split(r"[,;|]", _text(value) or ""):
        skill = part.strip()
        if skill and skill.lower() not in seen:
            seen[skill.lower()] = skill
    return tuple(seen.values())


def developer_from_csv(row: Mapping[str, Any]) -> EngineerSpec:
    """One developers.csv row -> an engineer. ``name`` -> id (its slug) and name;
    ``skills`` -> skills; ``capacity`` -> capacity (rounded, 1-1000);
    ``availability`` -> availability (0-1, or a percentage); ``title`` -> tier
    (principal/staff/architect/lead 3, senior 2, else 1). ``experience_years`` and
    ``current_workload`` are not recorded: the ledger counts open assignments itself."""
    name = _text(row.get("name"))
    if name is None:
        raise LegacyRowError("name is empty")
    engineer_id = engineer_slug(name)
    if not engineer_id:
        raise LegacyRowError(f"name {name!r} has no letters or digits to make an id from")
    _check_engineer_id(engineer_id, "name")
    capacity = _number(row.get("capacity"), "capacity")
    capacity_int = 1 if capacity is None else round(capacity)
    if not 1 <= capacity_int <= 1000:
        raise LegacyRowError(f"capacity {row.get('capacity')!r} is outside 1-1000")
    availability = _number(row.get("availability"), "availability")
    availability = 1.0 if availability is None else availability
    if not 0.0 <= availability <= 1.0:
        raise LegacyRowError(f"availability {row.get('availability')!r} is outside 0-1")
    return EngineerSpec(
        engineer_id=engineer_id,
        name=name,
        skills=split_skills(row.get("skills")),
        tier=_tier_of_title(_text(row.get("title"))),
        capacity=capacity_int,
        availability=availability,
    )


CSV_STATUSES = {
    "pending": "open",
    "open": "open",
    "new": "open",
    "assigned": "assigned",
    "in_progress": "in_progress",
    "completed": "completed",
    "resolved": "completed",
    "done": "completed",
    "closed": "closed",
    "rejected": "rejected",
}


def plan_csv_ticket(
    row: Mapping[str, Any], find_engineer: Callable[[str], EngineerSpec | None]
) -> TicketPlan:
    """One tickets.csv row -> its plan. seed 004's CSVs carry no times, so steps have
    none (the events get the import's time). ``assigned_to`` names a developer (by
    name or id, via ``find_engineer``); with one, the ticket gets assignment 1 at that
    developer's tier: ``pending``/``assigned`` stay assigned, ``in_progress`` is
    accepted and started, ``completed`` is accepted and completed, ``closed`` also
    closes, ``rejected`` is rejected (the ticket is open again). ``story_points``
    and ``due_date`` have no place in the ledger and are not recorded."""
    legacy_id = _text(row.get("id"))
    if legacy_id is None:
        raise LegacyRowError("id is empty")
    raw_status = (_text(row.get("status")) or "pending").lower().replace(" ", "_")
    status = CSV_STATUSES.get(raw_status)
    if status is None:
        raise LegacyRowError(f"status {row.get('status')!r} is unknown "
                             f"(known: {', '.join(CSV_STATUSES)})")
    title = _text(row.get("title"))
    if title is None:
        raise LegacyRowError("title is empty")
    warnings: list[str] = []
    priority, warning = normalise_priority(row.get("priority"))
    if warning:
        warnings.append(warning)
    assignee = _text(row.get("assigned_to"))
    engineer = None
    steps: list[tuple[str, datetime | None]] = [("open", None)]
    if assignee is None:
        if status in ("assigned", "in_progress", "completed", "rejected"):
            raise LegacyRowError(f"status is {raw_status} but assigned_to is empty")
        if status == "closed":
            steps.append(("close", None))
    else:
        engineer = find_engineer(assignee)
        if engineer is None:
            raise LegacyRowError(f"assigned_to {assignee!r} is not a known developer")
        steps.append(("assign", None))
        follow = {
            "in_progress": ("accept", "start"),
            "completed": ("accept", "complete"),
            "closed": ("accept", "complete", "close"),
            "rejected": ("reject",),
        }.get(status, ())
        steps.extend((kind, None) for kind in follow)
    return TicketPlan(
        source="csv",
        legacy_id=legacy_id,
        title=_title(title, title, warnings),
        description=_text(row.get("description")),
        priority=priority,
        required_skill=_text(row.get("required_skill")),
        engineer=engineer,
        tier=engineer.tier if engineer else 1,
        steps=tuple(steps),
        warnings=tuple(warnings),
    )
