"""The repeat-fault policy's decisions: which tickets raise a repeat fault at a
place, and which join one. Pure: it follows the events it is shown, in the
log's order, and says what to record; ``projections.repeat_policy_runner``
shows it the log and records its decisions through the ``Ledger``.

Every decision is a function of the log up to the event being decided, never of
the clock or of what was recorded after it, so two processes (or one that
restarts and decides again) reach the same decisions, with the same fault ids
(``ledger.repeat_fault.repeat_fault_id``): the event store keeps one of each.

The rules, per place (a scope and its value, e.g. ``pole`` ``P-1042``):

* a ticket opened there with no unresolved fault counts; when the tickets that
  count, opened within the window before it (by the events' own times), reach
  the scope's threshold, they raise the place's next fault;
* a ticket opened there while a fault is unresolved joins it (window or not);
* a fault's resolution ends it: later tickets count afresh.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from ledger.repeat_fault import SCOPES, RepeatFault, repeat_fault_id
from ledger.ticket import Ticket

DEFAULT_WINDOW_DAYS = 30.0
DEFAULT_THRESHOLDS = "pole=3,pon=5,zone=10,dr=3"


def parse_thresholds(text: str) -> dict[str, int]:
    """``pole=3,pon=5`` -> ``{"pole": 3, "pon": 5, "zone": 10, "dr": 3}``: the
    scopes named replace the defaults; a threshold is at least 2 (one ticket is
    not a repeat)."""
    thresholds = dict(_DEFAULTS)
    for part in filter(None, (p.strip() for p in text.split(","))):
        scope, sep, number = part.partition("=")
        scope = scope.strip()
        if not sep or scope not in SCOPES:
            msg = f"{part!r}: expected scope=number with a scope of {', '.join(SCOPES)}"
            raise ValueError(msg)
        try:
            value = int(number)
        except ValueError:
            msg = f"{part!r}: the threshold must be a whole number"
            raise ValueError(msg) from None
        if value < 2:
            msg = f"{part!r}: a threshold is at least 2"
            raise ValueError(msg)
        thresholds[scope] = value
    return thresholds


_DEFAULTS = {"pole": 3, "pon": 5, "zone": 10, "dr": 3}


@dataclass(frozen=True)
class RaiseFault:
    """Record the place's ``episode``-th fault with these tickets (oldest first)."""

    scope: str
    value: str
    episode: int
    tickets: tuple[tuple[UUID, datetime], ...]

    @property
    def fault_id(self) -> UUID:
        return repeat_fault_id(self.scope, self.value, self.episode)


@dataclass(frozen=True)
class JoinFault:
    """Add the ticket to the place's unresolved fault."""

    fault_id: UUID
    scope: str
    value: str
    ticket_id: UUID
    opened_at: datetime


Decision = RaiseFault | JoinFault


@dataclass
class _Place:
    #: Tickets that count toward the next fault: (opened at, ticket id).
    counting: list[tuple[datetime, UUID]] = field(default_factory=list)
    #: Faults raised here so far.
    episodes: int = 0
    #: The unresolved fault, if any.
    open_fault: UUID | None = None


class RepeatPolicy:
    """The policy's state: what it has seen of the log, per place."""

    #: The events it follows (their stored topics are what the runner selects).
    FOLLOWS: tuple[type, ...] = (Ticket.Opened, RepeatFault.Raised, RepeatFault.Resolved)

    def __init__(self, *, window: timedelta, thresholds: dict[str, int]) -> None:
        self.window = window
        self.thresholds = thresholds
        self._places: dict[tuple[str, str], _Place] = {}
        self._place_of: dict[UUID, tuple[str, str]] = {}

    @property
    def settings_key(self) -> str:
        """The settings its state depends on: a state kept under other settings
        is not this policy's (the log must be replayed)."""
        thresholds = ",".join(f"{k}={v}" for k, v in sorted(self.thresholds.items()))
        return f"v1;window={self.window.total_seconds()};{thresholds}"

    def snapshot(self) -> dict[str, Any]:
        """Its state as JSON-ready data; ``restore`` makes a policy that decides
        from here exactly as this one would. Places with nothing to remember
        (no fault, no ticket counting) are left out: they start empty anyway."""
        return {
            "places": [
                [scope, value, place.episodes,
                 str(place.open_fault) if place.open_fault else None,
                 [[at.isoformat(), str(t)] for at, t in place.counting]]
                for (scope, value), place in self._places.items()
                if place.episodes or place.open_fault or place.counting
            ],
            "faults": [[str(f), scope, value] for f, (scope, value) in self._place_of.items()],
        }

    @classmethod
    def restore(
        cls, data: dict[str, Any], *, window: timedelta, thresholds: dict[str, int]
    ) -> RepeatPolicy:
        policy = cls(window=window, thresholds=thresholds)
        for scope, value, episodes, open_fault, counting in data["places"]:
            policy._places[scope, value] = _Place(
                counting=[(datetime.fromisoformat(at), UUID(t)) for at, t in counting],
                episodes=episodes,
                open_fault=UUID(open_fault) if open_fault else None,
            )
        for fault_id, scope, value in data["faults"]:
            policy._place_of[UUID(fault_id)] = (scope, value)
        return policy

    def observe(self, event: Any) -> list[Decision]:
        """The decisions ``event`` calls for (none for most), the state moved past it."""
        if isinstance(event, Ticket.Opened):
            return self._opened(event)
        if isinstance(event, RepeatFault.Raised):
            self._raised(event)
        elif isinstance(event, RepeatFault.Resolved):
            place = self._place_of.get(event.originator_id)
            if place is not None and self._places[place].open_fault == event.originator_id:
                self._places[place].open_fault = None
        return []

    def _opened(self, event: Any) -> list[Decision]:
        location = getattr(event, "location", None) or {}
        decisions: list[Decision] = []
        for scope in SCOPES:
            value = location.get(scope)
            if not value:
                continue
            place = self._places.setdefault((scope, value), _Place())
            if place.open_fault is not None:
                decisions.append(JoinFault(place.open_fault, scope, value, event.originator_id,
                                           event.timestamp))
                continue
            since = event.timestamp - self.window
            place.counting = [(at, t) for at, t in place.counting if at > since]
            place.counting.append((event.timestamp, event.originator_id))
            if len(place.counting) >= self.thresholds[scope]:
                place.episodes += 1
                tickets = tuple((t, at) for at, t in sorted(place.counting,
                                                            key=lambda c: c[0]))
                decision = RaiseFault(scope, value, place.episodes, tickets)
                self._remember(decision.fault_id, scope, value, place)
                place.counting = []
                decisions.append(decision)
        return decisions

    def _raised(self, event: Any) -> None:
        """A fault in the log (raised by this policy, here or elsewhere): the
        state agrees with it even if this process decided otherwise (another
        configuration), so the place's next fault never reuses its episode."""
        place = self._places.setdefault((event.scope, event.value), _Place())
        if event.episode > place.episodes:
            place.episodes = event.episode
            place.counting = [(at, t) for at, t in place.counting
                              if t not in set(event.ticket_ids)]
            self._remember(event.originator_id, event.scope, event.value, place)
        self._place_of[event.originator_id] = (event.scope, event.value)

    def _remember(self, fault_id: UUID, scope: str, value: str, place: _Place) -> None:
        place.open_fault = fault_id
        self._place_of[fault_id] = (scope, value)
