"""Proposals over HTTP: suggest a batch, approve (as proposed or with another
engineer), reject with a reason, decide a selection; superseded and stale
proposals recorded; every decision in the ticket's stream. SQLite and
PostgreSQL (``database_url``)."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from conftest import Api, running_client


def propose(api: Api, *ticket_ids: str, **fields: Any) -> dict[str, Any]:
    return api.ok(api.post("/proposals", json={"ticket_ids": list(ticket_ids), **fields}), 201)


def test_a_batch_never_plans_an_engineer_beyond_capacity_and_says_why_not(api: Api) -> None:
    a = api.engineer(capacity=1, skills=["fibre"])["id"]
    b = api.engineer(capacity=2, skills=["fibre"])["id"]  # one slot taken by hand below
    api.engineer(capacity=5, skills=["copper"])
    tickets = [api.ticket(required_skill="fibre")["id"] for _ in range(3)]
    closed = api.ticket()["id"]
    api.close(closed, "duplicate")
    assigned = api.ticket()["id"]
    api.assign(assigned, b)
    unknown = str(uuid4())

    result = propose(api, *tickets, closed, assigned, unknown)

    items = result["items"]
    assert [p["ticket_id"] for p in items] == tickets[:2]
    assert sorted(p["engineer_id"] for p in items) == sorted([a, b])
    for p in items:
        assert p["status"] == "pending" and p["tier"] == 1 and p["proposed_by"] == "e2e-tester"
        assert p["reasons"] and any("skill fibre" in r for r in p["reasons"])
        assert p["decided_at"] is None and p["assignment_id"] is None
    reasons = {u["ticket_id"]: " | ".join(u["reasons"]) for u in result["unassignable"]}
    assert set(reasons) == {tickets[2], closed, assigned, unknown}
    assert f"{a}: at capacity 1/1" in reasons[tickets[2]]
    assert f"{b}: at capacity 2/2" in reasons[tickets[2]]
    assert "does not have skill fibre" in reasons[tickets[2]]
    assert "closed" in reasons[closed]
    assert "active assignment" in reasons[assigned]
    assert "does not exist" in reasons[unknown]
    # Proposing assigns nothing.
    assert api.engineer_row(a)["open_assignments"] == 0


def test_approve_as_proposed_makes_an_auto_assignment_and_records_the_decision(
    api: Api,
) -> None:
    engineer = api.engineer(capacity=2)["id"]
    ticket = api.ticket()["id"]
    (proposal,) = propose(api, ticket)["items"]

    response = api.post(f"/proposals/{proposal['id']}/approve", json={"reason": "fine"})
    assignment = api.ok(response, 201)
    assert response.headers["location"] == f"/assignments/{assignment['id']}"
    assert (assignment["engineer_id"], assignment["assignment_type"]) == (engineer, "auto")
    assert f"proposal {proposal['id']} approved" in assignment["assignment_reason"]
    assert "note: fine" in assignment["assignment_reason"]

    row = api.ok(api.get(f"/proposals/{proposal['id']}"))
    assert (row["status"], row["assignment_id"], row["decided_by"], row["decision_reason"]) == (
        "approved", assignment["id"], "e2e-tester", "fine")
    # The decision and the assignment: two events of the ticket's stream, one save.
    events = api.ok(api.get(f"/tickets/{ticket}/events"))
    assert [e["type"] for e in events] == [
        "Ticket.Opened", "Ticket.Proposed", "Ticket.ProposalApproved", "Ticket.Assigned"]
    assert events[2]["position"] + 1 == events[3]["position"] or (
        events[2]["position"] < events[3]["position"])
    approved = events[2]["data"]
    assert approved["proposal_id"] == proposal["id"]
    assert approved["assignment_id"] == assignment["id"]
    assert events[2]["actor"] == "e2e-tester"

    again = api.problem(api.post(f"/proposals/{proposal['id']}/approve"), 409)
    assert again["type"].endswith("/proposal-not-pending")
    assert "approved" in again["detail"]


def test_approve_with_another_engineer_is_manual_and_says_so(api: Api) -> None:
    proposed = api.engineer()["id"]
    other = api.engineer(tier=2)["id"]
    ticket = api.ticket()["id"]
    (proposal,) = propose(api, ticket)["items"]
    assert proposal["engineer_id"] == proposed

    assignment = api.ok(api.post(f"/proposals/{proposal['id']}/approve", json={
        "engineer_id": other, "reason": "on site", "override_reason": "customer asked"}), 201)
    assert (assignment["engineer_id"], assignment["assignment_type"]) == (other, "manual")
    assert f"with {other} instead of the proposed {proposed}" in assignment["assignment_reason"]
    assert "override: customer asked" in assignment["assignment_reason"]
    row = api.ok(api.get(f"/proposals/{proposal['id']}"))
    assert row["status"] == "approved"
    assert row["decision_reason"] == (
        f"approved with {other} instead of {proposed}; on site; override: customer asked")
    event = api.ok(api.get(f"/tickets/{ticket}/events"))[2]
    assert event["type"] == "Ticket.ProposalApproved"
    assert (event["data"]["engineer_id"], event["data"]["proposed_engineer_id"]) == (
        other, proposed)
    assert event["data"]["override_reason"] == "customer asked"


def test_approving_with_an_unknown_engineer_is_422_and_records_nothing(api: Api) -> None:
    api.engineer()
    (proposal,) = propose(api, api.ticket()["id"])["items"]
    with api.records_nothing():
        api.problem(api.post(f"/proposals/{proposal['id']}/approve",
                             json={"engineer_id": "nobody-here"}), 422)
    assert api.ok(api.get(f"/proposals/{proposal['id']}"))["status"] == "pending"


def test_reject_needs_a_reason_and_records_who_and_why(api: Api) -> None:
    api.engineer()
    ticket = api.ticket()["id"]
    (proposal,) = propose(api, ticket)["items"]
    url = f"/proposals/{proposal['id']}/reject"
    with api.records_nothing():
        api.problem(api.post(url, json={}), 422)
        api.problem(api.post(url, json={"reason": ""}), 422)
        api.problem(api.post(f"/proposals/{uuid4()}/reject", json={"reason": "x"}), 404)

    rejected = api.ok(api.post(url, json={"reason": "on leave tomorrow"}))
    assert (rejected["status"], rejected["decision_reason"], rejected["decided_by"]) == (
        "rejected", "on leave tomorrow", "e2e-tester")
    assert rejected["decided_at"] and rejected["assignment_id"] is None
    event = api.ok(api.get(f"/tickets/{ticket}/events"))[-1]
    assert event["type"] == "Ticket.ProposalRejected"
    assert event["data"]["reason"] == "on leave tomorrow"
    problem = api.problem(api.post(f"/proposals/{proposal['id']}/approve"), 409)
    assert "rejected" in problem["detail"]


def test_a_new_proposal_supersedes_the_pending_one(api: Api) -> None:
    api.engineer()
    ticket = api.ticket()["id"]
    (first,) = propose(api, ticket)["items"]
    (second,) = propose(api, ticket)["items"]
    old = api.ok(api.get(f"/proposals/{first['id']}"))
    assert old["status"] == "superseded"
    assert old["decision_reason"] == f"superseded by proposal {second['id']}"
    types = [e["type"] for e in api.ok(api.get(f"/tickets/{ticket}/events"))]
    assert types == ["Ticket.Opened", "Ticket.Proposed", "Ticket.ProposalSuperseded",
                     "Ticket.Proposed"]
    assert api.problem(api.post(f"/proposals/{first['id']}/approve"), 409)["type"].endswith(
        "/proposal-not-pending")
    pending = api.ok(api.get("/proposals", params={"ticket_id": ticket, "status": "pending"}))
    assert [p["id"] for p in pending["items"]] == [second["id"]]


def test_approving_after_the_ticket_was_assigned_records_the_proposal_stale(api: Api) -> None:
    engineer = api.engineer()["id"]
    ticket = api.ticket()["id"]
    (proposal,) = propose(api, ticket)["items"]
    api.assign(ticket, engineer)

    problem = api.problem(api.post(f"/proposals/{proposal['id']}/approve"), 409)
    assert problem["type"].endswith("/proposal-stale")
    assert "active assignment" in problem["detail"]
    row = api.ok(api.get(f"/proposals/{proposal['id']}"))
    assert row["status"] == "stale" and "active assignment" in row["decision_reason"]
    event = api.ok(api.get(f"/tickets/{ticket}/events"))[-1]
    assert event["type"] == "Ticket.ProposalStale"
    # Once stale, it stays decided.
    assert api.problem(api.post(f"/proposals/{proposal['id']}/approve"), 409)["type"].endswith(
        "/proposal-not-pending")


def test_approving_as_proposed_at_capacity_is_409_and_leaves_it_pending(api: Api) -> None:
    engineer = api.engineer(capacity=1)["id"]
    first, second = api.ticket()["id"], api.ticket()["id"]
    (p1,) = propose(api, first)["items"]
    (p2,) = propose(api, second)["items"]  # another batch: planned on the same free slot
    assert p1["engineer_id"] == p2["engineer_id"] == engineer
    api.ok(api.post(f"/proposals/{p1['id']}/approve"), 201)

    problem = api.problem(api.post(f"/proposals/{p2['id']}/approve"), 409)
    assert problem["type"].endswith("/capacity-reached")
    assert f"{engineer!r} is at capacity: 1 open assignment of 1" in problem["detail"]
    assert api.ok(api.get(f"/proposals/{p2['id']}"))["status"] == "pending"
    assert [e["type"] for e in api.ok(api.get(f"/tickets/{second}/events"))] == [
        "Ticket.Opened", "Ticket.Proposed"]


def test_decide_approves_and_rejects_a_selection_each_alone(api: Api) -> None:
    api.engineer(capacity=3)
    tickets = [api.ticket()["id"] for _ in range(3)]
    p1, p2, p3 = propose(api, *tickets)["items"]
    unknown = str(uuid4())

    results = api.ok(api.post("/proposals/decide", json={
        "approve": [p1["id"], unknown, p2["id"]],
        "reject": [{"id": p3["id"], "reason": "wrong area"}, {"id": p1["id"], "reason": "x"}],
    }))["results"]

    assert [(r["id"], r["status"]) for r in results] == [
        (p1["id"], 201), (unknown, 404), (p2["id"], 201), (p3["id"], 200), (p1["id"], 409)]
    assert results[0]["assignment"]["ticket_id"] == tickets[0]
    assert results[1]["problem"]["type"].endswith("/proposal-not-found")
    assert results[3]["proposal"]["status"] == "rejected"
    assert results[3]["proposal"]["decision_reason"] == "wrong area"
    assert results[4]["problem"]["type"].endswith("/proposal-not-pending")
    statuses = {p["id"]: p["status"] for p in api.ok(api.get("/proposals"))["items"]}
    assert statuses == {p1["id"]: "approved", p2["id"]: "approved", p3["id"]: "rejected"}


def test_lists_filter_and_page(api: Api) -> None:
    a = api.engineer(capacity=5)["id"]
    tickets = [api.ticket()["id"] for _ in range(5)]
    made = propose(api, *tickets)["items"]
    api.ok(api.post(f"/proposals/{made[0]['id']}/reject", json={"reason": "no"}))
    pages = api.paged("/proposals", 2, status="pending")
    assert [p["id"] for page in pages for p in page] == [p["id"] for p in made[1:]]
    assert [len(page) for page in pages] == [2, 2]
    by_engineer = api.ok(api.get("/proposals", params={"engineer_id": a}))["items"]
    assert len(by_engineer) == 5
    assert api.ok(api.get("/proposals", params={"engineer_id": "someone-else"}))["items"] == []
    api.problem(api.get("/proposals", params={"status": "maybe"}), 422)
    api.problem(api.get("/proposals", params={"cursor": "not-a-cursor"}), 400)
    api.problem(api.get(f"/proposals/{uuid4()}"), 404)


def test_bad_batches_are_refused_whole(api: Api) -> None:
    with api.records_nothing():
        api.problem(api.post("/proposals", json={"ticket_ids": []}), 422)
        api.problem(api.post("/proposals", json={"ticket_ids": [str(uuid4())] * 501}), 422)
        api.problem(api.post("/proposals", json={"ticket_ids": [str(uuid4())], "tier": 0}), 422)
        api.problem(api.post("/proposals", json={"ticket_ids": ["nope"]}), 422)


def test_proposals_follow_the_qualification_rule(api: Api) -> None:
    """Territory and certification (valid today) as well as skill and tier; a
    higher tier only when nobody at the ticket's tier qualifies."""
    api.engineer(id="north-1", territories=["north"], skills=["fibre"])
    api.engineer(id="south-1", territories=["south"], skills=["fibre"],
                 certifications=[{"name": "splicing", "expires_on": "2020-01-01"}])
    api.engineer(id="south-2", territories=["south"], skills=["fibre"], tier=2,
                 certifications=[{"name": "splicing", "expires_on": None}])
    north = api.ticket(territory="north", required_skill="fibre")["id"]
    splice = api.ticket(territory="south", required_skill="fibre",
                        required_certification="splicing")["id"]
    far = api.ticket(territory="west", required_skill="fibre")["id"]

    result = propose(api, north, splice, far)

    by_ticket = {p["ticket_id"]: p for p in result["items"]}
    assert by_ticket[north]["engineer_id"] == "north-1"
    assert by_ticket[splice]["engineer_id"] == "south-2"
    assert any("certification splicing ✓" in r for r in by_ticket[splice]["reasons"])
    assert any("tier 2 for tier 1" in r for r in by_ticket[splice]["reasons"])
    (refused,) = result["unassignable"]
    text = " | ".join(refused["reasons"])
    assert refused["ticket_id"] == far
    assert "north-1: does not cover territory west" in text
    assert "certification splicing expired on 2020-01-01" not in text  # not asked by this one


def test_approving_with_an_unqualified_engineer_under_enforce(database_url: str) -> None:
    with running_client(database_url, qualification_policy="enforce") as client:
        api = Api(client)
        api.engineer(id="fibre-1", skills=["fibre"])
        api.engineer(id="copper-1", skills=["copper"])
        ticket = api.ticket(required_skill="fibre")["id"]
        (proposal,) = propose(api, ticket)["items"]
        url = f"/proposals/{proposal['id']}/approve"
        with api.records_nothing():
            problem = api.problem(api.post(url, json={"engineer_id": "copper-1"}), 409)
        assert problem["type"].endswith("/engineer-not-qualified")
        assert problem["unmet"] == ["does not have skill fibre"]

        made = api.ok(api.post(url, json={"engineer_id": "copper-1",
                                          "override_reason": "only one on site"}), 201)
        assert made["assignment_type"] == "manual"
        assigned = api.ok(api.get(f"/tickets/{ticket}/events"))[-1]
        assert assigned["type"] == "Ticket.Assigned"
        assert assigned["data"]["qualification_warnings"] == ["does not have skill fibre"]
        assert assigned["data"]["override_reason"] == "only one on site"
