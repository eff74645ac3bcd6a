"""A dispatcher in the browser, by clicks only: signs in and out; assigns, then
escalates L1 -> L2 -> L3; a second browser sees a change appear on the board
without a reload; a role that may not escalate sees no Escalate button, and a
forged post is refused; a ticket is handed from Build to QA on its page."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from playwright.sync_api import expect

from console_browser import Server, shot, sign_in
from console_browser import browser, open_context, server  # noqa: F401 - fixtures

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def crew(server: Server) -> dict[str, str]:
    """Three engineers, one per tier, made through the API (not what is tested)."""
    with server.api() as api:
        for engineer_id, name, tier in (("eng-l1", "Lea One", 1), ("eng-l2", "Leo Two", 2),
                                        ("eng-l3", "Lia Three", 3)):
            r = api.post("/engineers", json={"id": engineer_id, "name": name, "tier": tier,
                                             "skills": ["fiber"], "capacity": 5})
            assert r.status_code == 201, r.text
    return {"l1": "eng-l1", "l2": "eng-l2", "l3": "eng-l3"}


def open_ticket(server: Server, title: str, **fields: Any) -> str:
    with server.api() as api:
        r = api.post("/tickets", json={"title": title, "required_skill": "fiber", **fields})
        assert r.status_code == 201, r.text
        return r.json()["id"]


def opened(page: Any, summary: str) -> Any:
    """The ``<details>`` whose summary is ``summary``, opened by a click."""
    box = page.locator("details", has=page.locator("summary", has_text=summary))
    box.locator("summary").click()
    return box


def test_sign_in_and_sign_out(server: Server, open_context: Any) -> None:
    page = open_context().new_page()
    page.goto("/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("Token").fill("ledger_wrong")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("not a valid API key")
    page.get_by_label("Token").fill(server.tokens["dispatch-1"])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Dispatch board")).to_be_visible()
    expect(page.locator(".who")).to_contain_text("dispatch-1")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.goto("/console")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def test_a_dispatcher_assigns_then_escalates_l1_l2_l3(
    server: Server, crew: dict[str, str], open_context: Any
) -> None:
    ticket_id = open_ticket(server, "Fibre cut at pole 17", priority="high", reference="PO-17")
    page = sign_in(open_context(), server.tokens["dispatch-1"])
    card = page.locator(f'li[data-ticket="{ticket_id}"]')
    card.locator("summary", has_text="Assign…").click()
    card.get_by_label("Engineer").select_option(crew["l1"])
    card.get_by_label("Reason").fill("nearest crew")
    card.get_by_role("button", name="Assign").click()
    expect(page.get_by_role("status")).to_have_text(f"Assigned to {crew['l1']}.")
    shot(page, "console-board")

    page.get_by_role("link", name="Fibre cut at pole 17").click()
    for engineer, tier_name in ((crew["l2"], "L2"), (crew["l3"], "L3")):
        box = opened(page, "Escalate…")
        box.get_by_label("Next engineer").select_option(engineer)
        expect(box.get_by_label("Tier name")).to_have_value(tier_name)
        box.get_by_label("Reason").fill(f"needs {tier_name}")
        box.get_by_role("button", name="Escalate").click()
        expect(page.get_by_role("status")).to_have_text(f"Escalated to {engineer}.")

    cards = page.locator("ol.history > li")
    expect(cards).to_have_count(3)
    expect(cards.nth(0).locator(".badge").last).to_have_text("escalated")
    expect(cards.nth(1).locator(".badge").last).to_have_text("escalated")
    expect(cards.nth(2)).to_contain_text("Current")
    expect(cards.nth(2)).to_contain_text("L3")
    expect(cards.nth(2)).to_contain_text(crew["l3"])
    timeline = page.locator("section", has=page.get_by_role("heading", name="Event timeline"))
    expect(timeline.locator("tbody tr")).to_have_count(4)
    expect(timeline.locator("tbody tr").last).to_contain_text("Ticket.Escalated")
    expect(timeline.locator("tbody tr").last).to_contain_text("dispatch-1")
    shot(page, "console-ticket")
    with server.api() as api:
        current = api.get(f"/tickets/{ticket_id}").json()["current_assignment"]
    assert (current["engineer_id"], current["assignment_tier"]) == (crew["l3"], 3)


def test_a_second_browser_sees_a_change_without_reloading(
    server: Server, crew: dict[str, str], open_context: Any
) -> None:
    ticket_id = open_ticket(server, "Live change")
    watcher = sign_in(open_context(), server.tokens["dispatch-1"])
    waiting = watcher.locator(f'section[aria-labelledby="waiting-h"] li[data-ticket="{ticket_id}"]')
    expect(waiting).to_have_count(1)

    actor = sign_in(open_context(), server.tokens["dispatch-1"], f"/console/tickets/{ticket_id}")
    box = opened(actor, "Assign…")
    box.get_by_label("Engineer").select_option(crew["l1"])
    box.get_by_role("button", name="Assign").click()
    expect(actor.get_by_role("status")).to_have_text(f"Assigned to {crew['l1']}.")

    # The board polls every 2 s: the ticket moves to "With an engineer" unreloaded.
    in_hand = watcher.locator(f'section[aria-labelledby="inhand-h"] li[data-ticket="{ticket_id}"]')
    expect(in_hand).to_have_count(1, timeout=3500)
    expect(waiting).to_have_count(0)


def test_a_role_that_may_not_escalate_sees_no_button_and_a_forged_post_is_refused(
    server: Server, crew: dict[str, str], open_context: Any
) -> None:
    ticket_id = open_ticket(server, "Auditor looks")
    with server.api() as api:
        assert api.post("/assignments", json={"ticket_id": ticket_id, "engineer_id": crew["l1"],
                                              "tier": 1}).status_code == 201
        head = api.get("/readyz").json()["head"]
    context = open_context()
    page = sign_in(context, server.tokens["audit-1"], f"/console/tickets/{ticket_id}")
    expect(page.get_by_role("heading", name="Auditor looks")).to_be_visible()
    for verb in ("Escalate", "Reassign", "Remove", "Assign", "Close"):
        expect(page.get_by_role("button", name=verb, exact=True)).to_have_count(0)
        expect(page.get_by_text(f"{verb}…")).to_have_count(0)
    csrf = page.locator('form.signout input[name="csrf"]').get_attribute("value")
    forged = context.request.post(
        f"/console/tickets/{ticket_id}/escalate",
        form={"csrf": csrf, "next_engineer_id": crew["l2"], "reason": "forged"},
    )
    assert forged.status == 403
    assert re.search(r"may not do this", forged.text())
    with server.api() as api:
        assert api.get("/readyz").json()["head"] == head, "the forged post recorded something"


def test_a_dispatcher_hands_over_from_the_ticket_page(server: Server, open_context: Any) -> None:
    with server.api() as api:
        r = api.post("/tickets", json={"title": "New drop at pole 9", "priority": "high"})
        assert r.status_code == 201, r.text
        ticket_id = r.json()["id"]
    page = sign_in(open_context(), server.tokens["dispatch-1"], f"/console/tickets/{ticket_id}")
    expect(page.locator("#resolve-by")).to_contain_text("on track")
    for team, notes in (("build", "crew on site"), ("qa", "spliced and tested")):
        box = opened(page, "Hand over…")
        box.get_by_label("To team").select_option(team)
        box.get_by_label("Notes").fill(notes)
        box.get_by_role("button", name="Hand over").click()
        expect(page.get_by_role("status")).to_have_text(f"Handed over to {team}.")
        expect(page.locator("p.meta").first).to_contain_text(f"owned by {team}")
    rows = page.locator("section", has=page.get_by_role("heading", name="Handovers"))
    expect(rows.locator("tbody tr")).to_have_count(2)
    expect(rows.locator("tbody tr").last).to_contain_text("spliced and tested")
    expect(page.get_by_label("To team").locator("option")).to_have_text(["maintenance", "build"])
    with server.api() as api:
        handovers = api.get(f"/tickets/{ticket_id}/handovers").json()
    assert [(h["from_team"], h["to_team"], h["handed_over_by"]) for h in handovers] == [
        (None, "build", "dispatch-1"), ("build", "qa", "dispatch-1")]


def test_a_dispatcher_acknowledges_and_resolves_a_repeat_fault(
    server: Server, open_context: Any
) -> None:
    tickets = [open_ticket(server, f"LOS on pole 88 ({n})", location={"pole": "P-88"})
               for n in range(3)]
    with server.api() as api:
        deadline = time.monotonic() + 15
        while not api.get("/repeat-faults", params={"value": "P-88"}).json()["items"]:
            assert time.monotonic() < deadline, "the policy raised no fault"
            time.sleep(0.1)
    page = sign_in(open_context(), server.tokens["dispatch-1"])
    page.get_by_role("link", name="Repeat faults").click()
    card = page.locator("li.fault", has_text="pole P-88")
    expect(card.locator(".badge")).to_have_text("open")
    card.get_by_label("Note").fill("Crew booked for Thursday")
    card.get_by_role("button", name="Acknowledge").click()
    expect(page.get_by_role("status")).to_have_text("Acknowledged.")
    expect(card.locator(".badge")).to_have_text("acknowledged")
    card.get_by_label("Resolution").fill("Pole replaced")
    card.get_by_role("button", name="Resolve").click()
    expect(page.get_by_role("status")).to_have_text("Resolved.")
    expect(card.locator(".badge")).to_have_text("resolved")
    expect(card.get_by_role("button", name="Resolve")).to_have_count(0)
    card.get_by_role("link").first.click()
    notes = page.locator("section", has=page.get_by_role("heading", name="Notes"))
    expect(notes.locator("li.note-system")).to_contain_text("Repeat fault raised at pole P-88")
    assert tickets[0] in page.url
