"""GET /assignments/at: who held what, when (the ``assignment_intervals`` table)."""

from __future__ import annotations

import time

from datetime import UTC, datetime, timedelta, timezone
from typing import Any


def _shift(stamp: str, microseconds: int) -> str:
    """A canonical event time moved by some microseconds."""
    moved = datetime.fromisoformat(stamp.replace("Z", "+00:00")) + timedelta(
        microseconds=microseconds)
    return moved.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _held(api: Any, time: str, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for page in api.paged("/assignments/at", limit=params.pop("limit", 100), time=time,
                          **params):
        items.extend(page)
    return items


def _who(api: Any, time: str, **params: Any) -> list[tuple[str, int]]:
    return [(i["engineer_id"], i["tier"]) for i in _held(api, time, **params)]


def test_assign_escalate_reassign_complete_at_several_instants(api: Any) -> None:
    l1, l2, other_l2 = api.engineer(tier=1)["id"], api.engineer(tier=2)["id"], api.engineer(
        tier=2)["id"]
    ticket = api.ticket()["id"]
    a1 = api.assign(ticket, l1, tier=1)
    api.accept(a1["id"])
    a2 = api.escalate(ticket, l2, reason="needs L2")
    api.accept(a2["id"])
    a3 = api.reassign(a2["id"], other_l2, reason="shift change")
    api.accept(a3["id"])
    api.start(a3["id"])
    api.complete(a3["id"], "success")
    events = {e["type"]: e for e in api.ok(api.get(f"/tickets/{ticket}/events"))}
    assigned = events["Ticket.Assigned"]["recorded_at"]
    escalated = events["Ticket.Escalated"]["recorded_at"]
    reassigned = events["Ticket.Reassigned"]["recorded_at"]
    completed = events["Ticket.Completed"]["recorded_at"]

    mine = {"ticket_id": ticket}
    assert _who(api, _shift(assigned, -1), **mine) == []
    assert _who(api, assigned, **mine) == [(l1, 1)]
    assert _who(api, _shift(escalated, -1), **mine) == [(l1, 1)]
    assert _who(api, escalated, **mine) == [(l2, 2)]  # half-open: the new holder
    assert _who(api, _shift(reassigned, -1), **mine) == [(l2, 2)]
    assert _who(api, reassigned, **mine) == [(other_l2, 2)]
    assert _who(api, _shift(completed, -1), **mine) == [(other_l2, 2)]
    assert _who(api, completed, **mine) == []
    assert _who(api, "2999-01-01T00:00:00Z", **mine) == []

    (row,) = _held(api, escalated, **mine)
    assert row == {
        "assignment_id": a2["id"], "ticket_id": ticket, "engineer_id": l2, "tier": 2,
        "tier_name": "L2", "valid_from": escalated, "valid_to": reassigned,
        "ended_by": "reassigned", "from_position": events["Ticket.Escalated"]["position"],
        "to_position": events["Ticket.Reassigned"]["position"],
    }
    (last,) = _held(api, reassigned, **mine)
    assert (last["valid_to"], last["ended_by"]) == (completed, "completed")
    # By engineer, and with a zone other than Z (the same instant).
    assert _who(api, escalated, engineer_id=l1) == []
    assert _who(api, _shift(escalated, -1), engineer_id=l1) == [(l1, 1)]
    local = datetime.fromisoformat(escalated.replace("Z", "+00:00")).astimezone(
        timezone(timedelta(hours=5, minutes=30))).isoformat()
    assert _who(api, local, **mine) == [(l2, 2)]


def test_open_intervals_and_paging(api: Any) -> None:
    engineer = api.engineer(capacity=10)["id"]
    tickets = [api.ticket()["id"] for _ in range(3)]
    assignments = [api.assign(t, engineer) for t in tickets]
    now = "2999-01-01T00:00:00+00:00"  # every still-held interval is open-ended
    held = _held(api, now, engineer_id=engineer, limit=1)
    assert [h["assignment_id"] for h in held] == [a["id"] for a in assignments]
    assert all(h["valid_to"] is None and h["ended_by"] is None for h in held)
    pages = api.paged("/assignments/at", limit=2, time=now, engineer_id=engineer)
    assert [len(p) for p in pages] == [2, 1]
    # Everyone's, unfiltered: these three are among them.
    everyone = {h["assignment_id"] for h in _held(api, now)}
    assert {a["id"] for a in assignments} <= everyone
    api.remove(assignments[0]["id"])
    assert [h["assignment_id"] for h in _held(api, now, engineer_id=engineer)] == [
        a["id"] for a in assignments[1:]]


def test_bad_times_are_422(api: Any) -> None:
    for params in ({"time": "yesterday"}, {"time": "2026-01-01T00:00:00"}, {},
                   {"time": "2026-01-01T00:00:00Z", "ticket_id": "nope"},
                   {"time": "2026-01-01T00:00:00Z", "limit": 0}):
        api.problem(api.get("/assignments/at", params=params), 422)
    api.problem(api.get("/assignments/at", params={"time": "2026-01-01T00:00:00Z",
                                                    "cursor": "garbage"}), 400)


def test_rebuilt_intervals_equal_the_live_ones(api: Any) -> None:
    e1, e2, e3 = (api.engineer(tier=t)["id"] for t in (1, 2, 2))
    ticket = api.ticket()["id"]
    a1 = api.assign(ticket, e1)
    api.reject(a1["id"])
    api.assign(ticket, e1)
    a3 = api.escalate(ticket, e2)
    api.reassign(a3["id"], e3)
    stamps = [e["recorded_at"] for e in api.ok(api.get(f"/tickets/{ticket}/events"))]
    instants = [*stamps, "2999-01-01T00:00:00Z"]
    live = [_held(api, t) for t in instants]
    assert any(live)
    generation = next(r["generation"] for r in api.ok(api.get("/projections"))
                      if r["name"] == "assignment_intervals")
    response = api.post("/projections/assignment_intervals/rebuild")
    assert response.status_code == 202, response.text
    deadline = time.monotonic() + 20
    while not any(r["name"] == "assignment_intervals" and r["generation"] > generation
                  and r["state"] == "live" and r["status"] == "live"
                  for r in api.ok(api.get("/projections"))):
        assert time.monotonic() < deadline, "rebuild did not finish"
        time.sleep(0.05)
    assert [_held(api, t) for t in instants] == live
