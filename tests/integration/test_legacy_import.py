"""``ledger import service-tickets`` / ``import csv`` / ``export service-tickets``:
a seed 002-shaped legacy table on PostgreSQL imported (twice) into the ledger on
SQLite and PostgreSQL, reconciled, and exported back for a round trip; seed 004's
CSV files with bad rows."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app as cli
from ledger.application import Ledger
from ledger.legacy.ids import legacy_assignment_id, legacy_ticket_id
from ledger.legacy.mapping import engineer_slug
from seed004_csv import DEVELOPERS, TICKETS

pytestmark = pytest.mark.postgres

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


ENG_A = "7c9e6679-7425-40de-944b-e07fc1f90ae7"  # legacy engineer ids are UUID text
ENG_B = "e2.okafor"

#: id, status, engineer id, name, tier, tier name, assigned, started, resolved, created, updated
LEGACY_ROWS = [
    ("1001", "open", None, None, None, None, None, None, None, at(0), at(0)),
    ("1002", "assigned", ENG_A, "Aisha Khan", 1, "L1 Help desk", at(1), None, None, at(0.5), at(1)),
    ("1003", "in_progress", ENG_B, "Emeka Okafor", 2, "L2 Field", at(2), at(3), None, at(1), at(3)),
    ("1004", "resolved", ENG_A, "Aisha Khan", 1, "L1 Help desk", at(1), at(2), at(5), at(0), at(5)),
    ("1005", "closed", ENG_B, "Emeka Okafor", 3, None, at(4), None, at(8), at(3), at(9)),
    ("1006", "closed", None, None, None, None, None, None, None, at(2), at(6)),
]

DDL = """
CREATE TABLE service_tickets (
    id VARCHAR PRIMARY KEY,
    title TEXT,
    priority TEXT,
    status TEXT NOT NULL,
    assigned_engineer_id VARCHAR,
    assigned_engineer_name VARCHAR,
    assignment_tier INT,
    assignment_tier_name TEXT,
    assigned_at TIMESTAMPTZ,
    started_at TIMESTAMPTZ,
    resolved_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
)"""

COLUMNS = ("id", "status", "assigned_engineer_id", "assigned_engineer_name", "assignment_tier",
           "assignment_tier_name", "assigned_at", "started_at", "resolved_at", "created_at",
           "updated_at")


def make_legacy(url: str, rows: list[tuple]) -> None:
    import psycopg

    with psycopg.connect(url) as conn:
        conn.execute(DDL)
        for row in rows:
            conn.execute(
                f"INSERT INTO service_tickets ({', '.join(COLUMNS)}, title, priority) "
                f"VALUES ({', '.join(['%s'] * (len(COLUMNS) + 2))})",
                (*row, f"Legacy fault {row[0]}", "urgent" if row[0] == "1004" else "high"),
            )


def read_legacy(url: str) -> dict[str, dict]:
    import psycopg
    from psycopg.rows import dict_row

    with psycopg.connect(url, row_factory=dict_row) as conn:
        return {r["id"]: r for r in conn.execute("SELECT * FROM service_tickets")}


@pytest.fixture
def run(database_url: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("LEDGER_DATABASE_URL", database_url)
    monkeypatch.setenv("COLUMNS", "200")  # wide Rich tables: reasons stay on one line
    runner = CliRunner()

    def invoke(*args: str, code: int = 0):
        result = runner.invoke(cli, list(args), catch_exceptions=False)
        assert result.exit_code == code, result.output
        return result.output

    return invoke


def events_of(database_url: str) -> list:
    app = Ledger(database_url)
    try:
        return [app.mapper.to_domain_event(n)
                for n in app.recorder.select_notifications(start=None, limit=10_000)]
    finally:
        app.close()


def test_service_tickets_import_twice_then_export_round_trip(
    run, database_url: str, postgres_url_factory: Callable[[], str]
) -> None:
    source = postgres_url_factory()
    make_legacy(source, LEGACY_ROWS)

    first = run("import", "service-tickets", "--from", source, "--strict")
    assert "Reconciliation: OK" in first
    events = events_of(database_url)
    # 2 engineers, 6 Opened, 4 Assigned, 3 Accepted, 2 Started (1005 has no started_at),
    # 2 Completed, 2 Closed
    assert len(events) == 2 + 6 + 4 + 3 + 2 + 2 + 2
    assert {e.via for e in events} == {"import"}

    second = run("import", "service-tickets", "--from", source, "--strict")
    assert "Reconciliation: OK" in second
    assert len(events_of(database_url)) == len(events)  # a re-run adds nothing
    assert "created=0 updated=0 unchanged=6 diverged=0 bad=0" in second

    # Ticket 1004 (resolved): its events carry the legacy times, in order.
    ticket_id = legacy_ticket_id("service_tickets", "1004")
    stream = [e for e in events if e.originator_id == ticket_id]
    assert [(type(e).__name__, e.timestamp) for e in stream] == [
        ("Opened", at(0)), ("Assigned", at(1)), ("Accepted", at(1)), ("Started", at(2)),
        ("Completed", at(5)),
    ]
    opened, assigned = stream[0], stream[1]
    assert (opened.reference, opened.title, opened.priority) == (
        "1004", "Legacy fault 1004", "critical")
    assert (assigned.engineer_id, assigned.tier, assigned.tier_name, assigned.assignment_id) == (
        ENG_A, 1, "L1 Help desk", legacy_assignment_id(ticket_id))
    registered = [e for e in events if type(e).__name__ == "Registered"]
    assert sorted((e.engineer_id, e.name) for e in registered) == [
        (ENG_A, "Aisha Khan"), (ENG_B, "Emeka Okafor")]

    target = postgres_url_factory()
    run("export", "service-tickets", "--to", target)
    exported = read_legacy(target)
    original = {row[0]: dict(zip(COLUMNS, row, strict=True)) for row in LEGACY_ROWS}
    assert set(exported) == set(original)
    compared = [c for c in COLUMNS if c != "updated_at"]
    for legacy_id, row in original.items():
        got = exported[legacy_id]
        want = dict(row)
        if want["assignment_tier_name"] is None and want["assignment_tier"] is not None:
            want["assignment_tier_name"] = f"L{want['assignment_tier']}"  # the ledger's default
        assert {c: got[c] for c in compared} == {c: want[c] for c in compared}, legacy_id
        assert got["title"] == f"Legacy fault {legacy_id}"
    # updated_at is the time of the ticket's last event.
    assert exported["1005"]["updated_at"] == at(9)  # closed at updated_at
    assert exported["1004"]["updated_at"] == at(5)  # resolved at resolved_at

    # Exporting again updates the same rows; it inserts none.
    again = run("export", "service-tickets", "--to", target)
    assert "0 inserted, 6 updated" in again


def test_bad_rows_are_reported_not_fatal(
    run, database_url: str, postgres_url_factory: Callable[[], str]
) -> None:
    source = postgres_url_factory()
    rows = [
        LEGACY_ROWS[1],
        ("2001", "resolved", None, None, None, None, None, None, None, at(0), at(1)),
        ("2002", "in_progress", "bad id!", "X", 1, None, at(1), at(2), None, at(0), at(2)),
        ("2003", "resolved", ENG_B, "Emeka Okafor", 2, None, at(5), None, at(4), at(0), at(5)),
        ("2004", "escalating", ENG_B, "Emeka Okafor", 2, None, at(5), None, None, at(0), at(5)),
        ("2005", "assigned", ENG_B, "Emeka Okafor", 11, None, at(5), None, None, at(0), at(5)),
    ]
    make_legacy(source, rows)

    out = run("import", "service-tickets", "--from", source)  # exit 0 without --strict
    assert "created=1 updated=0 unchanged=0 diverged=0 bad=5" in out
    assert "status is resolved but assigned_engineer_id is empty" in out
    assert "'bad id!' is not a valid engineer id" in out
    assert "resolved_at (2024-03-01T13:00:00+00:00) is before assigned_at" in out
    assert "status 'escalating' is unknown" in out
    assert "assignment_tier 11 is outside 1-10" in out
    # 5 rows name an assignee (one of them not imported): the reconciliation says so.
    assert "Reconciliation: MISMATCH" in out
    run("import", "service-tickets", "--from", source, "--strict", code=1)

    missing = postgres_url_factory()
    out = run("import", "service-tickets", "--from", missing, code=2)
    assert "does not exist" in out


def test_import_catches_up_a_legacy_row_that_moved_on(
    run, database_url: str, postgres_url_factory: Callable[[], str]
) -> None:
    """The legacy system keeps running during the migration: a second import appends
    what changed since the first; a ticket the ledger moved on is left alone."""
    import psycopg

    source = postgres_url_factory()
    make_legacy(source, [LEGACY_ROWS[1], LEGACY_ROWS[2]])
    run("import", "service-tickets", "--from", source, "--strict")
    with psycopg.connect(source) as conn:
        conn.execute("UPDATE service_tickets SET status = 'resolved', started_at = %s, "
                     "resolved_at = %s, updated_at = %s WHERE id = '1002'", (at(2), at(7), at(7)))
        conn.execute("UPDATE service_tickets SET assigned_engineer_id = 'someone.else' "
                     "WHERE id = '1003'")
    out = run("import", "service-tickets", "--from", source)
    assert "created=0 updated=1 unchanged=0 diverged=1 bad=0" in out
    ticket_id = legacy_ticket_id("service_tickets", "1002")
    stream = [e for e in events_of(database_url) if e.originator_id == ticket_id]
    assert [type(e).__name__ for e in stream] == [
        "Opened", "Assigned", "Accepted", "Started", "Completed"]
    assert stream[-1].timestamp == at(7)


def test_an_import_is_held_to_the_commands_rules(
    run, database_url: str, postgres_url_factory: Callable[[], str]
) -> None:
    """The import records through the Ledger's commands, so their rules hold: an
    engineer deactivated in the ledger takes no imported assignment (Ticket.assign
    alone would record it). The row is refused before anything of it is recorded
    (never half-recorded); once the engineer is active again, a second run records
    it whole."""
    ledger = Ledger(database_url)
    try:
        ledger.register_engineer(engineer_id=ENG_B, name="Emeka Okafor", actor="t").result()
        ledger.update_engineer(ENG_B, changes={"active": False}, actor="t").result()
    finally:
        ledger.close()
    source = postgres_url_factory()
    make_legacy(source, [LEGACY_ROWS[2]])  # 1003, in progress with ENG_B

    out = run("import", "service-tickets", "--from", source)
    assert "bad=1" in out and "is inactive and cannot take assignments" in out, out
    ticket_id = legacy_ticket_id("service_tickets", "1003")
    stream = [e for e in events_of(database_url) if e.originator_id == ticket_id]
    assert stream == []

    ledger = Ledger(database_url)
    try:
        ledger.update_engineer(ENG_B, changes={"active": True}, actor="t").result()
    finally:
        ledger.close()
    out = run("import", "service-tickets", "--from", source, "--strict")
    assert "created=1 updated=0 unchanged=0 diverged=0 bad=0" in out
    stream = [e for e in events_of(database_url) if e.originator_id == ticket_id]
    assert [(type(e).__name__, e.timestamp, e.via) for e in stream] == [
        ("Opened", at(1), "import"), ("Assigned", at(2), "import"),
        ("Accepted", at(2), "import"), ("Started", at(3), "import")]


def test_csv_import(run, database_url: str, tmp_path: Path) -> None:
    developers = tmp_path / "developers.csv"
    tickets = tmp_path / "tickets.csv"
    developers.write_text(DEVELOPERS, encoding="utf-8")
    tickets.write_text(TICKETS, encoding="utf-8")

    out = run("import", "csv", "--tickets", str(tickets), "--engineers", str(developers))
    assert "created=5 updated=0 unchanged=0 diverged=0 bad=3" in out
    assert "engineers_registered=3 engineers_updated=0 engineers_bad=2" in out
    assert "developers.csv:5" in out and "name is empty" in out
    assert "availability '2.5' is outside 0-1" in out
    assert "title is empty" in out
    assert "assigned_to 'Nobody Here' is not a known developer" in out
    assert "status 'paused' is unknown" in out
    # 3 rows name an assignee (+1 rejected); ticket 7's was not imported, and it shows.
    assert "Reconciliation: MISMATCH" in out
    assert re.search(r"of them bad rows \(not imported\)\s*│\s*1\s*│", out), out

    events = events_of(database_url)
    assert {e.via for e in events} == {"import"}
    zoe = next(e for e in events if type(e).__name__ == "Registered"
               and e.engineer_id == engineer_slug("Zoë O'Brien"))
    assert (zoe.engineer_id, zoe.skills, zoe.tier, zoe.capacity) == (
        "zoe.o.brien", ["fibre", "copper"], 3, 8)
    bob = next(e for e in events if getattr(e, "engineer_id", None) == "bob.stone"
               and type(e).__name__ == "Registered")
    assert (bob.availability, bob.capacity, bob.tier) == (0.9, 3, 1)
    t4 = [type(e).__name__ for e in events
          if e.originator_id == legacy_ticket_id("csv", "4")]
    assert t4 == ["Opened", "Assigned", "Rejected"]
    t3 = [type(e).__name__ for e in events
          if e.originator_id == legacy_ticket_id("csv", "3")]
    assert t3 == ["Opened", "Assigned", "Accepted", "Completed"]

    again = run("import", "csv", "--tickets", str(tickets), "--engineers", str(developers))
    assert len(events_of(database_url)) == len(events)
    assert "created=0 updated=0 unchanged=5 diverged=0 bad=3" in again

    # A developer whose row changed is updated; nothing else is recorded.
    developers.write_text(DEVELOPERS.replace("hvac,3.4", "hvac,6"), encoding="utf-8")
    third = run("import", "csv", "--tickets", str(tickets), "--engineers", str(developers),
                "--strict", code=1)  # the bad rows are still there
    assert "engineers_registered=0 engineers_updated=1" in third
    new = events_of(database_url)[len(events):]
    assert [(type(e).__name__, e.changes, e.via) for e in new] == [
        ("Updated", {"capacity": 6}, "import")]
