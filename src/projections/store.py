"""What every read-side backend provides (``projections.backend`` builds the
configured one).

A store is eventsourcing's own tracking recorder for its backend, extended with
the read tables: the page of row changes and the projection's position are
written in one transaction, so a crash never leaves them out of step.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from eventsourcing.persistence import IntegrityError

from projections.base import Key, Projection, Rows
from projections.tables import Table, physical_name, ts

CATALOG_TABLE = "ledger_projections"
LIVE = "live"
BUILDING = "building"
RETIRED = "retired"


@dataclass(frozen=True)
class CatalogEntry:
    """One build of one projection version."""

    name: str
    version: int
    generation: int
    state: str
    created_at: str
    switched_at: str | None = None

    @property
    def tracking_name(self) -> str:
        return f"projection:{self.name}:v{self.version}:g{self.generation}"

    def physical(self, table: Table) -> str:
        return physical_name(table.name, self.version, self.generation)


@dataclass
class PageWrite:
    """The changes of one projection build for one page: its tables move from
    position ``since`` to ``position``, or not at all."""

    entry: CatalogEntry
    projection: Projection
    rows: Rows
    position: int
    since: int


class SwitchBehindError(Exception):
    """Raised (and nothing switched) when a new build is behind the live build it
    would replace: it must catch up further first."""


class PositionConflictError(IntegrityError):
    """Raised when a build's stored position is not the one a page was folded on
    (another runner wrote it, or an earlier commit's outcome was unknown)."""


def now_ts() -> str:
    return ts(datetime.now(UTC)) or ""


class ReadStore(ABC):
    """Backend-specific persistence of read tables, positions and the catalog."""

    placeholder = "%s"

    # ---------------------------------------------------------------- catalog

    @abstractmethod
    def setup(self) -> None:
        """Creates the catalog and tracking tables if missing."""

    @abstractmethod
    def catalog(self) -> list[CatalogEntry]: ...

    @abstractmethod
    def add_entry(self, entry: CatalogEntry) -> None:
        """Records a build in the catalog, with its position at 0."""

    @abstractmethod
    def ensure_position(self, *entries: CatalogEntry) -> None:
        """Makes sure each build has a position row (at 0 when new), all in one
        transaction."""

    @abstractmethod
    def create_tables(
        self, entry: CatalogEntry, projection: Projection, *, indexes: bool = True
    ) -> None:
        """Creates a build's tables (secondary indexes now, or later for bulk loads)."""

    @abstractmethod
    def create_indexes(self, entry: CatalogEntry, projection: Projection) -> None: ...

    @abstractmethod
    def drop_tables(self, entry: CatalogEntry, projection: Projection) -> None: ...

    @abstractmethod
    def switch(
        self, new: CatalogEntry, old: CatalogEntry | None, projection: Projection
    ) -> None:
        """Atomically points the public views at ``new`` and retires ``old`` (its
        position row goes, so its runner's next compare-and-set fails and it
        reloads the catalog). Raises ``SwitchBehindError`` if ``new`` is behind."""

    # ---------------------------------------------------------------- rows

    @abstractmethod
    def load(
        self, entry: CatalogEntry, table: Table, keys: Sequence[Key]
    ) -> dict[Key, dict[str, Any]]:
        """The existing rows for ``keys`` (absent keys are left out)."""

    def load_many(
        self, requests: Sequence[tuple[CatalogEntry, Table, Sequence[Key]]]
    ) -> list[dict[Key, dict[str, Any]]]:
        """``load`` for several builds and tables at once (a backend may read
        them in one round trip)."""
        return [self.load(entry, table, keys) for entry, table, keys in requests]

    @abstractmethod
    def write(self, writes: Sequence[PageWrite]) -> None:
        """Writes every page's rows and positions in one transaction. Each position
        moves by compare-and-set from ``since``: if any build is not at ``since``,
        nothing is written and ``PositionConflictError`` is raised."""

    @abstractmethod
    def position(self, entry: CatalogEntry) -> int: ...

    def positions(self, entries: Sequence[CatalogEntry]) -> list[int]:
        """The stored position of each build (a backend may read them at once)."""
        return [self.position(e) for e in entries]

    # ---------------------------------------------------------------- queries

    @abstractmethod
    def select(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Runs a read query written with ``%s`` placeholders; raw rows."""

    @abstractmethod
    def decode(self, table: Table, row: dict[str, Any]) -> dict[str, Any]:
        """A stored row back in canonical form."""

    def rows(self, table: Table, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return [self.decode(table, r) for r in self.select(sql, params)]

    def columns_sql(self, table: Table, alias: str | None = None, prefix: str = "") -> str:
        """The select list of a query of ``table``'s rows (for ``rows``): its
        columns (of ``alias``, if given), each under its own name after ``prefix``."""
        if alias is None and not prefix:
            return ", ".join(table.column_names)
        source = f"{alias}." if alias else ""
        return ", ".join(f"{source}{c} AS {prefix}{c}" for c in table.column_names)

    @abstractmethod
    def close(self) -> None: ...

    # ---------------------------------------------------------------- events

    @abstractmethod
    def events_sql(self, table: str) -> str:
        """SELECT of (position, originator_id, originator_version, topic, state)
        from the event store's ``table``, to which WHERE/ORDER clauses are appended."""

    @abstractmethod
    def uuid_param(self, value: Any) -> Any:
        """An originator id as the event store's column expects it."""
