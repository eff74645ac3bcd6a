"""``POST /imports/csv``: seed 004's CSV files over HTTP, through the code ``ledger
import csv`` runs, with the same report; bad rows reported and never half-recorded;
a file that is not CSV text refused whole; the front door's size limit; admin only."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from typer.testing import CliRunner

from api.cli import app as cli
from ledger.legacy.ids import legacy_ticket_id
from seed004_csv import DEVELOPERS, TICKETS

Api = Any


def upload(api: Api, headers: dict[str, str] | None = None, **files: str | bytes) -> Any:
    parts = {field: (f"{field}.csv", content, "text/csv") for field, content in files.items()}
    return api.client.post("/imports/csv", files=parts, headers=headers or {})


def stream_types(api: Api, ticket_id: Any) -> list[str]:
    return [e["type"].rsplit(".", 1)[-1]
            for e in api.ok(api.get(f"/tickets/{ticket_id}/events"))]


def test_csv_upload_imports_and_reports(api: Api) -> None:
    report = api.ok(upload(api, tickets=TICKETS, developers=DEVELOPERS))
    assert report["tickets"] == {"created": 5, "updated": 0, "unchanged": 0, "diverged": 0,
                                 "bad": 3}
    assert report["engineers"] == {"registered": 3, "updated": 0, "unchanged": 0, "bad": 2}
    reasons = {r["row"]: r["message"] for r in report["bad_rows"]}
    assert reasons["developers.csv:5"] == "name is empty"
    assert "availability '2.5' is outside 0-1" in reasons["developers.csv:6"]
    assert reasons["tickets.csv:7"] == "title is empty"
    assert "assigned_to 'Nobody Here' is not a known developer" in reasons["tickets.csv:8"]
    assert "status 'paused' is unknown" in reasons["tickets.csv:9"]
    # 3 rows name an assignee, +1 rejected; ticket 7's was not imported, and it shows.
    assert report["reconciliation"] == {
        "ok": False, "legacy_assignees": 3, "active": 1, "completed": 1,
        "legacy_rejected": 1, "rejected": 1, "bad_assignees": 1}

    # Recorded through the ledger's commands, the caller as actor, via import.
    assert stream_types(api, legacy_ticket_id("csv", "3")) == [
        "Opened", "Assigned", "Accepted", "Completed"]
    events = api.ok(api.get(f"/tickets/{legacy_ticket_id('csv', '2')}/events"))
    assert {e["actor"] for e in events} == {api.client.app.state.services.settings.actor}
    assert {e["data"].get("via") for e in events} == {"import"}
    zoe = api.engineer_row("zoe.o.brien")
    assert (zoe["skills"], zoe["tier"], zoe["capacity"]) == (["fibre", "copper"], 3, 8)
    # The bad rows left nothing behind.
    for bad in ("6", "7", "8"):
        api.problem(api.get(f"/tickets/{legacy_ticket_id('csv', bad)}"), 404)
    api.problem(api.get("/engineers/carl.null"), 404)

    # Sent again: nothing recorded, every row unchanged.
    with api.records_nothing():
        again = api.ok(upload(api, tickets=TICKETS, developers=DEVELOPERS))
    assert again["tickets"]["unchanged"] == 5 and again["tickets"]["created"] == 0
    assert again["engineers"]["unchanged"] == 3

    # A developers file alone (seed 004's /developers/sync/): a changed row updates.
    changed = api.ok(upload(api, developers=DEVELOPERS.replace("hvac,3.4", "hvac,6")))
    assert changed["engineers"]["updated"] == 1
    assert changed["tickets"] == {"created": 0, "updated": 0, "unchanged": 0, "diverged": 0,
                                  "bad": 0}
    assert api.engineer_row("bob.stone")["capacity"] == 6


def test_the_upload_and_the_cli_give_the_same_report(
    api: Api, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One code path: the CLI on the same store, after the upload, finds it all."""
    report = api.ok(upload(api, tickets=TICKETS, developers=DEVELOPERS))
    summary = " ".join(f"{k}={v}" for k, v in report["tickets"].items())
    assert summary == "created=5 updated=0 unchanged=0 diverged=0 bad=3"
    (tmp_path / "tickets.csv").write_text(TICKETS, encoding="utf-8")
    (tmp_path / "developers.csv").write_text(DEVELOPERS, encoding="utf-8")
    monkeypatch.setenv("LEDGER_DATABASE_URL", database_url)
    monkeypatch.setenv("COLUMNS", "200")
    head = api.head()
    out = CliRunner().invoke(cli, ["import", "csv", "--tickets", str(tmp_path / "tickets.csv"),
                                   "--engineers", str(tmp_path / "developers.csv")],
                             catch_exceptions=False).output
    assert "created=0 updated=0 unchanged=5 diverged=0 bad=3" in out, out
    assert "engineers_registered=0 engineers_updated=0 engineers_bad=2" in out
    assert re.search(r"Reconciliation: MISMATCH", out)
    assert api.head() == head


def test_bad_files_record_nothing(api: Api) -> None:
    with api.records_nothing():
        body = api.problem(api.client.post("/imports/csv", files={}, data={"x": "y"}), 422)
        assert "tickets" in body["errors"][0]["msg"]
        body = api.problem(upload(api, tickets=TICKETS.encode("utf-16")), 422)
        assert body["errors"][0]["loc"][-1] == "tickets"
        # The developers file is fine, the tickets file has a NUL: neither is imported.
        api.problem(upload(api, developers=DEVELOPERS, tickets=TICKETS + "9,a\x00b,,1,,low,,pending,\n"),
                    422)
        api.problem(api.client.post("/imports/csv", json={"tickets": TICKETS}), 422)
    api.problem(api.get("/engineers/aisha.khan"), 404)


def test_the_front_door_limits_the_size(open_client: Any) -> None:
    with open_client(max_body_bytes=4096) as client:
        big = TICKETS + "".join(f"{n},Ticket {n},,1,,low,,pending,\n" for n in range(100, 400))
        response = client.post("/imports/csv", files={"tickets": ("t.csv", big, "text/csv")})
        assert response.status_code == 413, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert client.get(f"/tickets/{legacy_ticket_id('csv', '1')}").status_code == 404


def test_admin_only(api: Api) -> None:
    services = api.client.app.state.services
    for role in ("dispatcher", "auditor", "engineer"):
        result, token = services.ledger.create_api_key(
            name=f"{role}-{uuid4().hex[:6]}", role=role, actor="t").result()
        services.read_side.wait_for(result.position, 5)
        with api.records_nothing():
            api.problem(upload(api, {"Authorization": f"Bearer {token}"}, tickets=TICKETS), 403)
    api.problem(api.client.post("/imports/csv", files={"tickets": ("t.csv", TICKETS)},
                                headers={"Authorization": "Bearer nope-" + "x" * 20}), 401)
