"""Event store queries: what the API asks of the event log itself (a ticket's
stream, the global feed, a ticket as it stood), each event decoded by the
ledger's own mapper and rendered as the API shows it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from types import MappingProxyType
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from ledger.application import Ledger
from projections.assignments import EngineerAssignmentsProjection
from projections.base import Rows
from projections.queries import ASSIGNMENTS, TICKETS
from projections.store import ReadStore
from projections.tables import ts
from projections.tickets import TicketsProjection

_EVENT_BASE = {
    "originator_id", "originator_version", "timestamp", "originator_topic", "actor",
    "hash", "prev_hash",
}


def _jsonable(value: Any) -> Any:
    if isinstance(value, UUID):
        return str(value)
    if hasattr(value, "isoformat") and hasattr(value, "astimezone"):
        return ts(value)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


@cache
def event_topics() -> Mapping[str, str]:
    """Every event type name this ledger records, mapped to its stored topic
    (worked out on first use and kept: the feed's filters ask on every request)."""
    from eventsourcing.domain import CanMutateAggregate
    from eventsourcing.utils import get_topic

    from ledger.domain import Engineer, Ticket
    from ledger.keys import ApiKey
    from ledger.repeat_fault import RepeatFault
    from ledger.webhook import Webhook
    from ledger.workload import Workload

    known: dict[str, str] = {}
    for cls in (Ticket, Engineer, ApiKey, Webhook, Workload, RepeatFault):
        for name, attr in vars(cls).items():
            if (
                isinstance(attr, type)
                and issubclass(attr, CanMutateAggregate)
                and name not in ("Event", "Created")
            ):
                topic = get_topic(attr)  # explicit TOPICs included
                known[f"{cls.__name__}.{name}"] = topic
                known.setdefault(name, topic)
    return MappingProxyType(known)


def event_type(topic: str) -> str:
    """``ledger.domain:Ticket.Assigned`` -> ``Ticket.Assigned``."""
    return topic.rsplit(":", 1)[-1]


class EventQueries:
    """The event store as auditors read it: streams and the global feed."""

    def __init__(self, app: Ledger, store: ReadStore) -> None:
        self.app = app
        self.store = store

    @staticmethod
    def _topics(types: Sequence[str]) -> list[str]:
        """Event type names (``Ticket.Assigned`` or just ``Assigned``) -> topics."""
        known = event_topics()
        return [known.get(t, f"ledger.domain:{t}") for t in types]

    def _event(self, row: dict[str, Any]) -> Any:
        """A row of the event store, decoded by the application's mapper."""
        originator_id = row["originator_id"]
        return self.app.mapper.to_domain_event(StoredEvent(
            originator_id=originator_id if isinstance(originator_id, UUID)
            else UUID(str(originator_id)),
            originator_version=row["originator_version"],
            topic=row["topic"],
            state=bytes(row["state"]),
        ))

    def _render(self, row: dict[str, Any]) -> dict[str, Any]:
        event = self._event(row)
        originator_id = event.originator_id
        attrs = vars(event)
        kind = event_type(row["topic"])
        is_ticket = kind.startswith("Ticket.")
        return {
            "position": row["position"],
            "ticket_id": str(originator_id) if is_ticket else None,
            "aggregate_id": str(originator_id),
            "version": row["originator_version"],
            "type": kind,
            "recorded_at": ts(attrs["timestamp"]),
            "actor": attrs.get("actor"),
            "data": {k: _jsonable(v) for k, v in attrs.items() if k not in _EVENT_BASE},
            "hash": attrs.get("hash"),
            "prev_hash": attrs.get("prev_hash"),
        }

    def ticket_as_of(
        self, ticket_id: UUID, *, as_of: str | None = None, version: int | None = None
    ) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
        """The ticket's row and its assignments as they stood at ``as_of`` (a
        canonical timestamp) or at ``version``: the ticket's own events folded in
        memory by the same projections that build the tables. None if the ticket
        did not exist yet."""
        rows = self.store.select(
            f"{self.store.events_sql(self.app.recorder.events_table_name)} "
            "WHERE originator_id = %s ORDER BY originator_version",
            [self.store.uuid_param(ticket_id)],
        )
        tickets, assignments = TicketsProjection(), EngineerAssignmentsProjection()
        working = Rows()
        for r in rows:
            if version is not None and r["originator_version"] > version:
                break
            event = self._event(r)
            if as_of is not None and ts(event.timestamp) > as_of:
                break
            tickets.fold(event, r["position"], working)
            assignments.fold(event, r["position"], working)
        ticket = working.get(TICKETS, (str(ticket_id),))
        if ticket is None:
            return None
        folded = [row for _key, row in working.changed(ASSIGNMENTS) if row is not None]
        folded.sort(key=lambda row: row["assignment_sequence"])
        return ticket, folded

    def stream(self, aggregate_id: UUID) -> list[dict[str, Any]]:
        rows = self.store.select(
            f"{self.store.events_sql(self.app.recorder.events_table_name)} WHERE originator_id = %s ORDER BY originator_version",
            [self.store.uuid_param(aggregate_id)],
        )
        return [self._render(r) for r in rows]

    def feed(
        self,
        *,
        after: int,
        limit: int,
        types: Sequence[str] = (),
        ticket_id: UUID | None = None,
        actor: str | None = None,
        since: str | None = None,
        until: str | None = None,
        scan_limit: int = 10_000,
    ) -> tuple[list[dict[str, Any]], int, bool]:
        """Events after ``after`` in position order matching the filters.

        Returns (items, last position examined, more may follow). Filters on
        fields inside the event (actor, time) are applied while scanning, at most
        ``scan_limit`` events per call, so a page never skips anything: the next
        page starts after the last position examined.
        """
        where, params = ["1=1"], []
        if types:
            topics = self._topics(types)
            where.append(f"topic IN ({', '.join(['%s'] * len(topics))})")
            params.extend(topics)
        if ticket_id is not None:
            where.append("originator_id = %s")
            params.append(self.store.uuid_param(ticket_id))
        base = f"{self.store.events_sql(self.app.recorder.events_table_name)} WHERE {' AND '.join(where)}"
        position_col = "rowid" if self.store.placeholder == "?" else "notification_id"
        items: list[dict[str, Any]] = []
        cursor = after
        scanned = 0
        while len(items) < limit and scanned < scan_limit:
            batch = min(max(limit * 2, 100), scan_limit - scanned)
            rows = self.store.select(
                f"{base} AND {position_col} > %s ORDER BY {position_col} LIMIT %s",
                [*params, cursor, batch],
            )
            if not rows:
                return items, cursor, False
            short = len(rows) < batch  # the head, as of this statement
            for r in rows:
                cursor = r["position"]
                scanned += 1
                event = self._render(r)
                if actor is not None and event["actor"] != actor:
                    continue
                if since is not None and event["recorded_at"] < since:
                    continue
                if until is not None and event["recorded_at"] >= until:
                    continue
                items.append(event)
                if len(items) >= limit:
                    return items, cursor, True
            if short:  # asking again would find nothing more (or what came since)
                return items, cursor, False
        return items, cursor, True
