"""``GET /assignments?since=&until=``: a window on ``assigned_at`` (since
inclusive, until exclusive), with the other filters and paging."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from conftest import Api


def now() -> str:
    time.sleep(0.01)  # strictly between the assignments around it
    stamp = datetime.now(UTC).isoformat()
    time.sleep(0.01)
    return stamp


def ids(api: Api, **params: str) -> list[str]:
    return [a["id"] for page in api.paged("/assignments", 1, **params) for a in page]


def test_since_and_until_bound_assigned_at(api: Api) -> None:
    engineer = api.engineer(capacity=10)["id"]
    before = now()
    first = api.assign(api.ticket()["id"], engineer)["id"]
    middle = now()
    second = api.assign(api.ticket()["id"], engineer)["id"]
    third = api.assign(api.ticket()["id"], engineer)["id"]
    after = now()

    assert ids(api, since=before) == [first, second, third]
    assert ids(api, since=middle) == [second, third]
    assert ids(api, until=middle) == [first]
    assert ids(api, since=before, until=middle) == [first]
    assert ids(api, since=after) == []
    # since is inclusive, until exclusive: the exact assigned_at of one.
    at = api.assignment_row(second)["assigned_at"]
    assert ids(api, since=at, until=after) == [second, third]
    assert ids(api, since=middle, until=at) == []
    # With another filter, and without an offset (read as UTC).
    naive = datetime.fromisoformat(middle).replace(tzinfo=None).isoformat()
    assert ids(api, since=naive, engineer_id=engineer, status="active") == [second, third]
    assert ids(api, since=middle, engineer_id="someone-else") == []


def test_a_bad_window_is_refused(api: Api) -> None:
    api.problem(api.get("/assignments", params={"since": "yesterday"}), 422)
    problem = api.problem(api.get("/assignments", params={
        "since": "2026-05-02T00:00:00Z", "until": "2026-05-01T00:00:00Z"}), 422)
    assert "must be before until" in problem["detail"]
