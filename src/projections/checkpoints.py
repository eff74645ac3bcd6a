"""Signed checkpoints over the whole log: what one is, the bytes its signature
is over, the running hash it commits to, where they are kept, and the log they
are over.

The *running hash* folds every event's hash in position order::

    running_0 = GENESIS
    running_p = sha256(bytes.fromhex(running_{p-1}) + bytes.fromhex(hash_p))

A checkpoint (position, number of events, running hash, time) signed with
Ed25519 commits to every event before it: altering, deleting, inserting or
reordering any of them changes the running hash, which an attacker cannot
re-sign without the private key. ``projections.sealer`` records them;
``projections.verification`` checks them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any
from uuid import UUID

from projections.feed import EventFilter, EventLog
from projections.side_tables import SideTables

CHECKPOINTS = "ledger_checkpoints"


def running_next(running: str, event_hash_hex: str) -> str:
    return hashlib.sha256(bytes.fromhex(running) + bytes.fromhex(event_hash_hex)).hexdigest()


def checkpoint_message(position: int, events: int, running_hash: str, sealed_at: str) -> bytes:
    """The exact bytes a checkpoint's signature is over."""
    return (
        "assignment-ledger checkpoint\n"
        f"position={position}\nevents={events}\nrunning_hash={running_hash}\n"
        f"sealed_at={sealed_at}\n"
    ).encode()


@dataclass(frozen=True)
class Checkpoint:
    position: int
    events: int
    running_hash: str
    sealed_at: str
    key_id: str
    signature: str

    def message(self) -> bytes:
        return checkpoint_message(self.position, self.events, self.running_hash, self.sealed_at)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class StoredLog:
    """The stored events in position order, as they are stored (the feed's raw
    reader, ``projections.feed.EventLog.rows``), plus the counts a progress bar
    needs."""

    def __init__(self, store: Any, events_table: str) -> None:
        self.table = events_table
        self.log = EventLog(store, events_table)
        source = store.events_sql(events_table).split(" FROM ", 1)[1]
        position = self.log.position_column
        self._head_sql = f"SELECT MAX({position}) FROM {source}"
        self._count_sql = f"SELECT COUNT(*) FROM {source} WHERE {position} > %s"

    def head(self) -> int:
        return int(self.log.select(self._head_sql, [])[0][0] or 0)

    def count_after(self, position: int) -> int:
        return int(self.log.select(self._count_sql, [position])[0][0])

    def pages(
        self, after: int = 0, page_size: int = 10_000, until: int | None = None
    ) -> Iterator[list[tuple[int, str, int, str, bytes]]]:
        """Pages of (position, originator id as text, version, topic, state) after
        ``after`` (and up to ``until``)."""
        return self.log.rows(EventFilter(after=after, to=until), page_size)

    def stream(self, originator_id: UUID) -> list[tuple[int, str, int, str, bytes]]:
        """One aggregate's events, in position order."""
        return [row for page in self.log.rows(EventFilter(originator_id=originator_id))
                for row in page]


class CheckpointStore(SideTables):
    """The ``ledger_checkpoints`` table, beside the read tables."""

    def setup(self) -> None:
        statement = (
            f"CREATE TABLE IF NOT EXISTS {CHECKPOINTS} (position BIGINT PRIMARY KEY, "
            "events BIGINT NOT NULL, running_hash TEXT NOT NULL, sealed_at TEXT NOT NULL, "
            "key_id TEXT NOT NULL, signature TEXT NOT NULL)"
        )
        self.create([statement])

    def _select(self, statement: str, params: list[Any]) -> list[Checkpoint]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(self._sql(statement), params)
            return [
                Checkpoint(
                    position=int(r["position"]), events=int(r["events"]),
                    running_hash=r["running_hash"], sealed_at=r["sealed_at"],
                    key_id=r["key_id"], signature=r["signature"],
                )
                for r in c.fetchall()
            ]

    _COLUMNS = "position, events, running_hash, sealed_at, key_id, signature"

    def last(self, at_or_before: int | None = None) -> Checkpoint | None:
        if at_or_before is None:
            found = self._select(
                f"SELECT {self._COLUMNS} FROM {CHECKPOINTS} ORDER BY position DESC LIMIT 1", []
            )
        else:
            found = self._select(
                f"SELECT {self._COLUMNS} FROM {CHECKPOINTS} WHERE position <= %s "
                "ORDER BY position DESC LIMIT 1",
                [at_or_before],
            )
        return found[0] if found else None

    def after(self, position: int, limit: int | None = None) -> list[Checkpoint]:
        statement = (
            f"SELECT {self._COLUMNS} FROM {CHECKPOINTS} WHERE position > %s ORDER BY position"
        )
        params: list[Any] = [position]
        if limit is not None:
            statement += " LIMIT %s"
            params.append(limit)
        return self._select(statement, params)

    def latest(self, limit: int) -> list[Checkpoint]:
        """The ``limit`` newest checkpoints, newest first."""
        return self._select(
            f"SELECT {self._COLUMNS} FROM {CHECKPOINTS} ORDER BY position DESC LIMIT %s", [limit])

    def add(self, checkpoint: Checkpoint) -> bool:
        """Records a checkpoint; False if one at that position exists already."""
        with self.datastore.transaction(commit=True) as c:
            c.execute(
                self._sql(
                    f"INSERT INTO {CHECKPOINTS} ({self._COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s) "
                    "ON CONFLICT (position) DO NOTHING RETURNING position"
                ),
                [checkpoint.position, checkpoint.events, checkpoint.running_hash,
                 checkpoint.sealed_at, checkpoint.key_id, checkpoint.signature],
            )
            return bool(c.fetchall())
