"""A ticket's details after it is opened: what dispatchers may correct
(``PATCH /tickets/{id}``), and the event that records a correction.

``Ticket`` inherits ``TicketDetails`` (the command) and names ``Updated`` (a
subclass of ``DetailsChanged`` under its explicit topic). The event carries only
the fields that really changed, so an auditor reads a correction as it was made
and a fold patches only those columns.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from eventsourcing.domain import Aggregate

#: The details a ticket carries beyond its title (all optional, all correctable).
#: ``location`` is a dict of these keys, each an optional text.
LOCATION_KEYS = ("pole", "pon", "zone", "dr")
#: What ``update`` may change.
EDITABLE = (
    "title", "description", "priority", "required_skill", "required_certification",
    "territory", "location", "due_at",
)


def clean_location(location: dict[str, Any] | None) -> dict[str, str | None] | None:
    """A location with every key present (None where not given); None when it
    names nothing, so "no location" has one form."""
    if not location:
        return None
    full = {key: location.get(key) for key in LOCATION_KEYS}
    return full if any(v is not None for v in full.values()) else None


def default_territory(territory: str | None, location: dict[str, Any] | None) -> str | None:
    """The dispatch region: as given, else the location's zone (contract)."""
    if territory is not None:
        return territory
    return (location or {}).get("zone")


class DetailsChanged(Aggregate.Event):
    """Some of a ticket's details changed: ``changes`` holds only those, with
    their new values (``location`` whole, ``due_at`` a datetime or None)."""

    changes: dict[str, Any]
    actor: str
    via: str | None = None

    def apply(self, ticket: Any) -> None:
        for key, value in self.changes.items():
            setattr(ticket, key, value)


class TicketDetails:
    """The ``update`` command of ``Ticket`` (a mixin: ticket.py holds the rest)."""

    Updated: type[DetailsChanged]

    if TYPE_CHECKING:  # Ticket's own (and Aggregate's), declared for type checkers
        def check_not_closed(self) -> None: ...
        def trigger_event(self, event_class: Any, **kwargs: Any) -> None: ...

    def update(
        self, *, changes: dict[str, Any], actor: str, timestamp: datetime | None = None,
        via: str | None = None, **fields: Any,
    ) -> bool:
        """Records the details that really change (one event); returns whether
        any did. A closed ticket is refused (409): reopen it to correct it, so
        a closed ticket's record stays as it was closed. ``location`` merges
        into the current one (keys sent replace, others stay; ``None`` clears
        it); a ticket without a territory takes the new location's zone, as
        when it is opened."""
        self.check_not_closed()
        wanted = {key: value for key, value in changes.items() if key in EDITABLE}
        if "location" in wanted:
            sent = wanted["location"]
            merged = None if sent is None else {**(getattr(self, "location", None) or {}), **sent}
            wanted["location"] = clean_location(merged)
            if getattr(self, "territory", None) is None and "territory" not in wanted:
                zone = (wanted["location"] or {}).get("zone")
                if zone is not None:
                    wanted["territory"] = zone
        effective = {
            key: value for key, value in wanted.items() if getattr(self, key, None) != value
        }
        if not effective:
            return False
        self.trigger_event(
            self.Updated, changes=effective, actor=actor, timestamp=timestamp, via=via, **fields
        )
        return True
