"""The ticket page's handovers: the owning team, the list, and the **Hand over**
button (dispatchers and admins only), running the API's command. SQLite and PostgreSQL."""

from __future__ import annotations

import re

from conftest import Api
from test_console_session import csrf_of, messages, new_key, sign_in

OPTIONS = re.compile(r'<select id="handover-team"[^>]*>(.*?)</select>', re.S)


def offered(html: str) -> list[str]:
    found = OPTIONS.search(html)
    return re.findall(r'<option value="(\w+)"', found.group(1)) if found else []


def test_hand_over_from_the_ticket_page(api: Api) -> None:
    assert sign_in(api.client).status_code == 303
    ticket_id = api.ticket(title="Console handover")["id"]
    page = api.client.get(f"/console/tickets/{ticket_id}").text
    assert "owned by <strong>no team</strong>" in page and "Not handed over yet" in page
    assert '<label for="handover-team">To team</label>' in page
    assert ">Hand over</button>" in page and offered(page) == ["build"]

    r = api.client.post(f"/console/tickets/{ticket_id}/handover",
                        data={"csrf": csrf_of(api.client), "to_team": "build",
                              "notes": "fibre blown", "next": f"/console/tickets/{ticket_id}"},
                        follow_redirects=False)
    assert r.status_code == 303
    (done,) = api.ok(api.get(f"/tickets/{ticket_id}/handovers"))
    assert (done["to_team"], done["notes"], done["handed_over_by"]) == (
        "build", "fibre blown", "e2e-tester")
    page = api.client.get(f"/console/tickets/{ticket_id}").text
    assert ("ok", "Handed over to build.") in messages(page)
    assert "owned by <strong>build</strong>" in page and "fibre blown" in page
    assert offered(page) == ["qa"]

    # A move the rules refuse is shown as the problem's detail, and records nothing.
    with api.records_nothing():
        r = api.client.post(f"/console/tickets/{ticket_id}/handover",
                            data={"csrf": csrf_of(api.client), "to_team": "maintenance",
                                  "next": f"/console/tickets/{ticket_id}"})
    (kind, text), = messages(r.text)
    assert kind == "error" and "cannot be handed over to maintenance" in text

    api.client.post(f"/console/tickets/{ticket_id}/handover",
                    data={"csrf": csrf_of(api.client), "to_team": "qa"})
    assert offered(api.client.get(f"/console/tickets/{ticket_id}").text) == ["maintenance", "build"]


def test_roles_that_may_not_hand_over_see_no_button(api: Api) -> None:
    ticket_id = api.ticket()["id"]
    api.ok(api.post(f"/tickets/{ticket_id}/handover", json={"to_team": "build"}), 201)
    for role in ("auditor", "engineer"):
        api.client.cookies.clear()
        assert sign_in(api.client, token=new_key(api.client, f"{role}-h", role)).status_code == 303
        page = api.client.get(f"/console/tickets/{ticket_id}").text
        assert ">Hand over</button>" not in page and offered(page) == []
        assert "owned by <strong>build</strong>" in page and "Handovers" in page
        with api.records_nothing():
            r = api.client.post(f"/console/tickets/{ticket_id}/handover",
                                data={"csrf": csrf_of(api.client, "/console/audit"),
                                      "to_team": "qa"})
        assert r.status_code == 403


def test_the_ticket_page_shows_resolve_by_and_its_state(api: Api) -> None:
    assert sign_in(api.client).status_code == 303
    due = "2020-01-01T09:00:00Z"
    late = api.ticket(due_at=due)["id"]
    page = api.client.get(f"/console/tickets/{late}").text
    block = re.search(r'<p class="meta" id="resolve-by">(.*?)</p>', page, re.S).group(1)
    assert 'datetime="2020-01-01T09:00:00.000000Z"' in block
    assert '<span class="badge red">breached</span>' in block
    on_time = api.ticket(priority="low")
    page = api.client.get(f"/console/tickets/{on_time['id']}").text
    block = re.search(r'<p class="meta" id="resolve-by">(.*?)</p>', page, re.S).group(1)
    assert f'datetime="{on_time["resolve_by"]}"' in block
    assert '<span class="badge green">on track</span>' in block
