"""Issue 7 end to end, on SQLite and PostgreSQL: SLA breaches per assignment,
ticket metrics, engineer reports (JSON and CSV), the fleet summary and
explainable auto-assignment."""

from __future__ import annotations

import csv
import io
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
from conftest import Api, rand_engineer_id

#: Tiny targets so that clocks run out within a test: 1 s to accept and 2 s to
#: resolve at tier 1, generous ones from tier 2 on.
FAST_SLA = {
    "high": {
        "1": {"accept": 1, "resolve": 2},
        "2": {"accept": 3600, "resolve": 7200},
    },
}


def iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


# ===================================================================== SLA


def test_sla_breaches_blame_the_engineer_who_held_the_clock(open_client: Any) -> None:
    with open_client(sla_targets=FAST_SLA) as client:
        api = Api(client)
        l1 = api.engineer(tier=1)["id"]
        l2 = api.engineer(tier=2)["id"]
        ticket = api.ticket(priority="high")["id"]
        a1 = api.assign(ticket, l1, tier=1)["id"]
        before = datetime.now(UTC)
        time.sleep(1.3)
        # L1's accept clock is still running past its 1 s deadline: a breach now.
        running = api.ok(api.get("/sla/breaches", params={"engineer_id": l1}))["items"]
        assert [(b["clock"], b["assignment_id"], b["running"]) for b in running] == [
            ("accept", a1, True)]
        assert running[0]["engineer_id"] == l1 and running[0]["tier"] == 1
        assert running[0]["target_seconds"] == 1 and running[0]["overdue_seconds"] > 0
        assert running[0]["stopped_at"] is None

        api.accept(a1)
        time.sleep(1.0)
        a2 = api.escalate(ticket, l2)["id"]  # L1 used 2.3 s: over both targets
        api.accept(a2)
        api.complete(a2)

        items = api.ok(api.get("/sla/breaches", params={"since": iso(before)}))["items"]
        mine = [b for b in items if b["ticket_id"] == ticket]
        assert [(b["clock"], b["engineer_id"], b["running"]) for b in mine] == [
            ("accept", l1, False), ("resolve", l1, False)]
        accept, resolve = mine
        assert accept["elapsed_seconds"] > 1.2 and accept["end_reason"] == "escalated"
        assert resolve["elapsed_seconds"] > 2 and resolve["stopped_at"] is not None
        # L2 got a fresh clock and met its targets: nothing charged to L2.
        assert api.ok(api.get("/sla/breaches", params={"engineer_id": l2}))["items"] == []
        assert api.ok(api.get("/sla/breaches", params={"tier": 2}))["items"] == []
        # since after every deadline of this story: nothing.
        later = iso(datetime.now(UTC) + timedelta(minutes=1))
        assert api.ok(api.get("/sla/breaches", params={"since": later}))["items"] == []


def test_sla_breaches_page_with_a_cursor(open_client: Any) -> None:
    with open_client(sla_targets=FAST_SLA) as client:
        api = Api(client)
        engineer = api.engineer(tier=1, capacity=10)["id"]
        for _ in range(3):
            api.assign(api.ticket(priority="high")["id"], engineer)
        time.sleep(2.2)  # accept and resolve clocks of all three run out
        pages = api.paged("/sla/breaches", limit=2, engineer_id=engineer)
        items = [b for page in pages for b in page]
        assert [len(p) for p in pages] == [2, 2, 2]
        assert len({(b["assignment_id"], b["clock"]) for b in items}) == 6
        assert [b["started_at"] for b in items] == sorted(b["started_at"] for b in items)


@pytest.mark.parametrize("params", [
    {"since": "yesterday"}, {"since": "2026-01-01T00:00:00"}, {"tier": 0}, {"tier": "x"},
    {"limit": 0}, {"engineer_id": ""},
])
def test_sla_breaches_refuse_bad_parameters(api: Api, params: dict[str, Any]) -> None:
    api.problem(api.get("/sla/breaches", params=params), 422)


def test_sla_breaches_refuse_a_forged_cursor(api: Api) -> None:
    api.problem(api.get("/sla/breaches", params={"cursor": "bm9wZQ"}), 400)


# ===================================================================== metrics


def test_ticket_metrics_end_to_end(api: Api) -> None:
    a, b, c = (api.engineer(tier=t)["id"] for t in (1, 1, 2))
    ticket = api.ticket()["id"]
    first = api.assign(ticket, a)["id"]
    api.reject(first)
    second = api.assign(ticket, b)["id"]
    api.accept(second)
    third = api.escalate(ticket, c)["id"]
    api.accept(third)
    api.complete(third, "success", time_spent_hours=2.25)
    m = api.ok(api.get(f"/tickets/{ticket}/metrics"))
    assert m["ticket_id"] == ticket
    assert (m["assignee_stations"], m["unique_assignees"], m["escalations"],
            m["reassignment_count"], m["rejections"]) == (3, 3, 1, 2, 1)
    assert m["resolved_on_first_assignment"] is False
    assert m["time_spent_hours"] == 2.25
    assert m["first_assigned_at"] <= m["first_accepted_at"] <= m["resolved_at"]
    assert m["time_to_first_accept_seconds"] > 0 and m["time_to_resolution_seconds"] > 0

    api.problem(api.get(f"/tickets/{uuid4()}/metrics"), 404)
    api.problem(api.get("/tickets/not-a-uuid/metrics"), 422)


def test_engineer_report_json_and_csv(api: Api) -> None:
    start = datetime.now(UTC) - timedelta(seconds=1)
    busy = api.engineer(capacity=4)["id"]
    idle = api.engineer()["id"]
    t1, t2, t3 = (api.ticket()["id"] for _ in range(3))
    x = api.assign(t1, busy)["id"]
    api.accept(x)
    api.complete(x, "success", time_spent_hours=1.5)
    y = api.assign(t2, busy)["id"]
    api.accept(y)
    api.complete(y, "failed", time_spent_hours=0.75)
    api.reject(api.assign(t3, busy)["id"])
    api.assign(t3, busy)  # still open: the open load
    end = datetime.now(UTC) + timedelta(seconds=1)

    window = {"from": iso(start), "to": iso(end)}
    report = api.ok(api.get("/reports/engineers", params=window))
    assert report["from"] is not None and report["to"] is not None
    rows = {r["engineer_id"]: r for r in report["engineers"]}
    r = rows[busy]
    assert (r["offered"], r["accepted"], r["rejected"], r["completed"], r["resolved"]) == (
        4, 2, 1, 2, 1)
    assert r["acceptance_rate"] == 0.5 and r["rejection_rate"] == 0.25
    assert r["hours_spent"] == 2.25 and r["open_load"] == 1 and r["capacity"] == 4
    assert rows[idle]["offered"] == 0 and rows[idle]["acceptance_rate"] is None

    # A window before all of it: counts are zero, the open load is still current.
    early = {"from": iso(start - timedelta(days=2)), "to": iso(start - timedelta(days=1))}
    old = {r["engineer_id"]: r for r in api.ok(api.get("/reports/engineers",
                                                        params=early))["engineers"]}
    assert old[busy]["offered"] == 0 and old[busy]["hours_spent"] == 0
    assert old[busy]["open_load"] == 1

    response = api.get("/reports/engineers", params={**window, "format": "csv"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(response.text)))
    by_id = {row["engineer_id"]: row for row in table}
    assert by_id[busy]["hours_spent"] == "2.25" and by_id[busy]["acceptance_rate"] == "0.5"
    assert by_id[idle]["acceptance_rate"] == ""
    assert list(table[0]) == list(report["engineers"][0])


@pytest.mark.parametrize("params", [
    {"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
    {"from": "2026-01-01T00:00:00"}, {"to": "soon"}, {"format": "xml"},
])
def test_reports_refuse_bad_parameters(api: Api, params: dict[str, Any]) -> None:
    api.problem(api.get("/reports/engineers", params=params), 422)
    if "format" not in params:
        api.problem(api.get("/reports/summary", params=params), 422)


def test_summary_gives_average_escalations_per_ticket(api: Api) -> None:
    l1, l2, l3 = (api.engineer(tier=t)["id"] for t in (1, 2, 3))
    start = datetime.now(UTC) - timedelta(seconds=1)
    once = api.ticket()["id"]
    api.assign(once, l1)
    api.escalate(once, l2)
    twice = api.ticket()["id"]
    api.assign(twice, l1)
    api.escalate(twice, l2)
    api.escalate(twice, l3)
    direct = api.ticket()["id"]
    d = api.assign(direct, l1)["id"]
    api.accept(d)
    api.complete(d, "success", time_spent_hours=1.0)
    api.ticket()  # never assigned: not in the per-ticket averages
    s = api.ok(api.get("/reports/summary", params={"from": iso(start)}))
    assert (s["tickets"], s["tickets_assigned"], s["tickets_resolved"]) == (4, 3, 1)
    assert s["escalations"] == 3 and s["avg_escalations_per_ticket"] == 1.0
    assert s["avg_assignee_stations"] == round(6 / 3, 4)
    assert s["first_assignment_resolution_rate"] == 1.0
    assert s["hours_spent"] == 1.0
    assert s["open_assignments"] >= 2 and s["active_engineers"] >= 3


# ===================================================================== auto-assign


def _auto(api: Api, ticket: str, **kw: Any) -> Any:
    return api.post(f"/tickets/{ticket}/auto-assign", **kw)


def test_auto_assign_picks_by_skill_load_and_availability_and_explains(api: Api) -> None:
    skill = "fibre-" + uuid4().hex[:6]
    loaded = api.engineer(skills=[skill], capacity=5, availability=1.0)["id"]
    for _ in range(2):
        api.assign(api.ticket()["id"], loaded)
    api.engineer(skills=["copper"], capacity=5)  # lacks the skill
    fresh = api.engineer(skills=[skill, "otdr"], capacity=5, availability=0.8)["id"]
    api.engineer(skills=[skill], tier=2)  # qualifies (tier 2 >= 1), but is not the closest
    ticket = api.ticket(required_skill=skill)["id"]

    response = _auto(api, ticket)
    body = api.ok(response, 201)
    assert response.headers["location"] == f"/assignments/{body['id']}"
    assert api.etag(response) == 2 and api.position(response) > 0
    # fresh: 0.8 x (1 - 0/5) = 0.8 beats loaded: 1.0 x (1 - 2/5) = 0.6
    assert body["engineer_id"] == fresh
    assert body["assignment_type"] == "auto" and body["assignment_tier"] == 1
    assert body["assignment_reason"].startswith(
        f"auto: skill {skill} ✓, tier 1, load 0/5, availability 0.8, score 0.800; ")
    assert "3 of 4 candidates qualified" in body["assignment_reason"]
    history = api.ok(api.get(f"/tickets/{ticket}/history"))
    assert history[-1]["reason"] == body["assignment_reason"]


def test_auto_assign_round_robins_between_equals(api: Api) -> None:
    skill = "pon-" + uuid4().hex[:6]
    ids = sorted(api.engineer(skills=[skill], capacity=100)["id"] for _ in range(3))
    picked = []
    for _ in range(6):
        ticket = api.ticket(required_skill=skill)["id"]
        picked.append(api.ok(_auto(api, ticket), 201)["engineer_id"])
        # Loads differ now; complete at once so the next pick ties again.
        row = api.ok(api.get(f"/tickets/{ticket}/current-assignment"))
        aid = api.ok(api.get(f"/tickets/{ticket}/assignments"))[-1]["id"]
        assert row["engineer_id"] == picked[-1]
        api.accept(aid)
        api.complete(aid)
    assert picked == ids + ids


def test_auto_assign_next_tier_after_an_escalated_completion(api: Api) -> None:
    skill = "core-" + uuid4().hex[:6]
    l1 = api.engineer(skills=[skill], tier=1)["id"]
    l2 = api.engineer(skills=[skill], tier=2)["id"]
    ticket = api.ticket(required_skill=skill)["id"]
    first = api.ok(_auto(api, ticket), 201)
    assert first["engineer_id"] == l1 and first["assignment_tier"] == 1
    api.accept(first["id"])
    api.complete(first["id"], "escalated")
    second = api.ok(_auto(api, ticket, json={"reason": "customer waiting"}), 201)
    assert second["engineer_id"] == l2 and second["assignment_tier"] == 2
    assert second["assignment_reason"].endswith("; note: customer waiting")


def test_auto_assign_refuses_with_reasons_and_records_nothing(api: Api) -> None:
    skill = "rf-" + uuid4().hex[:6]
    full = api.engineer(skills=[skill], capacity=1)["id"]
    api.assign(api.ticket()["id"], full)
    off = api.engineer(skills=[skill], availability=0.0)["id"]
    gone = api.engineer(skills=[skill])["id"]
    api.deactivate(gone)
    ticket = api.ticket(required_skill=skill)["id"]
    rejecter = api.engineer(skills=[skill])["id"]
    api.reject(api.assign(ticket, rejecter)["id"])
    with api.records_nothing():
        body = api.problem(_auto(api, ticket), 409)
    assert body["type"].endswith("/no-eligible-engineer")
    reasons = {c["engineer_id"]: c["reasons"] for c in body["candidates"]}
    assert reasons[full] == ["at capacity 1/1"]
    assert reasons[off] == ["has no availability (0)"]
    assert reasons[gone] == ["is inactive"]
    assert reasons[rejecter] == ["rejected this ticket before"]


def test_auto_assign_state_version_and_idempotency(api: Api) -> None:
    skill = "x-" + uuid4().hex[:6]
    api.engineer(skills=[skill], capacity=10)
    api.engineer(skills=[skill], capacity=10)
    ticket = api.ticket(required_skill=skill)["id"]
    with api.records_nothing():
        api.problem(_auto(api, ticket, headers={"If-Match": '"7"'}), 412)
        api.problem(_auto(api, str(uuid4())), 404)
        api.problem(_auto(api, ticket, json={"tier": 0}), 422)
        api.problem(_auto(api, ticket, json={"engineer_id": "x"}), 422)
    key = {"Idempotency-Key": uuid4().hex}
    first = _auto(api, ticket, headers={**key, "If-Match": '"1"'})
    body = api.ok(first, 201)
    with api.records_nothing():
        again = _auto(api, ticket, headers={**key, "If-Match": '"1"'})
        assert again.status_code == 201 and again.json() == body
        # An active assignment: auto-assign does not stack another one.
        api.problem(_auto(api, ticket), 409)


def test_auto_assign_on_a_closed_ticket_is_409(api: Api) -> None:
    api.engineer(skills=[], capacity=10)
    ticket = api.ticket()["id"]
    api.close(ticket)
    with api.records_nothing():
        api.problem(_auto(api, ticket), 409)


def test_new_engineers_without_assignments_come_first(api: Api) -> None:
    skill = "y-" + uuid4().hex[:6]
    old = api.engineer(id="a-" + rand_engineer_id(), skills=[skill], capacity=100)["id"]
    api.assign(api.ticket()["id"], old)
    new = api.engineer(id="z-" + rand_engineer_id(), skills=[skill], capacity=100)["id"]
    # old: 1/100 open -> score 0.99; new: 1.0. Make the scores tie: give new one too.
    api.assign(api.ticket()["id"], new)
    ticket = api.ticket(required_skill=skill)["id"]
    assert api.ok(_auto(api, ticket), 201)["engineer_id"] == old  # least recently assigned


def test_auto_assign_chooses_again_when_its_pick_left_before_the_command(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engineer is chosen before the command runs; the command finds the
    pick outdated (here: the engineer was deactivated in between) and the
    route chooses again, from the roster as it now is."""
    skill = "re-" + uuid4().hex[:6]
    first = api.engineer(id="a-" + rand_engineer_id(), skills=[skill], capacity=10)["id"]
    second = api.engineer(id="b-" + rand_engineer_id(), skills=[skill], capacity=10)["id"]
    ticket = api.ticket(required_skill=skill)["id"]
    ledger = api.client.app.state.services.ledger
    real = ledger.auto_assign
    picks: list[str] = []

    def deactivating_the_first_pick(*args: Any, pick: Any, **kw: Any) -> Any:
        picks.append(pick.engineer_id)
        if len(picks) == 1:  # on the event loop: straight to the ledger
            ledger.update_engineer(pick.engineer_id, changes={"active": False}, actor="t").result()
        return real(*args, pick=pick, **kw)

    monkeypatch.setattr(ledger, "auto_assign", deactivating_the_first_pick)
    body = api.ok(_auto(api, ticket), 201)
    assert picks == [first, second]
    assert body["engineer_id"] == second


def test_auto_assign_answers_409_when_its_pick_keeps_going_stale(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    skill = "st-" + uuid4().hex[:6]
    api.engineer(skills=[skill], capacity=10)
    ticket = api.ticket(required_skill=skill)["id"]
    ledger = api.client.app.state.services.ledger
    real = ledger.auto_assign

    def always_stale(*args: Any, picked_at_version: int, **kw: Any) -> Any:
        return real(*args, picked_at_version=picked_at_version - 1, **kw)

    monkeypatch.setattr(ledger, "auto_assign", always_stale)
    with api.records_nothing():
        body = api.problem(_auto(api, ticket), 409)
    assert body["type"].endswith("/concurrent-update")
    assert "while its engineer was being chosen" in body["detail"]
