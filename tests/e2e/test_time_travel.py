"""GET /tickets/{id}?as_of=<time> and ?version=N: the ticket as it stood."""

from __future__ import annotations

from typing import Any



def _story(api: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A ticket taken L1 -> L2 and resolved; returns it and every answer on the way."""
    l1, l2 = api.engineer()["id"], api.engineer(tier=2)["id"]
    ticket = api.ticket(title="Chiller alarm")
    steps = [api.ticket_row(ticket["id"])]
    first = api.assign(ticket["id"], l1)
    steps.append(api.ticket_row(ticket["id"]))
    api.accept(first["id"])
    steps.append(api.ticket_row(ticket["id"]))
    second = api.escalate(ticket["id"], l2, reason="compressor")
    steps.append(api.ticket_row(ticket["id"]))
    api.accept(second["id"])
    api.complete(second["id"])
    steps.append(api.ticket_row(ticket["id"]))
    return ticket, steps


def test_every_version_reads_back_as_it_was_answered(api: Any) -> None:
    ticket, steps = _story(api)
    for answered in steps:
        past = api.ok(api.get(f"/tickets/{ticket['id']}", params={"version": answered["version"]}))
        assert past == answered
        assert api.client.get(
            f"/tickets/{ticket['id']}", params={"version": answered["version"]}
        ).headers["ETag"] == f'"{answered["version"]}"'


def test_as_of_a_time_returns_the_state_then(api: Any) -> None:
    ticket, steps = _story(api)
    for answered in steps:
        # updated_at is the time of the ticket's last event at that version.
        past = api.ok(api.get(f"/tickets/{ticket['id']}", params={"as_of": answered["updated_at"]}))
        assert past == answered
    now = api.ok(api.get(f"/tickets/{ticket['id']}", params={"as_of": "2999-01-01T00:00:00Z"}))
    assert now == api.ticket_row(ticket["id"])
    assert now["status"] == "resolved"


def test_before_the_ticket_existed_is_404_and_a_naive_time_is_400(api: Any) -> None:
    ticket, _ = _story(api)
    api.problem(api.get(f"/tickets/{ticket['id']}", params={"as_of": "2001-01-01T00:00:00Z"}), 404)
    api.problem(api.get(f"/tickets/{ticket['id']}", params={"as_of": "2001-01-01T00:00:00"}), 400)
    api.problem(api.get(f"/tickets/{ticket['id']}", params={"as_of": "yesterday"}), 422)
    api.problem(api.get(f"/tickets/{ticket['id']}", params={"version": 0}), 422)
