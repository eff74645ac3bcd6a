"""``ledger export service-tickets --follow``: the legacy table kept current while
the ledger takes the writes (seed 001's transition: the old application keeps
reading its ``service_tickets``).

A projection whose store is the legacy database. It follows the event log from
its position, which it keeps in the legacy database itself
(``ledger_export_positions``, one row per legacy table): each step reads the
events after it, finds the tickets they touch, waits until the ledger's read
tables include those events, and writes those tickets' legacy rows
(``projections.legacy_export``, as the one-shot export does) and the new position
in one transaction of the legacy database. So a step is applied whole or not at
all: killed at any point, a follower resumes from the last committed position,
and writing a ticket's row again writes the same row (upserts by legacy id), so
nothing is missed or doubled. The first step, without a stored position, exports
every ticket.

The position row is locked (``FOR UPDATE``) for the step's transaction: two
followers of one legacy table take turns, and neither moves it backwards.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ledger.domain import Engineer, Ticket
from projections.legacy_export import (
    LegacyTable,
    legacy_rows,
    legacy_rows_of,
    prepare_legacy_table,
    upsert_legacy_rows,
)
from projections.queries import ReadQueries

log = logging.getLogger(__name__)

POSITIONS_DDL = """
CREATE TABLE IF NOT EXISTS ledger_export_positions (
    legacy_table TEXT PRIMARY KEY,
    position BIGINT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
)"""

#: Events read per step.
STEP_EVENTS = 1000
#: Seconds a step waits for the ledger's read tables (another process's runner)
#: before catching them up itself.
SETTLE_SECONDS = 1.0
#: The stored topics of ticket events start so; the ledger's other aggregates
#: (API keys ...) have no legacy row.
TICKET_TOPICS = Ticket.Opened.TOPIC.rpartition(".")[0] + "."


@dataclass(frozen=True)
class Step:
    """What one step did: the position it reached and the tickets it wrote."""

    position: int
    tickets: int


class LegacyFollower:
    """Follows the ledger into one legacy table (see the module). ``connect`` opens
    a psycopg connection to the legacy database in autocommit mode (each step is
    its own transaction); a connection that fails is closed and opened again at
    the next step."""

    def __init__(self, ledger: Any, read_side: Any, queries: ReadQueries,
                 connect: Callable[[], Any], table: str, *,
                 step_events: int = STEP_EVENTS) -> None:
        self.ledger = ledger
        self.read_side = read_side
        self.queries = queries
        self.connect = connect
        self.table_name = table
        self.step_events = step_events
        self._conn: Any = None
        self._table: LegacyTable | None = None

    def setup(self) -> int | None:
        """Creates the legacy table and the positions table when absent; returns
        the stored position (None: never exported)."""
        conn = self._connection()
        row = conn.execute(
            "SELECT position FROM ledger_export_positions WHERE legacy_table = %s",
            (self.table_name,)).fetchone()
        return None if row is None else int(row[0])

    def _connection(self) -> Any:
        if self._conn is None or self._conn.closed:
            conn = self.connect()
            try:
                with conn.transaction():
                    self._table = prepare_legacy_table(conn, self.table_name)
                    conn.execute(POSITIONS_DDL)
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def step(self) -> Step | None:
        """Exports what was recorded after the stored position, at most
        ``step_events`` events of it; None when there was nothing to export."""
        conn = self._connection()
        table = self._table
        if table is None:  # pragma: no cover - set with the connection
            raise RuntimeError("the legacy table was not prepared")
        with conn.transaction():
            row = conn.execute(
                "SELECT position FROM ledger_export_positions WHERE legacy_table = %s "
                "FOR UPDATE", (self.table_name,)).fetchone()
            head = self.ledger.head()
            if row is None:
                self._settle(head)
                written = upsert_legacy_rows(conn, table, legacy_rows(self.queries))
                conn.execute(
                    "INSERT INTO ledger_export_positions (legacy_table, position) "
                    "VALUES (%s, %s) ON CONFLICT (legacy_table) DO NOTHING",
                    (self.table_name, head))
                return Step(head, written.total())
            position = int(row[0])
            if head <= position:
                return None
            upto, tickets, renamed = self._touched(position, head)
            self._settle(upto)
            tickets |= self._tickets_of(sorted(renamed))
            written = upsert_legacy_rows(conn, table, legacy_rows_of(self.queries, tickets))
            conn.execute(
                "UPDATE ledger_export_positions SET position = %s, updated_at = now() "
                "WHERE legacy_table = %s", (upto, self.table_name))
            return Step(upto, written.total())

    def _touched(self, position: int, head: int) -> tuple[int, set[str], set[str]]:
        """(last position read, ids of the tickets of the ticket events after
        ``position``, ids of the engineers whose name they change)."""
        notifications = self.ledger.recorder.select_notifications(
            start=position + 1, limit=self.step_events, stop=head)
        tickets: set[str] = set()
        renamed: set[str] = set()
        for n in notifications:
            if n.topic.startswith(TICKET_TOPICS):
                tickets.add(str(n.originator_id))
            elif n.topic == Engineer.Updated.TOPIC:
                event = self.ledger.mapper.to_domain_event(n)
                if "name" in event.changes:
                    renamed.add(event.engineer_id)
        upto = notifications[-1].id if len(notifications) == self.step_events else head
        return upto, tickets, renamed

    def _tickets_of(self, engineer_ids: Sequence[str]) -> set[str]:
        """The tickets whose legacy row may name these engineers (any of their
        assignments: a resolved ticket shows the one that completed it)."""
        if not engineer_ids:
            return set()
        marks = ", ".join(["%s"] * len(engineer_ids))
        return {str(r["ticket_id"]) for r in self.queries.store.select(
            f"SELECT DISTINCT ticket_id FROM engineer_assignments WHERE engineer_id IN ({marks})",
            list(engineer_ids))}

    def _settle(self, position: int) -> None:
        """Waits until the read tables include ``position``: another process's runner
        projects it (``ledger serve``), else this process catches them up."""
        if not self.read_side.wait_for(position, SETTLE_SECONDS):
            self.read_side.catch_up()

    def run(self, stop: threading.Event, wake: threading.Event, poll: float,
            report: Callable[[Step], None] = lambda _step: None) -> None:
        """Steps until ``stop`` is set: at once while there is more to export, else
        when ``wake`` is set (a new event) or every ``poll`` seconds. An error
        (the ledger or the legacy database unreachable) is logged and retried
        after a pause, on a new connection; the position is where the last
        committed step left it."""
        pause = 0.0
        while not stop.is_set():
            wake.clear()  # before the step: an event recorded during it wakes the next
            try:
                done = self.step()
                pause = 0.0
            except Exception:  # noqa: BLE001 - retried; the position is safe
                log.exception("legacy export step failed; retrying")
                self.close()
                pause = min(max(pause * 2, 0.5), 10.0)
                stop.wait(pause)
                continue
            if done is not None:
                report(done)
                continue
            wake.wait(poll)


def listen(conninfo: str, channel: str, wake: threading.Event,
           stop: threading.Event) -> threading.Thread:
    """A thread that sets ``wake`` on each NOTIFY of ``channel`` (the PostgreSQL
    ledger's inserts), reconnecting after an outage, until ``stop``."""
    import psycopg

    def loop() -> None:
        while not stop.is_set():
            try:
                with psycopg.connect(conninfo, autocommit=True) as conn:
                    conn.execute(f'LISTEN "{channel}"')
                    while not stop.is_set():
                        for _ in conn.notifies(timeout=0.2, stop_after=1):
                            wake.set()
            except Exception:  # noqa: BLE001 - reconnect after an outage
                stop.wait(1.0)

    thread = threading.Thread(target=loop, name="legacy-export-listen", daemon=True)
    thread.start()
    return thread

