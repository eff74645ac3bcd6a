"""The console's notes and repeat faults without a browser: the ticket page
lists notes and adds them (engineers only on tickets they hold or held), My
work's Accept/Start/Complete forms take notes, and the repeat-faults page
lists, acknowledges and resolves. SQLite and PostgreSQL."""

from __future__ import annotations

import time
from uuid import uuid4

from conftest import E2E_ACTOR, Api
from test_console_session import CSRF, messages, new_key, sign_in


def csrf(api: Api, page: str) -> str:
    return CSRF.search(api.client.get(page).text).group(1)


def test_the_ticket_page_lists_and_adds_notes(api: Api) -> None:
    assert sign_in(api.client).status_code == 303
    ticket_id = api.ticket()["id"]
    here = f"/console/tickets/{ticket_id}"
    before = api.client.get(here).text
    assert "No notes yet" in before and 'for="note-text"' in before
    page = api.client.post(f"{here}/notes", data={
        "csrf": csrf(api, here), "kind": "client", "text": "Engineer on the way", "next": here})
    assert ("ok", "Note added.") in messages(page.text)
    assert "Engineer on the way" in page.text
    (note,) = api.ok(api.get(f"/tickets/{ticket_id}/notes"))
    assert (note["kind"], note["author"]) == ("client", E2E_ACTOR)
    with api.records_nothing():
        bad = api.client.post(f"{here}/notes", data={
            "csrf": csrf(api, here), "kind": "system", "text": "forged", "next": here})
        assert messages(bad.text)[0][0] == "error"


def test_engineers_see_add_note_only_on_tickets_they_hold_or_held(api: Api) -> None:
    ticket_id, engineer_id, _assignment = api.assigned()
    other_ticket = api.ticket()["id"]
    assert sign_in(api.client, token=new_key(api.client, engineer_id, "engineer")).status_code \
        == 303
    assert 'for="note-text"' in api.client.get(f"/console/tickets/{ticket_id}").text
    assert 'for="note-text"' not in api.client.get(f"/console/tickets/{other_ticket}").text
    here = f"/console/tickets/{other_ticket}"
    with api.records_nothing():
        page = api.client.post(f"{here}/notes", data={
            "csrf": csrf(api, here), "kind": "internal", "text": "not mine", "next": here})
        assert "hold or held" in page.text
    auditor = new_key(api.client, f"aud-{uuid4().hex[:6]}", "auditor")
    api.client.cookies.clear()
    assert sign_in(api.client, token=auditor).status_code == 303
    assert 'for="note-text"' not in api.client.get(f"/console/tickets/{ticket_id}").text


def test_my_work_forms_take_notes(api: Api) -> None:
    _ticket, engineer_id, assignment = api.assigned()
    aid = assignment["id"]
    mine = f"/console/engineers/{engineer_id}"
    assert sign_in(api.client, token=new_key(api.client, engineer_id, "engineer")).status_code \
        == 303
    assert f'id="ac-n-{aid}"' in api.client.get(mine).text
    for verb, notes in (("accept", "Leaving now"), ("start", "On site")):
        page = api.client.post(f"/console/assignments/{aid}/{verb}",
                               data={"csrf": csrf(api, mine), "notes": notes, "next": mine})
        assert messages(page.text)[0][0] == "ok"
    page = api.client.post(f"/console/assignments/{aid}/complete", data={
        "csrf": csrf(api, mine), "completion_status": "success", "time_spent_hours": "1",
        "actions_taken": "Spliced", "notes": "Customer happy", "next": mine})
    assert ("ok", "Completed (success).") in messages(page.text)
    row = api.assignment_row(aid)
    assert (row["notes"], row["actions_taken"]) == (
        "Leaving now\nOn site\nCustomer happy", "Spliced")


def test_the_repeat_faults_page_acknowledges_and_resolves(api: Api) -> None:
    pole = f"P-{uuid4().hex[:6]}"
    for _ in range(3):
        api.ticket(title="LOS", location={"pole": pole})
    deadline = time.monotonic() + 10
    while not (found := api.ok(api.get("/repeat-faults", params={"value": pole}))["items"]):
        assert time.monotonic() < deadline, "no repeat fault raised"
        time.sleep(0.05)
    fid = found[0]["id"]
    assert sign_in(api.client).status_code == 303
    here = f"/console/repeat-faults?value={pole}"
    listed = api.client.get(here).text
    assert f"pole {pole}" in listed and 'for="rf-scope"' in listed
    assert f'for="ack-{fid}"' in listed and f'for="res-{fid}"' in listed
    assert 'href="/console/repeat-faults"' in listed  # in the nav
    page = api.client.post(f"/console/repeat-faults/{fid}/acknowledge",
                           data={"csrf": csrf(api, here), "note": "Crew booked", "next": here})
    assert ("ok", "Acknowledged.") in messages(page.text)
    assert f'for="ack-{fid}"' not in page.text
    page = api.client.post(f"/console/repeat-faults/{fid}/resolve",
                           data={"csrf": csrf(api, here), "resolution": "", "next": here})
    assert messages(page.text)[0][0] == "error"
    page = api.client.post(f"/console/repeat-faults/{fid}/resolve",
                           data={"csrf": csrf(api, here), "resolution": "Pole replaced",
                                 "next": here})
    assert ("ok", "Resolved.") in messages(page.text)
    fault = api.ok(api.get(f"/repeat-faults/{fid}"))
    assert (fault["status"], fault["acknowledged_by"], fault["resolution"]) == (
        "resolved", E2E_ACTOR, "Pole replaced")
    engineer = new_key(api.client, f"eng-{uuid4().hex[:6]}", "engineer")
    api.client.cookies.clear()
    assert sign_in(api.client, token=engineer).status_code == 303
    assert "Resolve</button>" not in api.client.get("/console/repeat-faults").text
