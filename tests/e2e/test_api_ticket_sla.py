"""Ticket-level SLA (docs/field-service.md): ``resolve_by`` per ticket and
``GET /sla/breaches?level=``. Time is fixed by recording the events at chosen
times (the ledger's ``timestamp``, as an importer does), so what is late is
known exactly; SQLite and PostgreSQL."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from conftest import Api

H = timedelta(hours=1)


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


class Story:
    """Tickets recorded at chosen times through the app's ``Ledger``."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.services = api.client.app.state.services
        self.now = datetime.now(UTC)
        self.engineer = api.engineer(tier=1)["id"]

    def _done(self, result: Any) -> Any:
        self.services.read_side.wait_for(result.position, 5)
        return result

    def ticket(self, priority: str, opened_ago: timedelta, **fields: Any) -> str:
        result = self.services.ledger.open_ticket(
            title=f"{priority} ticket", priority=priority, actor="desk",
            timestamp=self.now - opened_ago, **fields).result()
        return str(self._done(result).aggregate_id)

    def resolve(self, ticket_id: str, ago: timedelta) -> None:
        at, ledger, tid = self.now - ago, self.services.ledger, UUID(ticket_id)
        assigned = ledger.assign(tid, engineer_id=self.engineer, tier=1, actor="desk",
                                 timestamp=at - timedelta(seconds=2)).result()
        aid = assigned.assignment_id
        ledger.accept(tid, aid, actor=self.engineer, timestamp=at - timedelta(seconds=1)).result()
        self._done(ledger.complete(tid, aid, completion_status="success", time_spent_hours=1.0,
                                   actor=self.engineer, timestamp=at).result())

    def close(self, ticket_id: str, ago: timedelta) -> None:
        self._done(self.services.ledger.close_ticket(
            UUID(ticket_id), reason="done", actor="desk", timestamp=self.now - ago).result())

    def reopen(self, ticket_id: str, ago: timedelta) -> None:
        self._done(self.services.ledger.reopen_ticket(
            UUID(ticket_id), reason="back", actor="desk", timestamp=self.now - ago).result())


def breaches(api: Api, **params: Any) -> list[dict[str, Any]]:
    return api.ok(api.get("/sla/breaches", params={"limit": 1000, **params}))["items"]


def ticket_items(api: Api, **params: Any) -> dict[str, dict[str, Any]]:
    return {b["ticket_id"]: b for b in breaches(api, **params) if b["level"] == "ticket"}


def test_ticket_breaches_by_priority_targets(api: Api) -> None:
    s = Story(api)
    late_open = s.ticket("critical", 5 * H)           # 4 h target: open 5 h -> breached
    in_time_open = s.ticket("critical", 3 * H)        # open 3 h -> not yet
    late_resolved = s.ticket("high", 20 * H)          # 8 h target, resolved after 10 h
    s.resolve(late_resolved, 10 * H)
    resolved_in_time = s.ticket("high", 20 * H)       # resolved after 7 h
    s.resolve(resolved_in_time, 13 * H)
    closed_late = s.ticket("medium", 30 * H)          # 24 h target, closed unresolved at 25 h
    s.close(closed_late, 5 * H)
    resolved_then_closed = s.ticket("medium", 30 * H)  # resolved at 2 h; closed at 29 h: met
    s.resolve(resolved_then_closed, 28 * H)
    s.close(resolved_then_closed, 1 * H)
    reopened = s.ticket("low", 100 * H)               # 72 h target; resolved at 10 h, reopened
    s.resolve(reopened, 90 * H)
    s.reopen(reopened, 50 * H)                        # open again, past its resolve_by

    items = ticket_items(api)
    assert set(items) == {late_open, late_resolved, closed_late, reopened}
    assert in_time_open not in items and resolved_in_time not in items
    a = items[late_open]
    assert (a["priority"], a["running"], a["stopped_at"], a["end_reason"], a["due_at"]) == (
        "critical", True, None, None, None)
    assert a["target_seconds"] == 4 * 3600
    assert a["deadline"] == iso(s.now - H) and a["started_at"] == iso(s.now - 5 * H)
    assert 3600 <= a["overdue_seconds"] < 3600 + 120
    b = items[late_resolved]
    assert (b["running"], b["end_reason"], b["stopped_at"]) == (False, "resolved", iso(s.now - 10 * H))
    assert (b["elapsed_seconds"], b["overdue_seconds"]) == (10 * 3600, 2 * 3600)
    assert items[closed_late]["end_reason"] == "closed"
    assert items[closed_late]["overdue_seconds"] == 3600
    assert items[reopened]["running"] is True and items[reopened]["end_reason"] is None

    # level=ticket alone; level=assignment keeps today's items (none here: defaults are hours
    # and every assignment was accepted and completed within seconds).
    assert set(ticket_items(api, level="ticket")) == set(items)
    assert breaches(api, level="assignment") == []
    # since: deadlines at or after it.
    assert set(ticket_items(api, since=iso(s.now - 3 * H))) == {late_open}


def test_targets_come_from_the_settings(open_client: Any) -> None:
    with open_client(ticket_sla="critical=30m,low=2h") as client:
        api = Api(client)
        s = Story(api)
        critical = s.ticket("critical", H)   # 30 min target: late
        low = s.ticket("low", H)             # 2 h: not yet
        medium = s.ticket("medium", 25 * H)  # left out: keeps its 24 h default, late
        items = ticket_items(api, level="ticket")
        assert set(items) == {critical, medium}
        assert items[critical]["target_seconds"] == 1800
        assert low not in items


def test_both_levels_page_together_in_one_order(open_client: Any) -> None:
    fast = {"critical": {1: {"accept": 1, "resolve": 2}}}
    with open_client(sla_targets=fast) as client:
        api = Api(client)
        s = Story(api)
        tickets = [s.ticket("critical", (10 - i) * H) for i in range(3)]
        # An assignment left unaccepted for a second: its accept and resolve clocks run out.
        late = api.assign(tickets[1], s.engineer, tier=1)
        time.sleep(2.2)
        items = breaches(api)
        levels = [(b["level"], b.get("clock")) for b in items]
        assert levels.count(("ticket", None)) == 3
        assert {b["assignment_id"] for b in items if b["level"] == "assignment"} == {late["id"]}
        keys = [(b["started_at"], b.get("assignment_id") or b["ticket_id"], b.get("clock", ""))
                for b in items]
        assert keys == sorted(keys) and len(keys) == 5
        pages = api.paged("/sla/breaches", limit=2)
        assert [(b["started_at"], b.get("assignment_id") or b["ticket_id"], b.get("clock", ""))
                for page in pages for b in page] == keys
        assert all(len(page) <= 2 for page in pages)


@pytest.mark.parametrize("params", [
    {"level": "ticket", "tier": 1}, {"level": "ticket", "engineer_id": "x"}, {"level": "both"},
])
def test_bad_level_combinations_are_422(api: Api, params: dict[str, Any]) -> None:
    api.problem(api.get("/sla/breaches", params=params), 422)


def test_a_tier_or_engineer_filter_lists_assignment_items_only(api: Api) -> None:
    s = Story(api)
    s.ticket("critical", 10 * H)
    assert ticket_items(api)  # the ticket breaches
    assert breaches(api, tier=1) == []
    assert breaches(api, engineer_id=s.engineer) == []


def test_resolve_by_on_the_ticket_follows_priority_and_due_at(api: Api) -> None:
    s = Story(api)
    ticket_id = s.ticket("critical", 5 * H)
    opened = s.now - 5 * H
    row = api.ticket_row(ticket_id)
    assert row["resolve_by"] == iso(opened + 4 * H) and row["due_at"] is None
    assert ticket_id in ticket_items(api)

    # A lower priority moves resolve_by (and the breach goes).
    api.ok(api.client.patch(f"/tickets/{ticket_id}", json={"priority": "low"}))
    assert api.ticket_row(ticket_id)["resolve_by"] == iso(opened + 72 * H)
    assert ticket_id not in ticket_items(api)

    # A due date overrides the priority's target, either way.
    due = (s.now + 2 * H).replace(microsecond=0)
    row = api.ok(api.client.patch(f"/tickets/{ticket_id}", json={"due_at": iso(due)}))
    assert row["resolve_by"] == row["due_at"] == iso(due).replace("Z", ".000000Z")
    assert ticket_id not in ticket_items(api)
    past = (s.now - H).replace(microsecond=0)
    api.ok(api.client.patch(f"/tickets/{ticket_id}", json={"due_at": iso(past)}))
    item = ticket_items(api)[ticket_id]
    assert item["due_at"] == item["deadline"] == iso(past).replace("Z", ".000000Z")
    assert item["target_seconds"] == (past - opened).total_seconds()
    # Clearing it goes back to the priority's target (low: 72 h, not yet).
    api.ok(api.client.patch(f"/tickets/{ticket_id}", json={"due_at": None}))
    assert api.ticket_row(ticket_id)["resolve_by"] == iso(opened + 72 * H)
    assert ticket_id not in ticket_items(api)
    listed = api.ok(api.get("/tickets", params={"limit": 1000}))["items"]
    assert {t["id"]: t["resolve_by"] for t in listed}[ticket_id] == iso(opened + 72 * H)


def test_a_due_date_given_when_opened(api: Api) -> None:
    s = Story(api)
    late = s.ticket("low", 10 * H, due_at=s.now - 2 * H)
    early = s.ticket("critical", 10 * H, due_at=s.now + 2 * H)  # critical target passed; due_at rules
    resolved_in_time = s.ticket("low", 10 * H, due_at=s.now - 2 * H)
    s.resolve(resolved_in_time, 3 * H)
    items = ticket_items(api, level="ticket")
    assert late in items and early not in items and resolved_in_time not in items
    assert items[late]["deadline"] == iso(s.now - 2 * H)
    assert api.ticket_row(early)["resolve_by"] == iso(s.now + 2 * H)
