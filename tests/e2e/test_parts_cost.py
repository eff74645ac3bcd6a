"""``/reports/engineers``, ``/reports/summary`` and ``/tickets/{id}/metrics`` include
parts cost (seed 002 bills parts): the sum of the completions' ``parts_used[].cost``,
each line's cost for all its ``quantity``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

Api = Any


def parts(*lines: tuple[str, int, float]) -> list[dict[str, Any]]:
    return [{"part_number": number, "part_name": number, "quantity": quantity, "cost": cost}
            for number, quantity, cost in lines]


def test_parts_cost_in_reports(api: Api) -> None:
    start = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    ada, bob = api.engineers(2)
    # Ada: a failed visit (2 connectors, 12.50 for both) then, on another ticket, a
    # success with a splice tray (1, 40.00) and 3 m of cable (3, 7.35).
    first = api.ticket()["id"]
    a1 = api.assign(first, ada)["id"]
    api.accept(a1)
    api.complete(a1, "failed", time_spent_hours=1.0, parts_used=parts(("CON-2", 2, 12.5)))
    a2 = api.assign(first, bob)["id"]
    api.accept(a2)
    api.complete(a2, "success", time_spent_hours=0.5, parts_used=parts(("ONT-1", 1, 99.99)))
    second = api.ticket()["id"]
    a3 = api.assign(second, ada)["id"]
    api.accept(a3)
    api.complete(a3, "success", time_spent_hours=2.0,
                 parts_used=parts(("TRAY", 1, 40.0), ("CABLE-M", 3, 7.35)))
    third = api.ticket()["id"]
    a4 = api.assign(third, bob)["id"]
    api.accept(a4)
    api.complete(a4, "success", time_spent_hours=1.0)  # no parts

    report = api.ok(api.get("/reports/engineers", params={"from": start}))
    by_id = {r["engineer_id"]: r for r in report["engineers"]}
    assert by_id[ada]["parts_cost"] == 59.85  # 12.50 + 40.00 + 7.35
    assert by_id[bob]["parts_cost"] == 99.99
    csv_text = api.get("/reports/engineers", params={"from": start, "format": "csv"}).text
    header, *lines = csv_text.splitlines()
    assert "parts_cost" in header.split(",")
    column = header.split(",").index("parts_cost")
    assert {line.split(",")[0]: line.split(",")[column] for line in lines}[ada] == "59.85"

    summary = api.ok(api.get("/reports/summary", params={"from": start}))
    assert summary["parts_cost"] == 159.84  # 59.85 + 99.99
    assert summary["hours_spent"] == 4.5

    assert api.ok(api.get(f"/tickets/{first}/metrics"))["parts_cost"] == 112.49
    assert api.ok(api.get(f"/tickets/{third}/metrics"))["parts_cost"] == 0.0

    # A window that holds none of it costs nothing.
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert api.ok(api.get("/reports/summary", params={"from": later}))["parts_cost"] == 0.0
    empty = api.ok(api.get("/reports/engineers", params={"from": later}))
    assert {r["engineer_id"]: r["parts_cost"] for r in empty["engineers"]}[ada] == 0.0


def test_openapi_documents_parts_cost(api: Api) -> None:
    schemas = api.ok(api.get("/openapi.json"))["components"]["schemas"]
    for name in ("Summary", "EngineerReportRow", "TicketMetrics"):
        field = schemas[name]["properties"]["parts_cost"]
        assert "parts_used" in field["description"], name
