"""Reaching the event store: its failures as a domain error, starting the
library's application against it, and replaying a stream."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from eventsourcing.persistence import InterfaceError, OperationalError
from eventsourcing.persistence import InternalError as PersistenceInternalError

from ledger.errors import StorageUnavailableError

#: How often starting is tried when several processes start at once.
START_ATTEMPTS = 5


@contextmanager
def storage_errors() -> Iterator[None]:
    """The store unreachable (connection refused, dropped, timed out) as
    ``StorageUnavailableError``, which the API answers with 503."""
    try:
        yield
    except (OperationalError, InterfaceError) as e:
        msg = f"The event store is unavailable: {e}"
        raise StorageUnavailableError(msg) from e


def start(init: Callable[[], None]) -> None:
    """Runs ``init`` (the library's ``Application.__init__``), again if several
    processes starting at once race in eventsourcing's CREATE OR REPLACE
    FUNCTION ("tuple concurrently updated")."""
    for attempt in range(START_ATTEMPTS):
        try:
            with storage_errors():
                init()
            return
        except PersistenceInternalError:
            if attempt == START_ATTEMPTS - 1:
                raise
            time.sleep(0.05 * (attempt + 1))


def project(aggregate: Any, events: Iterable[Any]) -> Any:
    """eventsourcing's ``project_aggregate`` without its per-event
    ``isinstance`` check against a runtime-checkable Protocol, which costs more
    than applying the event (every event of ours is an eventsourcing Event)."""
    for event in events:
        aggregate = event.mutate(aggregate)
    return aggregate
