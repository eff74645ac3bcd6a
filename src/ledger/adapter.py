"""The one place that leans on eventsourcing's private names, under its exact pin.

The ledger's PostgreSQL recorder is eventsourcing's, with two additions:

* ``select_streams`` reads several whole streams in one query (the command
  thread loads the tickets of the commands that queued up together);
* two hooks inside its insert transaction. ``Application.save(*aggregates,
  before_insert=first, after_insert=then)`` passes them down (eventsourcing
  hands save's keyword arguments to ``insert_events``). ``first(cursor)`` is
  called once the insert has queued its lock of the events table, before the
  INSERT (in pipeline mode, so what it queues travels in the insert's round trip
  and runs holding the lock: it reads what every other writer committed before);
  ``then(cursor, notification_ids)`` once the events are inserted, still inside
  the transaction and still holding the lock, so whatever it writes on that
  connection commits, or not, with the events. The read side writes the
  projections of a command's events in the command's own transaction with them
  (see ``projections.inline``).

Without the keyword arguments it is eventsourcing's recorder, unchanged.

``create`` starts an aggregate from a creation event class that declares its
fields (``Ticket.Opened``, ``Engineer.Registered``): eventsourcing's
``Aggregate._create``, the call its own examples use for that, so the fields
are not repeated in an ``@event``-decorated ``__init__``.

The methods overridden or called here are private to eventsourcing, so this module is written
against one version (``PINNED``, pyproject's exact pin); ``RELIED_ON`` lists
them with their signatures, and ``tests/unit/test_adapter.py`` fails if the
installed library differs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.domain import BaseAggregate, CanInitAggregate
from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresAggregateRecorder, PostgresApplicationRecorder
from psycopg.sql import SQL, Identifier

#: The eventsourcing release this module is written against.
PINNED = "9.5.6"

#: eventsourcing's private methods used here: (class, name) -> parameter names.
RELIED_ON: dict[tuple[type, str], tuple[str, ...]] = {
    (BaseAggregate, "_create"): ("cls", "event_class", "id", "kwargs"),
    (PostgresApplicationRecorder, "_insert_stored_events"):
        ("self", "curs", "stored_events", "kwargs"),
    (PostgresAggregateRecorder, "_insert_stored_events"):
        ("self", "curs", "stored_events", "_"),
    (PostgresApplicationRecorder, "_lock_table"): ("self", "curs"),
    (PostgresApplicationRecorder, "_notify_channel"): ("self", "curs"),
    (PostgresApplicationRecorder, "_fetch_ids_after_insert_events"):
        ("self", "curs", "stored_events", "_"),
}

#: ``hook(cursor)``, called in the insert's transaction once the events table's
#: lock is queued (pipeline mode: what it sends travels with the insert).
BeforeInsert = Callable[[Any], None]
#: ``hook(cursor, notification_ids)``, called inside the insert's transaction.
AfterInsert = Callable[[Any, Sequence[int]], None]


A = TypeVar("A", bound=BaseAggregate[Any])


def create(
    aggregate_class: type[A], event_class: type[CanInitAggregate[UUID]], *, id: UUID,  # noqa: A002
    **fields: Any,
) -> A:
    """A new aggregate of ``aggregate_class`` whose first event is ``event_class``
    with ``fields`` (a TypeError names a field the event does not declare or
    one it needs); the event's ``apply`` sets the aggregate's state."""
    return aggregate_class._create(event_class, id=id, **fields)


class HookedPostgresApplicationRecorder(PostgresApplicationRecorder):
    def select_streams(self, originator_ids: Sequence[UUID]) -> dict[UUID, list[StoredEvent]]:
        """Several whole streams in one query (``select_events`` reads one).
        Streams with no events are left out."""
        statement = SQL(
            "SELECT originator_id, originator_version, topic, state FROM {schema}.{table} "
            "WHERE originator_id = ANY(%s) ORDER BY originator_id, originator_version"
        ).format(
            schema=Identifier(self.datastore.schema),
            table=Identifier(self.events_table_name),
        )
        streams: dict[UUID, list[StoredEvent]] = {}
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(statement, [list(originator_ids)], prepare=True)
            for row in curs.fetchall():
                streams.setdefault(row["originator_id"], []).append(
                    StoredEvent(
                        originator_id=row["originator_id"],
                        originator_version=row["originator_version"],
                        topic=row["topic"],
                        state=bytes(row["state"]),
                    )
                )
        return streams

    def _insert_stored_events(
        self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        hook: BeforeInsert | None = kwargs.get("before_insert")
        if hook is None:
            super()._insert_stored_events(curs, stored_events, **kwargs)
            return
        # PostgresApplicationRecorder._insert_stored_events, with the hook
        # between the lock and the INSERT.
        self._lock_table(curs)
        self._notify_channel(curs)
        hook(curs)
        PostgresAggregateRecorder._insert_stored_events(self, curs, stored_events, **kwargs)

    def _fetch_ids_after_insert_events(
        self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        hook: AfterInsert | None = kwargs.get("after_insert")
        if hook is not None and ids:
            hook(curs, ids)
        return ids
