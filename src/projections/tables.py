"""Read-table definitions shared by every backend.

Rows are folded in memory in one canonical, JSON-ready form (UUIDs and
timestamps as strings, JSON columns as Python lists/dicts), so a row means the
same thing on SQLite and PostgreSQL and a rebuild reproduces it exactly. Each
backend's store converts to and from its own column types.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

@dataclass(frozen=True)
class Column:
    name: str
    #: A logical type: text, uuid, int, float, ts (timestamp), json or bool
    #: (each store maps them to its own column types).
    type: str = "text"
    not_null: bool = False


@dataclass(frozen=True, eq=False)
class Table:
    """A read table: its public name is a view over ``<name>_v<version>``."""

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    indexes: tuple[tuple[str, ...], ...] = ()
    #: Columns most rows leave empty, looked up by equality only: an index they
    #: lead holds just the rows that have a value (``WHERE col IS NOT NULL``), so
    #: writing a row without one touches no entry of it.
    sparse: tuple[str, ...] = ()
    #: Keys are never re-created (ids from events), so a row put without being
    #: read first is new: it can be inserted without an upsert.
    fresh_keys: bool = False
    column_names: tuple[str, ...] = field(init=False)
    types: dict[str, str] = field(init=False)
    json_positions: tuple[int, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "column_names", tuple(c.name for c in self.columns))
        object.__setattr__(self, "types", {c.name: c.type for c in self.columns})
        object.__setattr__(
            self,
            "json_positions",
            tuple(i for i, c in enumerate(self.columns) if c.type == "json"),
        )

    def partial(self, index: tuple[str, ...]) -> str | None:
        """The column whose rows alone ``index`` holds (None: every row)."""
        return index[0] if index[0] in self.sparse else None

    def key_of(self, row: dict[str, Any]) -> tuple[Any, ...]:
        key = self.key
        if len(key) == 1:
            return (row[key[0]],)
        return tuple(row[k] for k in key)


#: Most times kept rendered (the cache empties when it is full).
TS_CACHE_SIZE = 65536
_stamps: dict[datetime, str] = {}


def ts(value: datetime | None) -> str | None:
    """Canonical RFC 3339 UTC text with microseconds: sorts as it reads.

    Cached (keyed by the instant: equal datetimes render alike): every
    projection formats the same event's timestamp."""
    if value is None:
        return None
    text = _stamps.get(value)
    if text is None:
        if len(_stamps) >= TS_CACHE_SIZE:
            _stamps.clear()
        text = value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds")
        text = _stamps[value] = text + "Z"
    return text


def stamp(raw: str) -> datetime:
    """A stored ISO time parsed, its canonical text (``ts``) remembered: in the
    common form (UTC, microseconds) that text is the stored one, reshaped
    without formatting."""
    value = datetime.fromisoformat(raw)
    if len(raw) == 32 and raw.endswith("+00:00"):
        if len(_stamps) >= TS_CACHE_SIZE:
            _stamps.clear()
        _stamps[value] = raw[:26] + "Z"
    return value


#: Most ids a rebuild keeps rendered (the cache empties when it is full).
SID_CACHE_SIZE = 65536
_sids: dict[int, str] = {}


def sid(value: UUID | str) -> str:
    """A UUID as canonical text (cached: each event's ids are rendered by every
    projection). Keyed by the UUID's integer, whose hash is computed in C; a
    UUID's own ``__hash__`` and ``__eq__`` are Python code, and cost more than
    the rendering they save."""
    if type(value) is str:
        return value
    number = value.int
    text = _sids.get(number)
    if text is None:
        if len(_sids) >= SID_CACHE_SIZE:
            _sids.clear()
        text = _sids[number] = str(value)
    return text


def parse_ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def physical_name(table: str, version: int, generation: int) -> str:
    """``engineer_assignments_v3``; a rebuild of the same version adds ``_g2``…"""
    base = f"{table}_v{version}"
    return base if generation <= 1 else f"{base}_g{generation}"
