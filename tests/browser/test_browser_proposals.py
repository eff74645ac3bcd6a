"""A dispatcher in the browser, by clicks only: selects tickets on the board and
proposes; on the Proposals page approves a selection, rejects one with a
reason, approves one with another engineer; an approval the ticket has outrun
shows the problem's detail. A role that may not decide sees no button."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest
from playwright.sync_api import expect

from console_browser import Server, shot, sign_in
from console_browser import browser, open_context, server  # noqa: F401 - fixtures

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def crew(server: Server) -> dict[str, str]:
    """Two tier-1 engineers with the skill, and a tier-2 one never proposed at
    tier 1 (made through the API: not what is tested)."""
    with server.api() as api:
        for engineer_id, name, tier in (("pp-ada", "Ada Pole", 1), ("pp-bo", "Bo Splice", 1),
                                        ("pp-cy", "Cy Senior", 2)):
            r = api.post("/engineers", json={"id": engineer_id, "name": name, "tier": tier,
                                             "skills": ["splicing"], "capacity": 10})
            assert r.status_code == 201, r.text
    return {"a": "pp-ada", "b": "pp-bo", "senior": "pp-cy"}


def open_tickets(server: Server, n: int) -> list[tuple[str, str]]:
    """``n`` tickets needing the skill: (id, title)."""
    made = []
    with server.api() as api:
        for i in range(n):
            title = f"Splice {i} {uuid4().hex[:6]}"
            r = api.post("/tickets", json={"title": title, "required_skill": "splicing"})
            assert r.status_code == 201, r.text
            made.append((r.json()["id"], title))
    return made


def row(page: Any, title: str) -> Any:
    return page.locator("tr[data-proposal]", has=page.get_by_role("link", name=title))


def opened(scope: Any, summary: str) -> Any:
    """The ``<details>`` in ``scope`` whose summary is ``summary``, opened by a click."""
    box = scope.locator("details", has=scope.page.locator("summary", has_text=summary))
    box.locator("summary").click()
    return box


def test_a_batch_is_proposed_then_approved_in_part_and_rejected_in_part(
    server: Server, crew: dict[str, str], open_context: Any
) -> None:
    tickets = open_tickets(server, 5)
    (t1, title1), (t2, title2), (t3, title3), (t4, title4), (t5, title5) = tickets
    page = sign_in(open_context(), server.tokens["dispatch-1"])

    # The board: select the five, Propose.
    for _id, title in tickets:
        page.get_by_label(f"Select {title}").check()
    page.get_by_role("button", name="Propose").click()
    expect(page.get_by_role("heading", name="Proposals")).to_be_visible()
    expect(page.get_by_role("status")).to_have_text("Proposed an engineer for 5 ticket(s).")
    for _id, title in tickets:
        expect(row(page, title)).to_contain_text("skill splicing")
    shot(page, "console-proposals")

    # Meanwhile the fifth ticket is assigned by someone else.
    with server.api() as api:
        r = api.post("/assignments", json={"ticket_id": t5, "engineer_id": crew["a"], "tier": 1})
        assert r.status_code == 201, r.text

    # Approve two as proposed, in one go.
    page.get_by_label(f"Select {title1}").check()
    page.get_by_label(f"Select {title2}").check()
    page.locator("#decide-form").get_by_role("button", name="Approve").click()
    expect(page.get_by_role("status")).to_have_text("Approved 2 of 2.")
    expect(row(page, title1)).to_have_count(0)

    # Reject one, with a reason.
    box = opened(row(page, title3), "Reject…")
    box.get_by_label("Reason").fill("Customer postponed to next week")
    box.get_by_role("button", name="Reject").click()
    expect(page.get_by_role("status")).to_have_text("Proposal rejected.")

    # Approve one with another engineer.
    box = opened(row(page, title4), "Approve with…")
    box.get_by_label("Engineer").select_option(crew["senior"])
    box.get_by_label("Reason", exact=True).fill("Needs a senior")
    box.get_by_role("button", name="Approve").click()
    expect(page.get_by_role("status")).to_have_text(f"Approved with {crew['senior']}.")

    # The fifth's ticket was assigned meanwhile: the problem's detail is shown.
    page.get_by_label(f"Select {title5}").check()
    page.locator("#decide-form").get_by_role("button", name="Approve").click()
    expect(page.get_by_role("alert")).to_contain_text("Approved 0 of 1.")
    expect(page.get_by_role("alert")).to_contain_text("is stale")
    expect(page.get_by_role("alert")).to_contain_text("active assignment")

    with server.api() as api:
        by_ticket = {p["ticket_id"]: p for p in api.get(
            "/proposals", params={"limit": 1000}).json()["items"]}
        statuses = [by_ticket[t]["status"] for t, _title in tickets]
        assert statuses == ["approved", "approved", "rejected", "approved", "stale"]
        assert by_ticket[t3]["decision_reason"] == "Customer postponed to next week"
        assert by_ticket[t3]["decided_by"] == "dispatch-1"
        for ticket_id in (t1, t2, t4):
            made = api.get(f"/assignments/{by_ticket[ticket_id]['assignment_id']}").json()
            assert made["ticket_id"] == ticket_id
            if ticket_id == t4:
                assert (made["engineer_id"], made["assignment_type"]) == (
                    crew["senior"], "manual")
            else:
                assert (made["engineer_id"], made["assignment_type"]) == (
                    by_ticket[ticket_id]["engineer_id"], "auto")
        assert api.get(f"/tickets/{t3}/current-assignment").status_code == 404

    # The decided ones, listed with their decision.
    page.get_by_label("Status").select_option("rejected")
    page.get_by_role("button", name="Show").click()
    expect(row(page, title3)).to_contain_text("Customer postponed to next week")


def test_a_role_that_may_not_decide_sees_no_button(
    server: Server, crew: dict[str, str], open_context: Any
) -> None:
    ((ticket_id, title),) = open_tickets(server, 1)
    with server.api() as api:
        assert api.post("/proposals", json={"ticket_ids": [ticket_id]}).status_code == 201
    page = sign_in(open_context(), server.tokens["audit-1"], "/console/proposals")
    expect(row(page, title)).to_have_count(1)
    for verb in ("Approve", "Reject", "Propose"):
        expect(page.get_by_role("button", name=verb, exact=True)).to_have_count(0)
    expect(page.get_by_text("Reject…")).to_have_count(0)
    page.get_by_role("link", name="Dispatch").click()
    expect(page.get_by_role("button", name="Propose", exact=True)).to_have_count(0)
    expect(page.get_by_label(f"Select {title}")).to_have_count(0)
