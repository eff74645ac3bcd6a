"""The other roles in the browser, by clicks only: an engineer on a 390 px phone
accepts, starts and completes with hours and parts; an auditor filters the feed
and runs Verify; an operator rebuilds a projection while another browser keeps
reading; and every page loads with nothing from another host and no console
error (checked for every context by the fixtures)."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from console_browser import Server, shot, sign_in
from console_browser import browser, open_context, server  # noqa: F401 - fixtures

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def assigned(server: Server) -> dict[str, str]:
    """eng-l1 holds an assignment on a fresh ticket (made through the API)."""
    with server.api() as api:
        assert api.post("/engineers", json={"id": "eng-l1", "name": "Lea One", "tier": 1,
                                            "skills": ["copper"], "capacity": 3}).status_code == 201
        ticket = api.post("/tickets", json={"title": "No dial tone", "reference": "PH-1"}).json()
        assignment = api.post("/assignments", json={"ticket_id": ticket["id"],
                                                    "engineer_id": "eng-l1", "tier": 1}).json()
    return {"ticket_id": ticket["id"], "assignment_id": assignment["id"]}


def test_an_engineer_on_a_phone_accepts_starts_and_completes(
    server: Server, assigned: dict[str, str], open_context: Any
) -> None:
    page = sign_in(open_context(**PHONE), server.tokens["eng-l1"])
    expect(page.get_by_role("heading", name="My work")).to_be_visible()
    card = page.locator(f'li[data-assignment="{assigned["assignment_id"]}"]')
    card.get_by_role("button", name="Accept").click()
    expect(page.get_by_role("status")).to_have_text("Accepted.")
    card.get_by_role("button", name="Start").click()
    expect(page.get_by_role("status")).to_have_text("Started.")
    card.locator("summary", has_text="Complete…").click()
    shot(page, "console-my-work")
    card.get_by_label("Outcome").select_option("success")
    card.get_by_label("Hours").fill("1.5")
    card.get_by_label("Parts used").fill("PN-7, 2, Line filter")
    card.get_by_label("Customer rating").select_option("5")
    card.get_by_label("Actions taken").fill("Replaced the filter")
    card.get_by_role("button", name="Complete").click()
    expect(page.get_by_role("status")).to_have_text("Completed (success).")
    fits = page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert fits, "My work scrolls sideways at 390 px"

    with server.api() as api:
        done = api.get(f"/assignments/{assigned['assignment_id']}").json()
        ticket = api.get(f"/tickets/{assigned['ticket_id']}").json()
        actors = {e["actor"] for e in api.get(f"/tickets/{assigned['ticket_id']}/events").json()
                  if e["type"] in ("Ticket.Accepted", "Ticket.Started", "Ticket.Completed")}
    assert done["status"] == "completed"
    assert done["time_spent_hours"] == 1.5
    assert done["customer_rating"] == 5
    assert [(p["part_number"], p["quantity"], p["part_name"]) for p in done["parts_used"]] == [
        ("PN-7", 2, "Line filter")]
    assert ticket["status"] == "resolved"
    assert actors == {"eng-l1"}


def test_an_auditor_filters_the_feed_and_runs_verify(
    server: Server, assigned: dict[str, str], open_context: Any
) -> None:
    page = sign_in(open_context(), server.tokens["audit-1"])
    page.get_by_role("link", name="Audit").click()
    expect(page.get_by_role("heading", name="Audit", exact=True)).to_be_visible()
    page.get_by_label("Type").select_option("Ticket.Assigned")
    page.get_by_role("button", name="Filter").click()
    rows = page.locator("table.feed tbody tr")
    expect(rows).not_to_have_count(0)
    for text in rows.all_inner_texts():
        assert "Ticket.Assigned" in text
    page.get_by_label("Actor").fill("nobody-did-this")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_text("No events match.")).to_be_visible()
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("status")).to_contain_text("Verified:")
    shot(page, "console-audit")
    for name in ("NDJSON", "CSV"):
        href = page.get_by_role("link", name=name).get_attribute("href")
        assert href and href.startswith("/console/audit/export.")
        assert page.context.request.get(href).status == 200


def test_an_operator_rebuilds_a_projection_while_another_browser_reads(
    server: Server, assigned: dict[str, str], open_context: Any
) -> None:
    operator = sign_in(open_context(), server.admin_token)
    operator.get_by_role("link", name="Operations").click()
    row = operator.locator('tr[data-projection="tickets"][data-state="live"]')
    expect(row).to_have_count(1)
    reader = sign_in(open_context(), server.tokens["dispatch-1"],
                     f"/console/tickets/{assigned['ticket_id']}")
    operator.get_by_role("button", name="Rebuild tickets").click()
    expect(operator.get_by_role("status")).to_have_text("Rebuilding tickets.")
    reader.reload()
    expect(reader.get_by_role("heading", name="No dial tone")).to_be_visible()
    # The table refreshes itself every 2 s: the new version goes live, caught up.
    with server.api() as api:
        head = api.get("/readyz").json()["head"]
    expect(row.locator("td").nth(2)).to_have_text(str(head), timeout=15_000)
    expect(operator.locator('tr[data-projection="tickets"]')).to_have_count(1, timeout=15_000)


def test_every_page_loads_from_this_host_alone_without_console_errors(
    server: Server, assigned: dict[str, str], open_context: Any
) -> None:
    page = sign_in(open_context(), server.admin_token)
    for link, heading in (("Audit", "Audit"), ("Operations", "Operations"),
                          ("Dispatch", "Dispatch board")):
        page.get_by_role("link", name=link, exact=True).click()
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
    page.goto(f"/console/tickets/{assigned['ticket_id']}")
    expect(page.get_by_role("heading", name="No dial tone")).to_be_visible()
    page.get_by_role("link", name="eng-l1").first.click()
    expect(page.get_by_role("heading", name="Lea One")).to_be_visible()
    page.goto("/console/login")  # signed in already: back to the board
    expect(page.get_by_role("heading", name="Dispatch board")).to_be_visible()
    sizes = page.evaluate("""() => performance.getEntriesByType('resource')
        .filter(e => e.initiatorType === 'script' || e.initiatorType === 'link')
        .reduce((n, e) => n + e.decodedBodySize, 0)""")
    assert sizes < 200_000, f"JavaScript + CSS of a page: {sizes} bytes"


def test_the_reports_draw_their_charts(
    server: Server, assigned: dict[str, str], open_context: Any
) -> None:
    with server.api() as api:  # some hours to chart, whichever tests ran before
        assert api.post("/engineers", json={"id": "eng-rep", "name": "Rey Port", "tier": 1,
                                            "capacity": 3}).status_code == 201
        ticket = api.post("/tickets", json={"title": "Charted"}).json()
        done = api.post("/assignments", json={"ticket_id": ticket["id"],
                                              "engineer_id": "eng-rep", "tier": 1}).json()
        assert api.post(f"/assignments/{done['id']}/accept").status_code == 200
        assert api.post(f"/assignments/{done['id']}/complete", json={
            "completion_status": "success", "time_spent_hours": 2}).status_code == 200
    page = sign_in(open_context(), server.tokens["dispatch-1"])
    page.get_by_role("link", name="Reports", exact=True).click()
    expect(page.get_by_role("heading", name="Reports", exact=True)).to_be_visible()
    # Every day of the window is on the chart of tickets opened and resolved.
    expect(page.locator('[data-chart="tickets"] canvas')).to_have_count(1)
    expect(page.locator('[data-chart="first_time"] canvas')).to_have_count(1)
    expect(page.locator('[data-chart="engineers"] canvas')).to_have_count(1)
    page.get_by_label("Window").select_option("7")
    page.get_by_role("button", name="Show").click()
    page.get_by_text("Figures").click()
    expect(page.locator("section.report details table tbody tr")).to_have_count(7)
    shot(page, "console-reports")
    sizes = page.evaluate("""() => performance.getEntriesByType('resource')
        .filter(e => e.initiatorType === 'script' || e.initiatorType === 'link')
        .reduce((n, e) => n + e.decodedBodySize, 0)""")
    assert sizes < 200_000, f"JavaScript + CSS of the reports page: {sizes} bytes"
