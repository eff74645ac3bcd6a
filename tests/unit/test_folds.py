"""Unit tests of the projection folds: events in, rows out. No database.

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
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, NamedTuple
from uuid import UUID, uuid4

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.domain import (
    ACTIVE_STATUSES,
    COMPLETION_STATUSES,
    Engineer,
    Ticket,
)
from ledger.errors import LedgerError
from projections import pages
from projections.assignments import (
    AssignmentHistoryProjection,
    CurrentAssignmentsProjection,
    EngineerAssignmentsProjection,
)
from projections.base import Key, Projection, Rows
from projections.engineers import EngineersProjection
from projections.pages import RowCache, Slot, run_pages
from projections.registry import ALL_PROJECTIONS
from projections.store import CatalogEntry, PageWrite
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


# --------------------------------------------------------------------- fixtures


@pytest.fixture
def story() -> Story:
    return Story()


@pytest.fixture
def roster(story: Story) -> dict[str, Engineer]:
    return {
        "ana": story.engineer("ana", name="Ana Silva", skills=["fibre"], tier=1, capacity=3,
                              availability=0.9),
        "ben": story.engineer("ben", name="Ben Okoro", skills=["fibre", "pon"], tier=2,
                              capacity=2, availability=0.5),
        "cy": story.engineer("cy", name="Cy Tan", skills=["core"], tier=3, capacity=1,
                             availability=1.0),
    }


# ===================================================================== tickets


def test_ticket_opened_row(story: Story) -> None:
    t = story.ticket(title="PON port flapping", description="32 homes", priority="critical",
                     required_skill="pon", equipment_id="EQ-7", reference="REF-1")
    opened = story.last
    h = Harness().follow(story)
    assert h.ticket(t) == {
        "id": str(t.id),
        "title": "PON port flapping",
        "description": "32 homes",
        "priority": "critical",
        "required_skill": "pon",
        "equipment_id": "EQ-7",
        "reference": "REF-1",
        "status": "open",
        "version": 1,
        "current_assignment_id": None,
        "current_engineer_id": None,
        "current_tier": None,
        "assignment_count": 0,
        "opened_by": DISPATCHER,
        "opened_position": 1,
        "created_at": at(opened),
        "updated_at": at(opened),
        "resolved_at": None,
        "closed_at": None,
        "territory": None,
        "required_certification": None,
        "due_at": None,
        "location_pole": None,
        "location_pon": None,
        "location_zone": None,
        "location_dr": None,
    }


def test_ticket_status_follows_its_assignments(story: Story, roster: dict[str, Engineer]) -> None:
    t = story.ticket()
    created = at(story.last)
    h = Harness().follow(story)

    def check(status: str, **expected: Any) -> None:
        h.follow(story)
        row = h.ticket(t)
        assert row["status"] == status == t.status
        assert row["version"] == t.version
        assert row["updated_at"] == at(story.last)
        assert row["created_at"] == created
        for key, value in expected.items():
            assert row[key] == value, key

    no_current = {"current_assignment_id": None, "current_engineer_id": None, "current_tier": None}

    a1 = story.do(t, "assign", engineer_id="ana", tier=1)
    check("assigned", current_assignment_id=str(a1.id), current_engineer_id="ana",
          current_tier=1, assignment_count=1)
    story.do(t, "accept", a1.id, actor="ana")
    check("assigned", current_assignment_id=str(a1.id), assignment_count=1)
    story.do(t, "start", a1.id, actor="ana")
    check("in_progress", current_assignment_id=str(a1.id), current_engineer_id="ana")
    a2 = story.do(t, "escalate", next_engineer_id="ben", reason="Beyond the drop cable")
    check("assigned", current_assignment_id=str(a2.id), current_engineer_id="ben",
          current_tier=2, assignment_count=2)
    a3 = story.do(t, "reassign", a2.id, new_engineer_id="cy", reason="Shift change")
    check("assigned", current_assignment_id=str(a3.id), current_engineer_id="cy",
          current_tier=2, assignment_count=3)
    story.do(t, "reject", a3.id, reason="Out of area", actor="cy")
    check("open", assignment_count=3, **no_current)
    a4 = story.do(t, "assign", engineer_id="ana", tier=1)
    check("assigned", current_assignment_id=str(a4.id), assignment_count=4)
    story.do(t, "remove", a4.id, reason="Duplicate dispatch")
    check("open", assignment_count=4, **no_current)
    a5 = story.do(t, "assign", engineer_id="ben", tier=2)
    story.do(t, "accept", a5.id, actor="ben")
    story.do(t, "complete", a5.id, completion_status="parts_required", time_spent_hours=1.0,
             actor="ben")
    check("open", assignment_count=5, resolved_at=None, **no_current)
    a6 = story.do(t, "assign", engineer_id="ben", tier=2)
    story.do(t, "accept", a6.id, actor="ben")
    story.do(t, "complete", a6.id, completion_status="success", time_spent_hours=2.5,
             actor="ben")
    resolved = at(story.last)
    check("resolved", assignment_count=6, resolved_at=resolved, closed_at=None, **no_current)
    story.do(t, "close", reason="Customer confirmed")
    closed = at(story.last)
    check("closed", resolved_at=resolved, closed_at=closed, **no_current)
    story.do(t, "reopen", reason="Fault came back")
    check("open", resolved_at=None, closed_at=None, assignment_count=6, **no_current)
    a7 = story.do(t, "assign", engineer_id="ana", tier=1)
    check("assigned", current_assignment_id=str(a7.id), assignment_count=7)
    story.do(t, "remove", a7.id, reason=None)
    story.do(t, "close", reason="Withdrawn")
    check("closed", closed_at=at(story.last), resolved_at=None)
    assert_times_come_from_events(h)


def test_ticket_completed_failed_leaves_it_open(story: Story, roster: dict[str, Engineer]) -> None:
    t = story.ticket()
    a = story.do(t, "assign", engineer_id="ana", tier=1)
    story.do(t, "accept", a.id)
    story.do(t, "complete", a.id, completion_status="failed", time_spent_hours=0.5)
    row = Harness().follow(story).ticket(t)
    assert row["status"] == "open"
    assert row["resolved_at"] is None
    assert row["current_assignment_id"] is None


def test_ticket_timestamps_are_canonical_utc_text(story: Story) -> None:
    """A timestamp recorded in another zone is stored as the same instant in UTC."""
    sast = timezone(timedelta(hours=2))
    t = story.ticket()
    story.do(t, "close", reason=None, timestamp=datetime(2022, 1, 2, 3, 4, 5, 6, tzinfo=sast))
    row = Harness().follow(story).ticket(t)
    assert row["closed_at"] == "2022-01-02T01:04:05.000006Z"
    assert row["updated_at"] == "2022-01-02T01:04:05.000006Z"


# ===================================================================== engineer_assignments


def _assignment(**overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(ASSIGNMENTS.column_names)
    row.update(overrides)
    return row


def test_assignment_assigned_row(story: Story, roster: dict[str, Engineer]) -> None:
    t = story.ticket(equipment_id="EQ-1")
    a = story.do(t, "assign", engineer_id="ana", tier=1, tier_name="Field",
                 reason="Initial dispatch", assignment_type="auto")
    assigned = at(story.last)
    h = Harness().follow(story)
    assert h.assignment(a.id) == _assignment(
        id=str(a.id), ticket_id=str(t.id), engineer_id="ana", equipment_id="EQ-1",
        assignment_sequence=1, assignment_tier=1, assignment_tier_name="Field",
        assignment_reason="Initial dispatch", assignment_type="auto", status="assigned",
        assigned_by=DISPATCHER, assigned_at=assigned, created_at=assigned, updated_at=assigned,
    )

    # Own equipment beats the ticket's; default tier name is L<tier>.
    story.do(t, "remove", a.id, reason=None)
    b = story.do(t, "assign", engineer_id="ben", tier=2, equipment_id="EQ-2")
    row = h.follow(story).assignment(b.id)
    assert (row["equipment_id"], row["assignment_tier_name"], row["assignment_type"]) == (
        "EQ-2", "L2", "manual")
    assert row["assignment_sequence"] == 2
    assert row["assignment_reason"] is None


def test_assignment_accept_start_complete(story: Story, roster: dict[str, Engineer]) -> None:
    t = story.ticket()
    a = story.do(t, "assign", engineer_id="ana", tier=1)
    assigned = at(story.last)
    h = Harness().follow(story)
    base = h.assignment(a.id)

    story.do(t, "accept", a.id, actor="ana")
    accepted = at(story.last)
    assert h.follow(story).assignment(a.id) == {
        **base, "status": "accepted", "accepted_at": accepted, "updated_at": accepted}

    story.do(t, "start", a.id, actor="ana")
    started = at(story.last)
    assert h.follow(story).assignment(a.id) == {
        **base, "status": "in_progress", "accepted_at": accepted, "started_at": started,
        "updated_at": started}

    parts = [{"part_number": "SPL-1x8", "part_name": "1:8 splitter", "quantity": 2, "cost": 42.5}]
    story.do(t, "complete", a.id, completion_status="success", time_spent_hours=3.25,
             diagnosis="Faulty splitter", actions_taken="Replaced splitter", parts_used=parts,
             customer_rating=5, customer_feedback="Quick and tidy", actor="ana")
    completed = at(story.last)
    assert h.follow(story).assignment(a.id) == {
        **base, "status": "completed", "accepted_at": accepted, "started_at": started,
        "completed_at": completed, "completion_status": "success", "time_spent_hours": 3.25,
        "diagnosis": "Faulty splitter", "actions_taken": "Replaced splitter",
        "parts_used": parts, "customer_rating": 5, "customer_feedback": "Quick and tidy",
        "updated_at": completed,
    }
    assert base["created_at"] == base["assigned_at"] == assigned
    assert_times_come_from_events(h)


@pytest.mark.parametrize("outcome", COMPLETION_STATUSES)
def test_assignment_completion_outcomes(
    story: Story, roster: dict[str, Engineer], outcome: str
) -> None:
    t = story.ticket()
    a = story.do(t, "assign", engineer_id="ana", tier=1)
    story.do(t, "accept", a.id)
    story.do(t, "complete", a.id, completion_status=outcome, time_spent_hours=0.0)
    row = Harness().follow(story).assignment(a.id)
    assert row["status"] == ("failed" if outcome == "failed" else "completed")
    assert row["completion_status"] == outcome
    assert row["completed_at"] == at(story.last)
    assert row["time_spent_hours"] == 0.0
    assert row["parts_used"] is None
    assert row["started_at"] is None


def test_assignment_rejected(story: Story, roster: dict[str, Engineer]) -> None:
    t = story.ticket()
    a = story.do(t, "assign", engineer_id="ana", tier=1)
    h = Harness().follow(story)
    base = h.assignment(a.id)
    story.do(t, "reject", a.id, reason="Out of area today", actor="ana")
    rejected = at(story.last)
    assert h.follow(story).assignment(a.id) == {
        **base, "status": "rejected", "rejected_at": rejected,
        "rejection_reason": "Out of area today", "updated_at": rejected}


def test_assignment_escalated(story: Story, roster: dict[str, Engineer]) -> None:
    t = story.ticket(equipment_id="EQ-9")
    a = story.do(t, "assign", engineer_id="ana", tier=1)
    story.do(t, "accept", a.id, actor="ana")
    story.do(t, "start", a.id, actor="ana")
    h = Harness().follow(story)
    before = h.assignment(a.id)
    b = story.do(t, "escalate", next_engineer_id="ben", reason="Fault beyond the drop cable",
                 next_tier_name="Specialist", actor="lead@example.com")
    escalated = at(story.last)
    h.follow(story)
    assert h.assignment(a.id) == {
        **before, "status": "escalated", "completion_status": "escalated",
        "escalation_reason": "Fault beyond the drop cable", "completed_at": escalated,
        "updated_at": escalated}
    assert h.assignment(b.id) == _assignment(
        id=str(b.id), ticket_id=str(t.id), engineer_id="ben", equipment_id="EQ-9",
        assignment_sequence=2, assignment_tier=2, assignment_tier_name="Specialist",
        assignment_reason="Fault beyond the drop cable", assignment_type="manual",
        status="assigned", assigned_by="lead@example.com", assigned_at=escalated,
        created_at=escalated, updated_at=escalated,
    )
    # Escalation from a merely assigned (not yet accepted) assignment, default tier name.
    c = story.do(t, "escalate", next_engineer_id="cy", reason="Core fault")
    h.follow(story)
    assert h.assignment(b.id)["status"] == "escalated"
    assert h.assignment(b.id)["accepted_at"] is None
    row = h.assignment(c.id)
    assert (row["assignment_tier"], row["assignment_tier_name"], row["assignment_sequence"]) == (
        3, "L3", 3)


def test_assignment_reassigned(story: Story, roster: dict[str, Engineer]) -> None:
    t = story.ticket()
    a = story.do(t, "assign", engineer_id="ana", tier=2, tier_name="Backline",
                 equipment_id="EQ-3")
    story.do(t, "accept", a.id, actor="ana")
    h = Harness().follow(story)
    before = h.assignment(a.id)
    b = story.do(t, "reassign", a.id, new_engineer_id="ben", reason="Shift change handover")
    reassigned = at(story.last)
    h.follow(story)
    assert h.assignment(a.id) == {
        **before, "status": "reassigned", "completed_at": reassigned, "updated_at": reassigned}
    assert h.assignment(a.id)["completion_status"] is None
    assert h.assignment(b.id) == _assignment(
        id=str(b.id), ticket_id=str(t.id), engineer_id="ben", equipment_id="EQ-3",
        assignment_sequence=2, assignment_tier=2, assignment_tier_name="Backline",
        assignment_reason="Shift change handover", assignment_type="manual",
        status="assigned", assigned_by=DISPATCHER, assigned_at=reassigned,
        created_at=reassigned, updated_at=reassigned,
    )


def test_assignment_removed(story: Story, roster: dict[str, Engineer]) -> None:
    t = story.ticket()
    a = story.do(t, "assign", engineer_id="ana", tier=1)
    story.do(t, "accept", a.id, actor="ana")
    story.do(t, "start", a.id, actor="ana")
    h = Harness().follow(story)
    before = h.assignment(a.id)
    story.do(t, "remove", a.id, reason="Wrong ticket")
    removed = at(story.last)
    assert h.follow(story).assignment(a.id) == {
        **before, "status": "removed", "completed_at": removed, "updated_at": removed}


# ===================================================================== current_ticket_assignments


def test_current_assignment_follows_the_active_one(story: Story, roster: dict[str, Engineer]) -> None:
    t = story.ticket()
    h = Harness().follow(story)
    assert h.current(t) is None

    a = story.do(t, "assign", engineer_id="ana", tier=1)
    assigned = at(story.last)
    assert h.follow(story).current(t) == {
        "ticket_id": str(t.id), "engineer_id": "ana", "assignment_sequence": 1,
        "assignment_tier": 1, "status": "assigned", "assigned_at": assigned,
        "completed_at": None}
    story.do(t, "accept", a.id)
    assert h.follow(story).current(t)["status"] == "accepted"
    story.do(t, "start", a.id)
    assert h.follow(story).current(t) == {
        "ticket_id": str(t.id), "engineer_id": "ana", "assignment_sequence": 1,
        "assignment_tier": 1, "status": "in_progress", "assigned_at": assigned,
        "completed_at": None}

    story.do(t, "escalate", next_engineer_id="ben", reason="L2 needed")
    escalated = at(story.last)
    assert h.follow(story).current(t) == {
        "ticket_id": str(t.id), "engineer_id": "ben", "assignment_sequence": 2,
        "assignment_tier": 2, "status": "assigned", "assigned_at": escalated,
        "completed_at": None}

    story.do(t, "reassign", t.active_id, new_engineer_id="cy", reason=None)
    reassigned = at(story.last)
    assert h.follow(story).current(t) == {
        "ticket_id": str(t.id), "engineer_id": "cy", "assignment_sequence": 3,
        "assignment_tier": 2, "status": "assigned", "assigned_at": reassigned,
        "completed_at": None}


@pytest.mark.parametrize("ending", ["reject", "complete", "complete_failed", "remove"])
def test_current_assignment_deleted_when_it_ends(
    story: Story, roster: dict[str, Engineer], ending: str
) -> None:
    t = story.ticket()
    other = story.ticket()
    a = story.do(t, "assign", engineer_id="ana", tier=1)
    story.do(other, "assign", engineer_id="ben", tier=2)
    if ending.startswith("complete"):
        story.do(t, "accept", a.id)
    h = Harness().follow(story)
    assert h.current(t) is not None
    if ending == "reject":
        story.do(t, "reject", a.id, reason="No")
    elif ending == "remove":
        story.do(t, "remove", a.id, reason=None)
    else:
        status = "failed" if ending == "complete_failed" else "success"
        story.do(t, "complete", a.id, completion_status=status, time_spent_hours=1.0)
    h.follow(story)
    assert h.current(t) is None
    assert h.current(other) is not None  # only that ticket's row goes
    assert len(h.rows(CURRENT)) == 1


# ===================================================================== assignment_history


def test_history_one_row_per_change(story: Story, roster: dict[str, Engineer]) -> None:
    t = story.ticket()
    a = story.do(t, "assign", engineer_id="ana", tier=1, reason="Initial dispatch")
    e_assigned = story.last
    story.do(t, "accept", a.id, actor="ana")
    e_accepted = story.last
    story.do(t, "start", a.id, actor="ana")
    e_started = story.last
    b = story.do(t, "escalate", next_engineer_id="ben", reason="Needs L2", actor="lead")
    e_escalated = story.last
    c = story.do(t, "reassign", b.id, new_engineer_id="cy", reason="Ben is off", actor="lead")
    e_reassigned = story.last
    story.do(t, "reject", c.id, reason="Not my area", actor="cy")
    e_rejected = story.last
    d = story.do(t, "assign", engineer_id="ben", tier=2)
    e_assigned2 = story.last
    story.do(t, "remove", d.id, reason="Duplicate")
    e_removed = story.last
    f = story.do(t, "assign", engineer_id="ana", tier=1)
    e_assigned3 = story.last
    story.do(t, "accept", f.id, actor="ana")
    e_accepted3 = story.last
    story.do(t, "complete", f.id, completion_status="success", time_spent_hours=1.5, actor="ana")
    e_completed = story.last
    story.do(t, "close", reason="Done")  # not an assignment change: no row

    h = Harness().follow(story)
    p = story.position

    def row(event: Any, n: int, assignment: Any, action: str, previous: str | None,
            new: str | None, reason: str | None, by: str) -> dict[str, Any]:
        return {"id": p(event) * 8 + n, "assignment_id": str(assignment.id),
                "ticket_id": str(t.id), "previous_engineer": previous, "new_engineer": new,
                "action": action, "reason": reason, "changed_by": by, "changed_at": at(event)}

    assert h.history(t) == [
        row(e_assigned, 0, a, "created", None, "ana", "Initial dispatch", DISPATCHER),
        row(e_accepted, 0, a, "accepted", "ana", "ana", None, "ana"),
        row(e_started, 0, a, "started", "ana", "ana", None, "ana"),
        row(e_escalated, 0, a, "escalated", "ana", "ben", "Needs L2", "lead"),
        row(e_escalated, 1, b, "created", "ana", "ben", "Needs L2", "lead"),
        row(e_reassigned, 0, b, "reassigned", "ben", "cy", "Ben is off", "lead"),
        row(e_reassigned, 1, c, "created", "ben", "cy", "Ben is off", "lead"),
        row(e_rejected, 0, c, "rejected", "cy", None, "Not my area", "cy"),
        row(e_assigned2, 0, d, "created", None, "ben", None, DISPATCHER),
        row(e_removed, 0, d, "removed", "ben", None, "Duplicate", DISPATCHER),
        row(e_assigned3, 0, f, "created", None, "ana", None, DISPATCHER),
        row(e_accepted3, 0, f, "accepted", "ana", "ana", None, "ana"),
        row(e_completed, 0, f, "completed", "ana", "ana", "success", "ana"),
    ]
    actions = {r["action"] for r in h.history()}
    assert actions == {"created", "accepted", "rejected", "started", "completed", "escalated",
                       "reassigned", "removed"}
    assert_times_come_from_events(h)


def test_history_ids_are_deterministic_and_in_ledger_order(
    story: Story, roster: dict[str, Engineer]
) -> None:
    tickets = [story.ticket() for _ in range(3)]
    for t in tickets:
        story.do(t, "assign", engineer_id="ana", tier=1)
        story.do(t, "escalate", next_engineer_id="ben", reason="up")
        story.do(t, "reassign", t.active_id, new_engineer_id="cy", reason="swap")
        story.do(t, "remove", t.active_id, reason=None)
    one = Harness().follow(story)
    again = Harness().follow(story, page_size=4)
    assert one.history() == again.history()
    ids = [r["id"] for r in one.history()]
    assert ids == sorted(ids) and len(ids) == len(set(ids)) == 3 * (1 + 2 + 2 + 1)


# ===================================================================== engineers


def test_engineer_registered_row(story: Story) -> None:
    story.engineer("ana", name="Ana Silva", skills=["fibre", "otdr"], tier=2, capacity=4,
                   availability=0.75)
    registered = at(story.last)
    h = Harness().follow(story)
    assert h.engineer("ana") == {
        "id": "ana", "name": "Ana Silva", "skills": ["fibre", "otdr"], "tier": 2, "capacity": 4,
        "availability": 0.75, "active": True, "open_assignments": 0, "registered_position": 1,
        "created_at": registered, "updated_at": registered, "territories": [],
        "certifications": [],
    }


def test_engineer_updated_patches_fields(story: Story, roster: dict[str, Engineer]) -> None:
    t = story.ticket()
    story.do(t, "assign", engineer_id="ana", tier=1)
    h = Harness().follow(story)
    before = h.engineer("ana")
    story.do(roster["ana"], "update", changes={"capacity": 7, "skills": ["fibre", "wifi"],
                                               "active": False}, actor=ADMIN)
    updated = at(story.last)
    assert h.follow(story).engineer("ana") == {
        **before, "capacity": 7, "skills": ["fibre", "wifi"], "active": False,
        "updated_at": updated}
    assert h.engineer("ana")["open_assignments"] == 1
    assert h.engineer("ana")["created_at"] == before["created_at"] != updated
    # Other engineers are untouched.
    assert h.engineer("ben")["updated_at"] == h.engineer("ben")["created_at"]


def test_engineer_open_assignments_count_up_and_down(
    story: Story, roster: dict[str, Engineer]
) -> None:
    h = Harness().follow(story)
    t1, t2, t3 = story.ticket(), story.ticket(), story.ticket()

    def load() -> dict[str, int]:
        return h.follow(story).open_assignments()

    a1 = story.do(t1, "assign", engineer_id="ana", tier=1)
    assert load() == {"ana": 1, "ben": 0, "cy": 0}
    story.do(t2, "assign", engineer_id="ana", tier=1)
    assert load() == {"ana": 2, "ben": 0, "cy": 0}
    story.do(t1, "accept", a1.id)
    story.do(t1, "start", a1.id)
    assert load() == {"ana": 2, "ben": 0, "cy": 0}  # accept/start do not change the load
    b1 = story.do(t1, "escalate", next_engineer_id="ben", reason="L2")
    assert load() == {"ana": 1, "ben": 1, "cy": 0}
    c1 = story.do(t1, "reassign", b1.id, new_engineer_id="cy", reason=None)
    assert load() == {"ana": 1, "ben": 0, "cy": 1}
    story.do(t1, "accept", c1.id)
    story.do(t1, "complete", c1.id, completion_status="success", time_spent_hours=1.0)
    assert load() == {"ana": 1, "ben": 0, "cy": 0}
    story.do(t2, "reject", t2.active_id, reason="busy")
    assert load() == {"ana": 0, "ben": 0, "cy": 0}
    story.do(t3, "assign", engineer_id="ben", tier=2)
    story.do(t2, "assign", engineer_id="ben", tier=2)
    assert load() == {"ana": 0, "ben": 2, "cy": 0}
    story.do(t3, "remove", t3.active_id, reason=None)
    assert load() == {"ana": 0, "ben": 1, "cy": 0}
    story.do(t2, "accept", t2.active_id)
    story.do(t2, "complete", t2.active_id, completion_status="failed", time_spent_hours=2.0)
    assert load() == {"ana": 0, "ben": 0, "cy": 0}
    # Escalating to the engineer who already holds it nets to zero.
    story.do(t3, "assign", engineer_id="ben", tier=2)
    story.do(t3, "escalate", next_engineer_id="ben", reason="self")
    assert load() == {"ana": 0, "ben": 1, "cy": 0}
    assert_times_come_from_events(h)


def test_engineer_load_does_not_touch_updated_at(story: Story, roster: dict[str, Engineer]) -> None:
    """Assignment events change the count only; the row's timestamps stay as registered."""
    h = Harness().follow(story)
    before = h.engineer("ana")
    t = story.ticket()
    story.do(t, "assign", engineer_id="ana", tier=1)
    assert h.follow(story).engineer("ana") == {**before, "open_assignments": 1}


def test_events_for_unknown_rows_are_ignored(story: Story) -> None:
    """An assignment event for an engineer that was never registered (or a ticket this
    projection never saw) changes nothing and invents no row."""
    t = story.ticket()
    story.do(t, "assign", engineer_id="ghost", tier=1)
    h = Harness()
    h.fold(story.events[1:], first_position=2)  # without the Opened event
    assert h.rows(TICKETS) == []
    assert h.rows(ENGINEERS) == []
    assert len(h.rows(ASSIGNMENTS)) == 1


def test_projections_ignore_events_they_do_not_handle(story: Story, roster: dict[str, Engineer]) -> None:
    t = story.ticket()
    story.do(t, "close", reason=None)
    story.do(roster["ana"], "update", changes={"tier": 2})
    for projection in (EngineerAssignmentsProjection(), CurrentAssignmentsProjection(),
                       AssignmentHistoryProjection()):
        assert not any(type(e) in projection.event_types for e in story.events)
    h = Harness().follow(story)
    assert h.rows(ASSIGNMENTS) == h.rows(CURRENT) == h.rows(HISTORY) == []


# ===================================================================== replay properties


def _busy_story() -> Story:
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


@pytest.mark.parametrize("page_size", [2, 3, 7, 1000])
def test_page_size_does_not_change_the_rows(page_size: int) -> None:
    story = _busy_story()
    one_by_one = Harness().follow(story)
    paged = Harness().follow(story, page_size=page_size)
    assert paged.snapshot() == one_by_one.snapshot()


def test_replay_is_deterministic() -> None:
    story = _busy_story()
    first = Harness().follow(story).snapshot()
    second = Harness().follow(story, page_size=5).snapshot()
    assert first == second


class _MemoryStore:
    """The ``ReadStore`` methods ``run_pages`` uses, in memory."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[Key, dict[str, Any]]] = {}
        self.positions: dict[str, int] = {}
        self.loads = 0

    def load_many(
        self, requests: Sequence[tuple[CatalogEntry, Table, Sequence[Key]]]
    ) -> list[dict[Key, Any]]:
        self.loads += 1
        found = []
        for _entry, table, keys in requests:
            stored = self.tables.setdefault(table.name, {})
            found.append({k: copy.deepcopy(stored[k]) for k in keys if k in stored})
        return found

    def position(self, entry: CatalogEntry) -> int:
        return self.positions.get(entry.tracking_name, 0)

    def write(self, writes: Iterable[PageWrite]) -> None:
        for w in writes:
            for table in w.projection.tables:
                upserts, deletes = w.rows.changes(table)
                stored = self.tables.setdefault(table.name, {})
                for row in upserts:
                    stored[table.key_of(row)] = copy.deepcopy(row)
                for key in deletes:
                    stored.pop(key, None)
            self.positions[w.entry.tracking_name] = w.position


class _Stored(NamedTuple):
    id: int
    event: Any


class _MemoryLog:
    """The parts of a ``Ledger`` ``run_pages`` reads: its notification log (here,
    the events themselves) and its mapper."""

    def __init__(self, events: Sequence[Any]) -> None:
        self.log = [_Stored(position, e) for position, e in enumerate(events, 1)]
        self.recorder = self.mapper = self

    def select_notifications(
        self, start: int, limit: int, stop: int | None = None, topics: Sequence[str] = (),
        *, inclusive_of_start: bool = True,
    ) -> list[_Stored]:
        assert not topics and not inclusive_of_start
        return [n for n in self.log if start < n.id <= (stop or n.id)][:limit]

    def max_notification_id(self) -> int:
        return len(self.log)

    def to_domain_event(self, stored: _Stored) -> Any:
        return stored.event


class _LateWriter:
    """A page writer that writes a page only when its outcome is asked for: the
    slowest schedule ``run_pages`` allows (the next page is read and folded
    before the last one is in the store), made deterministic."""

    def __init__(self, *_args: Any, **_kwargs: Any) -> None:
        pass

    def submit(self, fn: Callable[..., None], *args: Any) -> Future[None]:
        future: Future[None] = Future()
        result = future.result

        def write_then_result(timeout: float | None = None) -> None:
            if not future.done():
                try:
                    future.set_result(fn(*args))
                except BaseException as e:  # noqa: BLE001 - handed to the caller
                    future.set_exception(e)
            return result(timeout)

        future.result = write_then_result  # type: ignore[method-assign]
        return future

    def shutdown(self, wait: bool = True) -> None:
        pass


@pytest.mark.parametrize("late_writes", [False, True])
@pytest.mark.parametrize("page_size", [1, 4, 7, 1000])
def test_run_pages_matches_the_pure_folds(
    page_size: int, late_writes: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``run_pages`` -- the loop of the live runner and of rebuilds: a tiny row
    cache, the next full page folded while the last one is written -- gives the
    same rows as the harness, whatever the page size and however the writes are
    scheduled; every slot ends at the last position."""
    if late_writes:
        monkeypatch.setattr(pages, "ThreadPoolExecutor", _LateWriter)
    story = _busy_story()
    expected = Harness().follow(story).snapshot()
    store = _MemoryStore()
    slots = [
        Slot(CatalogEntry(cls.name, cls.version, 1, "live", "x"), cls(), 0, RowCache(maxsize=1))
        for cls in ALL_PROJECTIONS
    ]
    log = _MemoryLog(story.events)
    read = run_pages(log, store, slots, page_size=page_size)  # type: ignore[arg-type]
    assert read == len(story.events)
    assert {name: store.tables.get(name, {}) for name in expected} == expected
    assert {s.position for s in slots} == {len(story.events)}
    assert set(store.positions.values()) == {len(story.events)}


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


def _run_commands(commands: Sequence[tuple[str, int, int, str, bool]]) -> tuple[Story, list[Ticket]]:
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


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(commands=st.lists(command_strategy, max_size=40), page_size=st.integers(1, 9))
def test_property_counts_and_current_rows_match_the_aggregates(
    commands: list[tuple[str, int, int, str, bool]], page_size: int
) -> None:
    story, tickets = _run_commands(commands)
    h = Harness().follow(story, page_size=page_size)

    active_per_engineer = dict.fromkeys(ENGINEER_IDS, 0)
    for t in tickets:
        for a in t.assignments.values():
            if a.status in ACTIVE_STATUSES:
                active_per_engineer[a.engineer_id] += 1
    assert h.open_assignments() == active_per_engineer

    current = {r["ticket_id"]: r for r in h.rows(CURRENT)}
    with_active = {str(t.id): t.active_assignment for t in tickets if t.active_assignment}
    assert set(current) == set(with_active)
    for ticket_id, a in with_active.items():
        row = current[ticket_id]
        assert (row["engineer_id"], row["assignment_sequence"], row["assignment_tier"],
                row["status"]) == (a.engineer_id, a.sequence, a.tier, a.status)

    # And the other tables agree with the aggregates too.
    for t in tickets:
        row = h.ticket(t)
        assert (row["status"], row["version"], row["assignment_count"]) == (
            t.status, t.version, len(t.assignments))
        assert row["current_assignment_id"] == (str(t.active_id) if t.active_id else None)
        for a in t.assignments.values():
            assert h.assignment(a.id)["status"] == a.status
    expected_history = sum(
        2 if type(e) in (Ticket.Escalated, Ticket.Reassigned) else 1
        for e in story.events
        if type(e) in AssignmentHistoryProjection().event_types
    )
    assert len(h.history()) == expected_history
    for _table, _column, value in h.all_timestamps():
        assert value in h.event_times
