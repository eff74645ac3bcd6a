"""The fold harness of the projection unit tests: events in, rows out, no database.

Real domain events come from driving ``Ticket`` / ``Engineer`` aggregates (every
command gets an explicit, made-up timestamp so that no row value can come from
the wall clock). ``Harness`` plays the runner: for every page of events it
seeds a fresh ``Rows`` working set with the rows each projection asked for via
``keys()`` (as the runner loads them from its table), folds the page, and
applies ``Rows.changes()`` to an in-memory "table". A fold that reads a row it
did not declare in ``keys()`` therefore shows up as a wrong row here too.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from hypothesis import strategies as st

from ledger.domain import (
    COMPLETION_STATUSES,
    Engineer,
    Ticket,
)
from ledger.errors import LedgerError
from projections.assignments import (
    AssignmentHistoryProjection,
    CurrentAssignmentsProjection,
    EngineerAssignmentsProjection,
)
from projections.base import Key, Projection, Rows
from projections.engineers import EngineersProjection
from projections.registry import ALL_PROJECTIONS
from projections.tables import Table, ts
from projections.tickets import TicketsProjection


TICKETS = TicketsProjection.table
ASSIGNMENTS = EngineerAssignmentsProjection.table
CURRENT = CurrentAssignmentsProjection.table
HISTORY = AssignmentHistoryProjection.table
ENGINEERS = EngineersProjection.table

DISPATCHER = "dispatcher@example.com"
ADMIN = "admin@example.com"
#: Far from "now", so a wall-clock value in a row cannot pass for an event time.
T0 = datetime(2021, 6, 1, 8, 30, 15, 250000, tzinfo=UTC)
CANONICAL_TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


# --------------------------------------------------------------------- the story


class Story:
    """Drives aggregates with explicit timestamps and keeps their events in order."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start
        self.events: list[Any] = []

    def tick(self) -> datetime:
        # Odd steps (minutes + microseconds) so timestamps never collide.
        self.now += timedelta(minutes=7, microseconds=1234)
        return self.now

    def _collect(self, aggregate: Ticket | Engineer) -> None:
        self.events.extend(aggregate.collect_events())

    def engineer(self, engineer_id: str, **kw: Any) -> Engineer:
        kw.setdefault("name", engineer_id.title())
        kw.setdefault("actor", ADMIN)
        engineer = Engineer.register(engineer_id=engineer_id, timestamp=self.tick(), **kw)
        self._collect(engineer)
        return engineer

    def ticket(self, **kw: Any) -> Ticket:
        kw.setdefault("title", "No signal on ONT")
        kw.setdefault("actor", DISPATCHER)
        ticket = Ticket.open(ticket_id=kw.pop("ticket_id", uuid4()), timestamp=self.tick(), **kw)
        self._collect(ticket)
        return ticket

    def do(self, aggregate: Ticket | Engineer, command: str, *args: Any, **kw: Any) -> Any:
        """Runs a command; an id keyword (assignment_id / new_assignment_id) is made up."""
        if command == "assign":
            kw.setdefault("assignment_id", uuid4())
        if command in ("escalate", "reassign"):
            kw.setdefault("new_assignment_id", uuid4())
        kw.setdefault("actor", DISPATCHER)
        result = getattr(aggregate, command)(*args, timestamp=kw.pop("timestamp", None) or self.tick(), **kw)
        self._collect(aggregate)
        return result

    @property
    def last(self) -> Any:
        return self.events[-1]

    def position(self, event: Any) -> int:
        """The synthetic position of an event: 1..n in recording order."""
        return next(i for i, e in enumerate(self.events, 1) if e is event)


# --------------------------------------------------------------------- the harness


def _check_row_shape(table: Table, row: dict[str, Any]) -> None:
    """Every row has exactly the table's columns, in canonical JSON-ready form."""
    assert set(row) == set(table.column_names), table.name
    for column in table.columns:
        value = row[column.name]
        if value is None:
            assert not column.not_null, f"{table.name}.{column.name} is NULL"
            continue
        kind = column.type
        if kind == "uuid":
            assert isinstance(value, str) and str(UUID(value)) == value, (column.name, value)
        elif kind == "ts":
            assert isinstance(value, str) and CANONICAL_TS.match(value), (column.name, value)
        elif kind == "int":
            assert type(value) is int, (column.name, value)
        elif kind == "float":
            assert isinstance(value, (int, float)) and not isinstance(value, bool), (column.name, value)
        elif kind == "bool":
            assert type(value) is bool, (column.name, value)
        elif kind == "json":
            assert isinstance(value, (list, dict)), (column.name, value)
        else:
            assert isinstance(value, str), (column.name, value)


class Harness:
    """A database-free runner: pages of events -> Rows -> fold -> in-memory tables."""

    def __init__(self, projections: Sequence[Projection] | None = None) -> None:
        self.projections = list(projections or [cls() for cls in ALL_PROJECTIONS])
        self.tables: dict[str, dict[Key, dict[str, Any]]] = {
            t.name: {} for p in self.projections for t in p.tables
        }
        self.folded = 0  # how many events of the story have been folded
        self.event_times: set[str] = set()

    def fold(self, events: Sequence[Any], *, first_position: int = 1, page_size: int = 1) -> None:
        positioned = list(enumerate(events, first_position))
        for i in range(0, len(positioned), page_size):
            self._page(positioned[i : i + page_size])

    def follow(self, story: Story, page_size: int = 1) -> Harness:
        """Folds the story's events that are new since the last call."""
        new = story.events[self.folded :]
        self.fold(new, first_position=self.folded + 1, page_size=page_size)
        self.folded += len(new)
        return self

    def _page(self, page: Sequence[tuple[int, Any]]) -> None:
        for _position, event in page:
            self.event_times.add(ts(event.timestamp))
        for projection in self.projections:
            rows = Rows()
            for _position, event in page:
                if type(event) not in projection.event_types:
                    continue
                for table, key in projection.keys(event):
                    # Loaded as the runner does: a copy of the stored row, or None.
                    stored = self.tables[table.name].get(key)
                    rows.rows.setdefault(table.name, {})[key] = copy.deepcopy(stored)
            for position, event in page:
                projection.fold(event, position, rows)
            for table in projection.tables:
                upserts, deletes = rows.changes(table)
                for row in upserts:
                    _check_row_shape(table, row)
                    self.tables[table.name][table.key_of(row)] = copy.deepcopy(row)
                for key in deletes:
                    self.tables[table.name].pop(key, None)

    # ------------------------------------------------------------- reading

    def rows(self, table: Table) -> list[dict[str, Any]]:
        return [self.tables[table.name][k] for k in sorted(self.tables[table.name], key=repr)]

    def row(self, table: Table, *key: Any) -> dict[str, Any] | None:
        return self.tables[table.name].get(tuple(str(k) if isinstance(k, UUID) else k for k in key))

    def ticket(self, ticket: Ticket) -> dict[str, Any]:
        row = self.row(TICKETS, ticket.id)
        assert row is not None
        return row

    def assignment(self, assignment_id: UUID) -> dict[str, Any]:
        row = self.row(ASSIGNMENTS, assignment_id)
        assert row is not None
        return row

    def current(self, ticket: Ticket) -> dict[str, Any] | None:
        return self.row(CURRENT, ticket.id)

    def history(self, ticket: Ticket | None = None) -> list[dict[str, Any]]:
        rows = sorted(self.tables[HISTORY.name].values(), key=lambda r: r["id"])
        return [r for r in rows if ticket is None or r["ticket_id"] == str(ticket.id)]

    def engineer(self, engineer_id: str) -> dict[str, Any]:
        row = self.row(ENGINEERS, engineer_id)
        assert row is not None
        return row

    def open_assignments(self) -> dict[str, int]:
        return {r["id"]: r["open_assignments"] for r in self.tables[ENGINEERS.name].values()}

    def snapshot(self) -> dict[str, dict[Key, dict[str, Any]]]:
        return copy.deepcopy(self.tables)

    def all_timestamps(self) -> list[tuple[str, str, Any]]:
        out = []
        for projection in self.projections:
            for table in projection.tables:
                for row in self.tables[table.name].values():
                    for column in table.columns:
                        if column.type == "ts" and row[column.name] is not None:
                            out.append((table.name, column.name, row[column.name]))
        return out


def at(event: Any) -> str:
    """The canonical text of an event's timestamp."""
    value = ts(event.timestamp)
    assert value is not None
    return value


def assert_times_come_from_events(h: Harness) -> None:
    stamps = h.all_timestamps()
    assert stamps, "expected some timestamps"
    for table, column, value in stamps:
        assert value in h.event_times, f"{table}.{column} = {value} is not an event time"
        assert not value.startswith(str(datetime.now(UTC).year)), (table, column, value)


# ===================================================================== tickets

# ===================================================================== replay properties


def busy_story() -> Story:
    story = Story()
    for name, tier in (("ana", 1), ("ben", 2), ("cy", 3)):
        story.engineer(name, tier=tier)
    for i in range(5):
        t = story.ticket(reference=f"R-{i}")
        a = story.do(t, "assign", engineer_id="ana", tier=1)
        story.do(t, "accept", a.id)
        if i % 2:
            story.do(t, "start", a.id)
        b = story.do(t, "escalate", next_engineer_id="ben", reason="L2")
        if i % 3 == 0:
            c = story.do(t, "reassign", b.id, new_engineer_id="cy", reason="swap")
            story.do(t, "accept", c.id)
            story.do(t, "complete", c.id, completion_status="success", time_spent_hours=1.0,
                     parts_used=[{"part_number": "P", "part_name": "p", "quantity": 1, "cost": 1.0}])
            story.do(t, "close", reason=None)
            story.do(t, "reopen", reason="again")
        elif i % 3 == 1:
            story.do(t, "reject", b.id, reason="no")
        else:
            story.do(t, "remove", b.id, reason=None)
    return story
# ===================================================================== hypothesis

ENGINEER_IDS = ("ana", "ben", "cy", "dee")
#: Weighted so that long, valid stories (accept, start, complete) are common.
OPS = ("assign", "assign", "assign", "accept", "accept", "accept", "start", "start", "start",
       "complete", "complete", "complete", "reject", "escalate", "reassign", "remove", "close",
       "reopen", "deactivate")

command_strategy = st.tuples(
    st.sampled_from(OPS),
    st.integers(min_value=0, max_value=2),  # ticket
    st.integers(min_value=0, max_value=len(ENGINEER_IDS) - 1),  # engineer
    st.sampled_from(COMPLETION_STATUSES),
    st.booleans(),  # act on the active assignment (True) or the latest one
)


def run_commands(commands: Sequence[tuple[str, int, int, str, bool]]) -> tuple[Story, list[Ticket]]:
    story = Story()
    engineers = {e: story.engineer(e) for e in ENGINEER_IDS}
    tickets = [story.ticket() for _ in range(3)]
    for op, ti, ei, outcome, use_active in commands:
        t = tickets[ti]
        engineer_id = ENGINEER_IDS[ei]
        target = t.active_id if use_active and t.active_id else (
            list(t.assignments)[-1] if t.assignments else uuid4())
        try:
            if op == "assign":
                story.do(t, "assign", engineer_id=engineer_id, tier=1 + ei % 2)
            elif op in ("accept", "start"):
                story.do(t, op, target)
            elif op in ("reject", "remove"):
                story.do(t, op, target, reason=op)
            elif op == "complete":
                story.do(t, "complete", target, completion_status=outcome, time_spent_hours=1.0)
            elif op == "escalate":
                story.do(t, "escalate", next_engineer_id=engineer_id, reason="up")
            elif op == "reassign":
                story.do(t, "reassign", target, new_engineer_id=engineer_id, reason=None)
            elif op in ("close", "reopen"):
                story.do(t, op, reason=op)
            elif op == "deactivate":
                engineer = engineers[engineer_id]
                story.do(engineer, "update", changes={"active": not engineer.active})
        except LedgerError:
            # A refused command records nothing.
            assert not t.pending_events
    return story, tickets

