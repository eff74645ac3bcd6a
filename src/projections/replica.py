"""Queries from a PostgreSQL streaming replica (``LEDGER_READ_DATABASE_URL``),
with the primary behind it.

A hot standby replays the primary's WAL, read tables and positions together (a
page commits its rows with its positions), so the positions read on the replica
say exactly what its read tables include. ``ReadReplica`` is the row source
of the API's ``ReadQueries`` (``select``, ``rows``, ``decode``): it reads from the replica when the request
allows it (``reading_from(REPLICA)``: the API's GET requests) and the replica is
up, else from the primary; an error on the replica (down, restarted, a query
cancelled by replay) sends the query to the primary and rests the replica for
``retry_after`` seconds, so a replica that goes away never becomes a failed
request. Read-your-writes: a query with ``min_position`` stays on the replica
only if the replica's read tables reach the position within a bound
(``reached``); else the request reads from the primary (``read_from_primary``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import psycopg
from eventsourcing.persistence import InfrastructureFactory, PersistenceError
from eventsourcing.utils import Environment

from ledger.store import StoreConfig
from projections.postgres_store import PostgresReadStore
from projections.store import CatalogEntry, ReadStore
from projections.tables import Table

log = logging.getLogger("ledger.projections.replica")

PRIMARY = "primary"
REPLICA = "replica"
#: Seconds between reads of the replica's positions while a query waits for one.
POSITION_POLL = 0.005

_read_from: ContextVar[str] = ContextVar("ledger_read_from", default=PRIMARY)


@contextmanager
def reading_from(where: str) -> Iterator[None]:
    """Queries in the block (and what it awaits or runs in threads it starts
    with its context) read from ``where`` when it is available."""
    token = _read_from.set(where)
    try:
        yield
    finally:
        _read_from.reset(token)


def read_from_primary() -> None:
    """The rest of the current request reads from the primary."""
    _read_from.set(PRIMARY)


def read_from() -> str:
    return _read_from.get()


def open_replica_store(config: StoreConfig, pool_size: int) -> PostgresReadStore:
    """A read store on the replica: it creates nothing (a standby is read-only)
    and connects lazily, so a replica that is down does not stop a start."""
    env = config.eventsourcing_env(pool_size=pool_size)
    env.update({"CREATE_TABLE": "false", "POSTGRES_CONNECT_TIMEOUT": "1"})
    # The name "projections" names the tracking table, as on the primary.
    factory = InfrastructureFactory.construct(Environment("projections", env))
    return factory.tracking_recorder(PostgresReadStore)


class ReadReplica:
    """The replica's read tables for queries, the primary's when it cannot serve."""

    def __init__(
        self, config: StoreConfig, primary: ReadStore, *, pool_size: int = 10,
        retry_after: float = 2.0,
    ) -> None:
        self.config = config
        self.primary = primary
        self.store = open_replica_store(config, pool_size)
        self.retry_after = retry_after
        self._down_until = 0.0
        self._down = False
        self._probe = threading.Lock()
        #: queries answered by the replica / sent to the primary after a replica error
        self.served = 0
        self.fell_back = 0

    # ---------------------------------------------------------------- health

    @property
    def available(self) -> bool:
        """Whether to try the replica now: up, or down for ``retry_after`` seconds
        and answering a fresh connection (one thread probes; the others go to
        the primary meanwhile)."""
        if not self._down:
            return True
        if time.monotonic() < self._down_until or not self._probe.acquire(blocking=False):
            return False
        try:
            with psycopg.connect(self.config.conninfo(), connect_timeout=1) as conn:
                conn.execute("SELECT 1")
            # The pool's idle connections may predate a restart: replace the
            # broken ones now rather than fail a query on each.
            self.store.datastore.pool.check()
        except psycopg.Error:
            self._down_until = time.monotonic() + self.retry_after
            return False
        finally:
            self._probe.release()
        self._down = False
        log.warning("the read replica answers again; reading from it")
        return True

    def _failed(self, error: BaseException) -> None:
        if not self._down:
            log.warning("read replica unavailable, reading from the primary: %s", error)
        self._down = True
        self._down_until = time.monotonic() + self.retry_after

    # ---------------------------------------------------------------- reads

    def select(self, statement: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """``ReadStore.select`` on the replica if this request may read there and
        it is up, else on the primary."""
        if _read_from.get() == REPLICA and self.available:
            try:
                found = self.store.select(statement, params)
            except (PersistenceError, psycopg.Error) as e:
                self._failed(e)
            else:
                self.served += 1
                return found
            self.fell_back += 1
        return self.primary.select(statement, params)

    def decode(self, table: Table, row: dict[str, Any]) -> dict[str, Any]:
        return self.primary.decode(table, row)

    def rows(self, table: Table, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return [self.decode(table, r) for r in self.select(sql, params)]

    def columns_sql(self, table: Table, alias: str | None = None, prefix: str = "") -> str:
        return self.primary.columns_sql(table, alias, prefix)  # both are PostgreSQL

    def reached(self, entries: Sequence[CatalogEntry], position: int, timeout: float) -> bool:
        """Whether the replica's builds ``entries`` reach ``position`` within
        ``timeout`` seconds (False at once if the replica is unavailable)."""
        deadline = time.monotonic() + timeout
        while self.available:
            try:
                positions = self.store.positions(entries)
            except (PersistenceError, psycopg.Error) as e:
                self._failed(e)
                return False
            if min(positions, default=0) >= position:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(POSITION_POLL)
        return False

    def close(self) -> None:
        self.store.close()
