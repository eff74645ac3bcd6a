"""Issue 21: manual commands that name an engineer check the qualification rule.
``warn`` (default) records the unmet requirements as ``qualification_warnings``
(event, EngineerAssignment row, response); ``enforce`` refuses with 409
``engineer-not-qualified`` listing every one, unless ``override_reason`` is
given, which is recorded under both policies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from conftest import Api

YESTERDAY = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
TODAY = datetime.now(UTC).date().isoformat()


def _event(api: Api, ticket_id: str, kind: str) -> dict[str, Any]:
    return [e for e in api.get(f"/tickets/{ticket_id}/events").json()
            if e["type"] == f"Ticket.{kind}"][-1]["data"]


def test_warn_records_what_a_copper_engineer_lacks_for_a_fibre_ticket(api: Api) -> None:
    copper = api.engineer(skills=["copper"])["id"]
    ticket = api.ticket(required_skill="fibre")["id"]
    assignment = api.assign(ticket, copper)
    assert assignment["qualification_warnings"] == ["does not have skill fibre"]
    assert assignment["override_reason"] is None
    assert api.assignment_row(assignment["id"]) == assignment
    assert _event(api, ticket, "Assigned")["qualification_warnings"] == [
        "does not have skill fibre"]


def test_warn_records_an_empty_list_for_a_qualified_engineer(api: Api) -> None:
    fibre = api.engineer(skills=["fibre"], territories=["north"],
                         certifications=[{"name": "splicing", "expires_on": TODAY}])["id"]
    ticket = api.ticket(required_skill="fibre", territory="north",
                        required_certification="splicing")["id"]
    assert api.assign(ticket, fibre)["qualification_warnings"] == []


def test_warn_escalation_to_a_tier_1_engineer_and_reassign_outside_territory(api: Api) -> None:
    ticket, _first, assignment = api.assigned(tier=1, location={"zone": "north"})
    tier1 = api.engineer(tier=1)["id"]
    escalated = api.escalate(ticket, tier1, override_reason="Only one on shift")
    assert escalated["qualification_warnings"] == ["is tier 1; the ticket needs tier 2"]
    assert escalated["override_reason"] == "Only one on shift"
    assert _event(api, ticket, "Escalated")["override_reason"] == "Only one on shift"
    south = api.engineer(tier=2, territories=["south"])["id"]
    reassigned = api.reassign(escalated["id"], south)
    assert reassigned["qualification_warnings"] == ["does not cover territory north"]


@pytest.fixture
def enforcing(open_client: Any) -> Any:
    with open_client(qualification_policy="enforce") as client:
        yield Api(client)


def test_enforce_refuses_listing_every_unmet_requirement(enforcing: Api) -> None:
    api = enforcing
    engineer = api.engineer(skills=["copper"], tier=1, territories=["south"],
                            certifications=[{"name": "splicing", "expires_on": YESTERDAY}])["id"]
    ticket = api.ticket(required_skill="fibre", territory="north",
                        required_certification="splicing")["id"]
    with api.records_nothing():
        problem = api.problem(api.post("/assignments", json={
            "ticket_id": ticket, "engineer_id": engineer, "tier": 2}), 409)
    assert problem["type"].endswith("/engineer-not-qualified")
    assert problem["unmet"] == [
        "does not have skill fibre", "does not cover territory north",
        f"certification splicing expired on {YESTERDAY}", "is tier 1; the ticket needs tier 2"]
    assert "override_reason" in problem["detail"]


def test_enforce_with_override_reason_records_it_and_the_warnings(enforcing: Api) -> None:
    api = enforcing
    engineer = api.engineer(skills=["copper"])["id"]
    ticket = api.ticket(required_skill="fibre")["id"]
    assignment = api.assign(ticket, engineer, override_reason="Fibre team on strike")
    assert assignment["override_reason"] == "Fibre team on strike"
    assert assignment["qualification_warnings"] == ["does not have skill fibre"]
    data = _event(api, ticket, "Assigned")
    assert (data["override_reason"], data["qualification_warnings"]) == (
        "Fibre team on strike", ["does not have skill fibre"])


def test_enforce_lets_a_qualified_engineer_through_and_checks_escalation(enforcing: Api) -> None:
    api = enforcing
    ticket, _engineer, _assignment = api.assigned(tier=1)
    tier1 = api.engineer(tier=1)["id"]
    with api.records_nothing():
        problem = api.problem(api.post("/assignments/escalate", json={
            "ticket_id": ticket, "next_engineer_id": tier1, "reason": "beyond L1"}), 409)
    assert problem["unmet"] == ["is tier 1; the ticket needs tier 2"]
    tier2 = api.engineer(tier=2)["id"]
    assert api.escalate(ticket, tier2)["qualification_warnings"] == []


def test_enforce_sees_an_engineer_change_at_once(enforcing: Api) -> None:
    """The check reads the Engineer aggregate (cached), never a stale copy."""
    api = enforcing
    engineer = api.engineer(skills=["copper"])["id"]
    first = api.ticket(required_skill="fibre")["id"]
    api.problem(api.post("/assignments", json={
        "ticket_id": first, "engineer_id": engineer, "tier": 1}), 409)
    api.ok(api.client.patch(f"/engineers/{engineer}", json={"skills": ["copper", "fibre"]}))
    assert api.assign(first, engineer)["qualification_warnings"] == []


def test_a_closed_ticket_answers_its_own_409_before_qualification(enforcing: Api) -> None:
    api = enforcing
    engineer = api.engineer(skills=["copper"])["id"]
    ticket = api.ticket(required_skill="fibre")["id"]
    api.close(ticket)
    problem = api.problem(api.post("/assignments", json={
        "ticket_id": ticket, "engineer_id": engineer, "tier": 1}), 409)
    assert problem["type"].endswith("/invalid-state")
