"""``DELETE /assignments/{id}?reason=`` (seed 004's remove call) records the reason,
as the body's ``reason`` does; both given and different is a 422 that records
nothing."""

from __future__ import annotations

from typing import Any

Api = Any


def removed_reason(api: Api, assignment_id: str) -> str | None:
    history = api.ok(api.get(f"/assignments/{assignment_id}/history"))
    assert [h["action"] for h in history] == ["created", "removed"]
    return history[-1]["reason"]


def event_reason(api: Api, ticket_id: str) -> str | None:
    events = api.ok(api.get(f"/tickets/{ticket_id}/events"))
    assert events[-1]["type"].endswith("Removed")
    return events[-1]["data"]["reason"]


def test_query_reason_is_recorded(api: Api) -> None:
    ticket_id, _eng, assignment = api.assigned()
    aid = assignment["id"]
    response = api.client.delete(f"/assignments/{aid}", params={"reason": "Removed by user"})
    assert api.ok(response)["status"] == "removed"
    assert removed_reason(api, aid) == "Removed by user"
    assert event_reason(api, ticket_id) == "Removed by user"


def test_body_reason_still_works_and_agreeing_both_are_fine(api: Api) -> None:
    ticket_id, _eng, assignment = api.assigned()
    aid = assignment["id"]
    api.ok(api.client.request("DELETE", f"/assignments/{aid}", json={"reason": "duplicate"}))
    assert removed_reason(api, aid) == "duplicate"

    _tid, _eng, other = api.assigned()
    api.ok(api.client.request("DELETE", f"/assignments/{other['id']}",
                              params={"reason": "same"}, json={"reason": "same"}))
    assert removed_reason(api, other["id"]) == "same"


def test_two_different_reasons_are_refused(api: Api) -> None:
    _tid, _eng, assignment = api.assigned()
    aid = assignment["id"]
    with api.records_nothing():
        body = api.problem(api.client.request(
            "DELETE", f"/assignments/{aid}", params={"reason": "a"}, json={"reason": "b"}), 422)
    assert any(e["loc"][-1] == "reason" for e in body["errors"])
    with api.records_nothing():
        api.problem(api.client.delete(f"/assignments/{aid}", params={"reason": "x" * 2001}), 422)
    assert api.assignment_row(aid)["status"] == "assigned"


def test_no_reason_records_none(api: Api) -> None:
    _tid, _eng, assignment = api.assigned()
    api.ok(api.client.delete(f"/assignments/{assignment['id']}"))
    assert removed_reason(api, assignment["id"]) is None
