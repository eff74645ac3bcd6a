"""``ledger import service-tickets`` keeps seed 002's UUID ids: the seed 002 client's
paths (``/tickets/<legacy id>/current-assignment``, ``/tickets/<id>/assignments``)
work on backfilled tickets unchanged; a non-UUID id is name-based and found by
``reference``; a re-run records nothing, tickets imported before ids were kept
included (they keep the id they were opened with)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from typer.testing import CliRunner

from api.cli import app as cli
from ledger.application import Ledger
from ledger.legacy import ids
from ledger.legacy.ids import legacy_assignment_id, name_based_ticket_id

pytestmark = pytest.mark.postgres  # the legacy source is a PostgreSQL table

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
KEPT = "5a3c2c1e-9b7d-4d0e-8f59-0c4d1f6b2a10"      # seed 002: ids are UUID text
UPPER = "6B1D2E3F-4A5B-4C6D-8E7F-901A2B3C4D5E"     # a UUID, spelt in capitals
PLAIN = "TCK-1007"                                  # not a UUID
ENG = "7c9e6679-7425-40de-944b-e07fc1f90ae7"

ROWS = [
    # id, status, engineer, name, tier, assigned_at, started_at, created_at
    (KEPT, "in_progress", ENG, "Aisha Khan", 2, T0 + timedelta(hours=1),
     T0 + timedelta(hours=2), T0),
    (UPPER, "assigned", ENG, "Aisha Khan", 1, T0 + timedelta(hours=1), None, T0),
    (PLAIN, "open", None, None, None, None, None, T0),
]


def make_legacy(url: str) -> None:
    import psycopg

    with psycopg.connect(url) as conn:
        conn.execute(
            "CREATE TABLE service_tickets (id VARCHAR PRIMARY KEY, status TEXT, "
            "assigned_engineer_id VARCHAR, assigned_engineer_name VARCHAR, assignment_tier INT, "
            "assignment_tier_name TEXT, assigned_at TIMESTAMPTZ, started_at TIMESTAMPTZ, "
            "resolved_at TIMESTAMPTZ, created_at TIMESTAMPTZ, updated_at TIMESTAMPTZ)")
        for (id_, status, eng, name, tier, assigned, started, created) in ROWS:
            conn.execute(
                "INSERT INTO service_tickets (id, status, assigned_engineer_id, "
                "assigned_engineer_name, assignment_tier, assigned_at, started_at, created_at, "
                "updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (id_, status, eng, name, tier, assigned, started, created, started or created))


@pytest.fixture
def run(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Callable[..., str]:
    monkeypatch.setenv("LEDGER_DATABASE_URL", database_url)
    monkeypatch.setenv("COLUMNS", "200")
    runner = CliRunner()

    def invoke(*args: str) -> str:
        result = runner.invoke(cli, list(args), catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    return invoke


def ok(response: Any) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


def head(database_url: str) -> int:
    ledger = Ledger(database_url)
    try:
        return ledger.head()
    finally:
        ledger.close()


def test_uuid_ids_are_kept_and_the_seed_002_paths_work(
    run, database_url: str, open_client: Any, postgres_url_factory: Callable[[], str]
) -> None:
    source = postgres_url_factory()
    make_legacy(source)
    out = run("import", "service-tickets", "--from", source, "--strict")
    assert "created=3" in out and "Reconciliation: OK" in out
    recorded = head(database_url)

    with open_client() as client:
        # seed 002's assignmentsApi.getCurrentAssignment / getAssignmentHistory
        current = ok(client.get(f"/tickets/{KEPT}/current-assignment"))
        assert (current["ticket_id"], current["engineer_id"], current["status"],
                current["assignment_tier"]) == (KEPT, ENG, "in_progress", 2)
        history = ok(client.get(f"/tickets/{KEPT}/assignments"))
        assert [a["id"] for a in history] == [str(legacy_assignment_id(UUID(KEPT)))]
        ticket = ok(client.get(f"/tickets/{KEPT}"))
        assert (ticket["id"], ticket["reference"], ticket["status"]) == (
            KEPT, KEPT, "in_progress")
        # A UUID in capitals is the same UUID; its reference keeps the legacy spelling.
        upper = ok(client.get(f"/tickets/{UPPER.lower()}/current-assignment"))
        assert upper["status"] == "assigned"
        assert ok(client.get(f"/tickets/{UPPER}"))["reference"] == UPPER
        # Not a UUID: a name-based id, found by its reference.
        page = ok(client.get("/tickets", params={"reference": PLAIN}))
        assert [t["id"] for t in page["items"]] == [
            str(name_based_ticket_id("service_tickets", PLAIN))]
        # The seed 002 client's commands work on the kept id too.
        ok(client.post(f"/assignments/{history[0]['id']}/complete",
                           json={"completion_status": "success", "time_spent_hours": 1.5}))
        assert ok(client.get(f"/tickets/{KEPT}"))["status"] == "resolved"
    again = run("import", "service-tickets", "--from", source)
    # KEPT moved on in the ledger (completed there): left alone, as any diverged row.
    assert "created=0 updated=0 unchanged=2 diverged=1 bad=0" in again
    assert head(database_url) == recorded + 1  # the completion only


def test_a_rerun_keeps_tickets_imported_before_under_their_name_based_ids(
    run, database_url: str, open_client: Any, postgres_url_factory: Callable[[], str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Tickets imported before ids were kept have name-based ids. A re-run finds them
    there and records nothing new: their events are never moved to the kept id (a
    stream cannot be renamed), so they stay reachable by reference, as before."""
    source = postgres_url_factory()
    make_legacy(source)
    with monkeypatch.context() as before:
        before.setattr(ids, "KEEPS_UUID_IDS", frozenset())  # the import as it was
        assert "created=3" in run("import", "service-tickets", "--from", source, "--strict")
    recorded = head(database_url)

    out = run("import", "service-tickets", "--from", source, "--strict")
    assert "created=0 updated=0 unchanged=3 diverged=0 bad=0" in out
    assert "Reconciliation: OK" in out
    assert head(database_url) == recorded

    # The legacy row moves on: the re-run carries the old ticket on, at its old id.
    import psycopg

    with psycopg.connect(source) as conn:
        conn.execute("UPDATE service_tickets SET status = 'in_progress', started_at = %s "
                     "WHERE id = %s", (T0 + timedelta(hours=3), UPPER))
    out = run("import", "service-tickets", "--from", source, "--strict")
    assert "created=0 updated=1 unchanged=2 diverged=0 bad=0" in out
    old_id = name_based_ticket_id("service_tickets", UPPER)
    with open_client() as client:
        assert ok(client.get(f"/tickets/{old_id}"))["status"] == "in_progress"
        assert client.get(f"/tickets/{UPPER}").status_code == 404
        page = ok(client.get("/tickets", params={"reference": UPPER}))
        assert [t["id"] for t in page["items"]] == [str(old_id)]
