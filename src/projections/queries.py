"""Read queries: what the API asks of the read tables and the event store.

Every query reads the public views (the live build), uses placeholders for every
value, and returns canonical JSON-ready rows. Lists are keyset-paged with opaque
cursors.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from types import MappingProxyType
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.persistence import StoredEvent

from ledger.application import Ledger
from ledger.domain import ACTIVE_STATUSES
from ledger.ticket_details import LOCATION_KEYS
from projections.assignments import (
    AssignmentHistoryProjection,
    CurrentAssignmentsProjection,
    EngineerAssignmentsProjection,
)
from projections.base import Rows
from projections.engineers import EngineersProjection
from projections.intervals import AssignmentIntervalsProjection
from projections.store import ReadStore
from projections.tables import Table, ts
from projections.tickets import TicketsProjection

TICKETS = TicketsProjection.table
ASSIGNMENTS = EngineerAssignmentsProjection.table
CURRENT = CurrentAssignmentsProjection.table
HISTORY = AssignmentHistoryProjection.table
ENGINEERS = EngineersProjection.table
INTERVALS = AssignmentIntervalsProjection.table

_EVENT_BASE = {
    "originator_id", "originator_version", "timestamp", "originator_topic", "actor",
    "hash", "prev_hash",
}


class CursorError(ValueError):
    """Raised when a paging cursor was not issued by this API."""


def encode_cursor(values: Sequence[Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(list(values))).decode().rstrip("=")


def decode_cursor(cursor: str, arity: int) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = orjson.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, TypeError) as e:
        raise CursorError("cursor is not valid") from e
    if not isinstance(values, list) or len(values) != arity:
        raise CursorError("cursor is not valid")
    return values


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    next_cursor: str | None


class ReadQueries:
    """Queries over the public read tables."""

    def __init__(self, store: ReadStore) -> None:
        self.store = store

    def _cols(self, table: Table) -> str:
        """The table's select list. A store may read a column through an
        expression named as the column (PostgreSQL formats times), so an ORDER BY
        on such a column names it with its table: the stored column, in its
        index's order, not the expression's output."""
        return self.store.columns_sql(table)

    def _one(self, table: Table, where: str, params: Sequence[Any]) -> dict[str, Any] | None:
        rows = self.store.rows(table, f"SELECT {self._cols(table)} FROM {table.name} WHERE {where}", params)
        return rows[0] if rows else None

    # ---------------------------------------------------------------- engineers

    def engineer(self, engineer_id: str) -> dict[str, Any] | None:
        return self._one(ENGINEERS, "id = %s", [engineer_id])

    def engineers(self, *, limit: int, cursor: str | None, active: bool | None = None) -> Page:
        where, params = ["1=1"], []
        if active is not None:
            where.append("active = %s")
            params.append(active)
        if cursor:
            (after,) = decode_cursor(cursor, 1)
            where.append("registered_position > %s")
            params.append(int(after))
        rows = self.store.rows(
            ENGINEERS,
            f"SELECT {self._cols(ENGINEERS)} FROM engineers WHERE {' AND '.join(where)} "
            "ORDER BY registered_position LIMIT %s",
            [*params, limit + 1],
        )
        return self._page(rows, limit, lambda r: [r["registered_position"]])

    @staticmethod
    def _page(rows: list[dict[str, Any]], limit: int, key: Any) -> Page:
        more = len(rows) > limit
        items = rows[:limit]
        return Page(items, encode_cursor(key(items[-1])) if more and items else None)

    # ---------------------------------------------------------------- tickets

    def ticket(self, ticket_id: UUID | str) -> dict[str, Any] | None:
        return self._one(TICKETS, "id = %s", [str(ticket_id)])

    def ticket_with_current(
        self, ticket_id: UUID | str
    ) -> tuple[dict[str, Any], dict[str, Any] | None] | None:
        """The ticket's row and its current assignment's (None without one), read
        in one statement: one snapshot, one round trip."""
        columns = [f"t.{c}" for c in TICKETS.column_names]
        columns += [f"a.{c} AS a__{c}" for c in ASSIGNMENTS.column_names]
        found = self.store.select(
            f"SELECT {', '.join(columns)} FROM tickets t LEFT JOIN engineer_assignments a "
            "ON a.id = t.current_assignment_id WHERE t.id = %s",
            [str(ticket_id)],
        )
        if not found:
            return None
        row = found[0]
        ticket = self.store.decode(TICKETS, {c: row[c] for c in TICKETS.column_names})
        current = {c: row[f"a__{c}"] for c in ASSIGNMENTS.column_names}
        if current["id"] is None:
            return ticket, None
        return ticket, self.store.decode(ASSIGNMENTS, current)

    def assignments_by_id(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The assignments' rows, by id, in one query."""
        if not ids:
            return {}
        rows = self.store.rows(
            ASSIGNMENTS,
            f"SELECT {self._cols(ASSIGNMENTS)} FROM engineer_assignments "
            f"WHERE id IN ({', '.join(['%s'] * len(ids))})",
            [str(i) for i in ids],
        )
        return {r["id"]: r for r in rows}

    def tickets(
        self,
        *,
        limit: int,
        cursor: str | None,
        status: str | None = None,
        engineer_id: str | None = None,
        reference: str | None = None,
        territory: str | None = None,
        location: dict[str, str | None] | None = None,
        priority: str | None = None,
        required_skill: str | None = None,
        owner_team: str | None = None,
        condition: tuple[str, list[Any]] | None = None,
    ) -> Page:
        """``location``: ``{pole, pon, zone, dr}`` to match (None: any);
        ``condition``: one more SQL condition on the row and its parameters (as
        ``projections.ticket_sla.deadline_clause`` makes)."""
        where, params = ["1=1"], []
        if condition is not None:
            where.append(f"({condition[0]})")
            params.extend(condition[1])
        for column, value in (
            ("status", status), ("current_engineer_id", engineer_id), ("reference", reference),
            ("territory", territory), ("priority", priority), ("required_skill", required_skill),
            ("owner_team", owner_team),
            *((f"location_{k}", v) for k, v in (location or {}).items() if k in LOCATION_KEYS),
        ):
            if value is not None:
                where.append(f"{column} = %s")
                params.append(value)
        if cursor:
            (after,) = decode_cursor(cursor, 1)
            where.append("opened_position > %s")
            params.append(int(after))
        rows = self.store.rows(
            TICKETS,
            f"SELECT {self._cols(TICKETS)} FROM tickets WHERE {' AND '.join(where)} "
            "ORDER BY opened_position LIMIT %s",
            [*params, limit + 1],
        )
        return self._page(rows, limit, lambda r: [r["opened_position"]])

    # ---------------------------------------------------------------- assignments

    def assignment(self, assignment_id: UUID | str) -> dict[str, Any] | None:
        return self._one(ASSIGNMENTS, "id = %s", [str(assignment_id)])

    def assignments_of_ticket(self, ticket_id: UUID | str) -> list[dict[str, Any]]:
        return self.store.rows(
            ASSIGNMENTS,
            f"SELECT {self._cols(ASSIGNMENTS)} FROM engineer_assignments WHERE ticket_id = %s "
            "ORDER BY assignment_sequence",
            [str(ticket_id)],
        )

    def assignments(
        self,
        *,
        limit: int,
        cursor: str | None,
        status: str | None = None,
        engineer_id: str | None = None,
        tier: int | None = None,
        since: str | None = None,
        until: str | None = None,
    ) -> Page:
        """``since`` (inclusive) and ``until`` (exclusive) bound ``assigned_at``
        (canonical timestamps)."""
        where, params = ["1=1"], []
        if status == "active":
            where.append(f"status IN ({', '.join(['%s'] * len(ACTIVE_STATUSES))})")
            params.extend(sorted(ACTIVE_STATUSES))
        elif status is not None:
            where.append("status = %s")
            params.append(status)
        if engineer_id is not None:
            where.append("engineer_id = %s")
            params.append(engineer_id)
        if tier is not None:
            where.append("assignment_tier = %s")
            params.append(tier)
        if since is not None:
            where.append("assigned_at >= %s")
            params.append(since)
        if until is not None:
            where.append("assigned_at < %s")
            params.append(until)
        if cursor:
            at, last_id = decode_cursor(cursor, 2)
            where.append("(assigned_at > %s OR (assigned_at = %s AND id > %s))")
            params.extend([at, at, last_id])
        rows = self.store.rows(
            ASSIGNMENTS,
            f"SELECT {self._cols(ASSIGNMENTS)} FROM engineer_assignments "
            f"WHERE {' AND '.join(where)} "
            "ORDER BY engineer_assignments.assigned_at, id LIMIT %s",
            [*params, limit + 1],
        )
        return self._page(rows, limit, lambda r: [r["assigned_at"], r["id"]])

    def current_assignment(self, ticket_id: UUID | str) -> dict[str, Any] | None:
        return self._one(CURRENT, "ticket_id = %s", [str(ticket_id)])

    def history_of_ticket(self, ticket_id: UUID | str) -> list[dict[str, Any]]:
        return self.store.rows(
            HISTORY,
            f"SELECT {self._cols(HISTORY)} FROM assignment_history WHERE ticket_id = %s ORDER BY id",
            [str(ticket_id)],
        )

    def history_of_assignment(self, assignment_id: UUID | str) -> list[dict[str, Any]]:
        return self.store.rows(
            HISTORY,
            f"SELECT {self._cols(HISTORY)} FROM assignment_history WHERE assignment_id = %s ORDER BY id",
            [str(assignment_id)],
        )


    # ---------------------------------------------------------------- intervals

    def intervals_at(
        self,
        at: str,
        *,
        limit: int,
        cursor: str | None,
        engineer_id: str | None = None,
        ticket_id: UUID | str | None = None,
    ) -> Page:
        """The assignments held at ``at`` (a canonical timestamp): one indexed
        range query, keyset-paged by (valid_from, assignment_id)."""
        where = ["valid_from <= %s", "(valid_to IS NULL OR valid_to > %s)"]
        params: list[Any] = [at, at]
        if engineer_id is not None:
            where.append("engineer_id = %s")
            params.append(engineer_id)
        if ticket_id is not None:
            where.append("ticket_id = %s")
            params.append(str(ticket_id))
        if cursor:
            since, last_id = decode_cursor(cursor, 2)
            where.append("(valid_from > %s OR (valid_from = %s AND assignment_id > %s))")
            params.extend([since, since, last_id])
        rows = self.store.rows(
            INTERVALS,
            f"SELECT {self._cols(INTERVALS)} FROM assignment_intervals WHERE {' AND '.join(where)} "
            "ORDER BY assignment_intervals.valid_from, assignment_id LIMIT %s",
            [*params, limit + 1],
        )
        return self._page(rows, limit, lambda r: [r["valid_from"], r["assignment_id"]])


# ---------------------------------------------------------------- event store


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
