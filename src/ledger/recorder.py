"""eventsourcing's PostgreSQL recorder, with one hook inside its insert transaction.

``Application.save(*aggregates, after_insert=hook)`` passes ``hook`` down to the
recorder (eventsourcing hands save's keyword arguments to ``insert_events``).
The hook is called with the insert's cursor and the new notification ids once
the events are inserted -- still inside the transaction, still holding the
events table's EXCLUSIVE lock, before the commit -- so whatever it writes on
that cursor commits, or not, with the events. The read side uses it to write the
projections of a command's events in the command's own transaction (see
``projections.inline``). Without the keyword argument it is eventsourcing's
recorder, unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder

#: ``hook(cursor, notification_ids)``, called inside the insert's transaction.
AfterInsert = Callable[[Any, Sequence[int]], None]


class HookedPostgresApplicationRecorder(PostgresApplicationRecorder):
    def _fetch_ids_after_insert_events(
        self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        hook: AfterInsert | None = kwargs.get("after_insert")
        if hook is not None and ids:
            hook(curs, ids)
        return ids


TOPIC = f"{__name__}:{HookedPostgresApplicationRecorder.__name__}"
