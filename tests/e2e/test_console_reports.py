"""The console's reports page: the figures behind each chart come from the
read tables and match what was recorded (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime
from typing import Any

from conftest import Api
from test_console_session import sign_in

DATA = re.compile(r'<script type="application/json" id="report-data">(.*?)</script>', re.S)


def report(api: Api, days: int | None = None) -> tuple[dict[str, Any], str]:
    page = api.client.get("/console/reports" + (f"?days={days}" if days else ""))
    assert page.status_code == 200
    assert "uPlot.iife.min.js" in page.text
    return json.loads(DATA.search(page.text).group(1)), page.text


def test_reports_show_what_was_recorded(api: Api) -> None:
    assert sign_in(api.client).status_code == 303
    first, second = api.engineer(tier=1)["id"], api.engineer(tier=2)["id"]
    # Resolved by the first engineer.
    _ticket, _eng, a = api.assigned()
    api.accept(a["id"])
    api.complete(a["id"], time_spent_hours=2.0)
    # Escalated from tier 1 to tier 2, then resolved there: not a first-time fix.
    other = api.ticket()["id"]
    a1 = api.assign(other, first)
    escalated = api.escalate(other, second)
    api.accept(escalated["id"])
    api.complete(escalated["id"], time_spent_hours=3.0)
    # Opened and still waiting.
    api.ticket()

    data, html = report(api)
    today = datetime.now(UTC).date().isoformat()
    tickets = data["tickets"]
    assert len(tickets["days"]) == 30 and tickets["days"][-1] == today
    assert tickets["opened"][-1] == 3 and sum(tickets["opened"]) == 3
    assert tickets["resolved"][-1] == 2
    assert data["first_time"]["rate"][-1] == 0.5
    assert data["escalations"] == {"tiers": [2], "escalations": [1]}  # by the tier escalated to
    hours = dict(zip(data["engineers"]["engineers"], data["engineers"]["hours"], strict=True))
    assert hours[second] == 3.0 and hours[_eng] == 2.0
    assert first not in hours  # no completion: no hours
    assert data["engineers"]["load"][data["engineers"]["engineers"].index(second)] == 0
    assert a1["engineer_id"] == first
    # The figures are also a table, for whoever cannot see the chart.
    assert "<th scope=\"col\">Escalations</th>" in html

    week, _ = report(api, days=7)
    assert len(week["tickets"]["days"]) == 7
    odd, _ = report(api, days=12)  # not offered: the default window
    assert len(odd["tickets"]["days"]) == 30


def test_reports_count_sla_breaches_per_tier(open_client: Any) -> None:
    # A one-second accept target at every tier: an unaccepted assignment breaches.
    targets = {p: {1: {"accept": 1, "resolve": 3600}} for p in
               ("low", "medium", "high", "critical")}
    with open_client(sla_targets=targets) as client:
        api = Api(client)
        assert sign_in(client).status_code == 303
        api.assigned()
        time.sleep(1.2)
        data, _ = report(api)
        assert data["breaches"]["tiers"] == [1]
        assert data["breaches"]["accept"] == [1]
        assert data["breaches"]["resolve"] == [0]


def test_reports_need_a_session(client: Any) -> None:
    r = client.get("/console/reports", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/console/login")
