"""The console's front door without a browser: sign-in and its cookie, CSRF on
every form post, role refusals (403, nothing recorded), errors shown as the
problem's detail, deep links, sign-out and revoked keys. SQLite and PostgreSQL."""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID

import pytest

from api.auth import API_KEYS
from conftest import E2E_TOKEN, Api, rand_engineer_id

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
MESSAGE = re.compile(r'class="message (\w+)"[^>]*>([^<]*)<')


def sign_in(client: Any, token: str = E2E_TOKEN, next_page: str = "/console/") -> Any:
    """Signs in through the form; returns the redirect answer."""
    form = client.get(f"/console/login?next={next_page}")
    assert form.status_code == 200
    nonce = CSRF.search(form.text).group(1)
    return client.post("/console/login", data={"token": token, "csrf": nonce, "next": next_page},
                       follow_redirects=False)


def csrf_of(client: Any, page: str = "/console/") -> str:
    found = CSRF.search(client.get(page).text)
    assert found, f"no form with a CSRF token on {page}"
    return found.group(1)


def messages(html: str) -> list[tuple[str, str]]:
    return [(kind, text.strip()) for kind, text in MESSAGE.findall(html)]


def new_key(client: Any, name: str, role: str) -> str:
    """A fresh API key's token (as ``ledger keys create`` makes one)."""
    services = client.app.state.services
    result, token = services.ledger.create_api_key(name=name, role=role, actor="test").result()
    services.read_side.wait_for(result.position, 5)
    return token


@pytest.fixture
def signed_in(api: Api) -> Api:
    assert sign_in(api.client).status_code == 303
    return api


def test_root_redirects_to_the_console(client: Any) -> None:
    for path in ("/", "/console"):
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 307
        assert r.headers["location"] == "/console/"


def test_a_deep_link_asks_to_sign_in_then_comes_back(api: Api) -> None:
    ticket = api.ticket(title="Deep link")
    page = f"/console/tickets/{ticket['id']}"
    r = api.client.get(page, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/console/login?next=")
    r = sign_in(api.client, next_page=page)
    assert r.headers["location"] == page
    shown = api.client.get(page)
    assert shown.status_code == 200
    assert "Deep link" in shown.text


def test_the_session_cookie_is_signed_httponly_strict_and_expires(client: Any) -> None:
    r = sign_in(client)
    cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith("ledger_console="))
    flags = {part.strip().split("=")[0].lower(): part for part in cookie.split(";")}
    assert "httponly" in flags
    assert flags["samesite"].strip().lower() == "samesite=strict"
    assert int(flags["max-age"].split("=")[1]) > 0
    assert flags["path"].strip() == "Path=/console"
    assert E2E_TOKEN not in cookie  # only the token's hash is kept
    value = cookie.split(";")[0].split("=", 1)[1]
    client.cookies.set("ledger_console", value[:-2] + ("A" if value[-2] != "A" else "B") + value[-1],
                       path="/console")
    tampered = client.get("/console/", follow_redirects=False)
    assert tampered.status_code == 303, "a cookie whose signature does not match is not a session"


def test_an_expired_session_asks_to_sign_in_again(client: Any) -> None:
    sign_in(client)
    assert client.get("/console/", follow_redirects=False).status_code == 200
    client.app.state.console_keeper.max_age = -1  # every signed cookie is now too old
    r = client.get("/console/", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/console/login")


def test_a_wrong_token_is_refused_with_a_message_and_no_cookie(client: Any) -> None:
    r = sign_in(client, token="ledger_not-a-real-token")
    assert r.status_code == 303
    assert r.headers["location"].startswith("/console/login?next=")
    assert not any(c.startswith("ledger_console=") for c in r.headers.get_list("set-cookie"))
    assert "not a valid API key" in client.get(r.headers["location"]).text
    assert client.get("/console/", follow_redirects=False).status_code == 303


def test_the_sign_in_form_itself_needs_its_csrf_token(client: Any) -> None:
    r = client.post("/console/login", data={"token": E2E_TOKEN, "csrf": "forged"},
                    follow_redirects=False)
    assert r.status_code == 403
    assert not any(c.startswith("ledger_console=") for c in r.headers.get_list("set-cookie"))


def test_a_post_without_the_csrf_token_is_refused_and_records_nothing(signed_in: Api) -> None:
    api = signed_in
    api.engineer(id="csrf-eng", name="C", tier=1)
    ticket = api.ticket(title="CSRF")
    with api.records_nothing():
        for csrf in ("", "forged"):
            r = api.client.post(f"/console/tickets/{ticket['id']}/assign",
                                data={"csrf": csrf, "engineer_id": "csrf-eng", "tier": "1"},
                                follow_redirects=False)
            assert r.status_code == 403
            assert "did not come from the console" in r.text


def test_assign_runs_the_ledger_command_with_the_signed_in_actor(signed_in: Api) -> None:
    api = signed_in
    eng = api.engineer(id=rand_engineer_id(), name="Ann", tier=2)["id"]
    ticket = api.ticket(title="Console assign")
    r = api.client.post(f"/console/tickets/{ticket['id']}/assign",
                        data={"csrf": csrf_of(api.client), "engineer_id": eng, "tier": "1",
                              "reason": "nearest", "next": "/console/"},
                        follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/console/"
    row = api.ticket_row(ticket["id"])
    assert row["status"] == "assigned"
    assert row["current_assignment"]["engineer_id"] == eng
    assert row["current_assignment"]["assignment_reason"] == "nearest"
    assigned = api.events(type="Ticket.Assigned", ticket_id=ticket["id"])
    assert [e["actor"] for e in assigned] == ["e2e-tester"]
    assert ("ok", f"Assigned to {eng}.") in messages(api.client.get("/console/").text)


def test_a_refused_command_shows_the_problem_detail_and_records_nothing(signed_in: Api) -> None:
    api = signed_in
    ticket_id, _engineer_id, _assignment = api.assigned()
    eng = api.engineer(id=rand_engineer_id(), name="Bo", tier=1)["id"]
    csrf = csrf_of(api.client)
    with api.records_nothing():
        r = api.client.post(f"/console/tickets/{ticket_id}/assign",
                            data={"csrf": csrf, "engineer_id": eng, "tier": "1",
                                  "next": f"/console/tickets/{ticket_id}"})
        assert r.status_code == 200
        shown = messages(r.text)
        assert shown and shown[0][0] == "error"
        assert "already has an active assignment" in shown[0][1]
        assert "Traceback" not in r.text


def test_bad_input_is_explained_and_records_nothing(signed_in: Api) -> None:
    api = signed_in
    _ticket_id, _engineer_id, assignment = api.assigned()
    assignment_id = assignment["id"]
    csrf = csrf_of(api.client)
    with api.records_nothing():
        r = api.client.post(f"/console/assignments/{assignment_id}/complete",
                            data={"csrf": csrf, "completion_status": "success",
                                  "time_spent_hours": "lots", "next": "/console/"})
        assert r.status_code == 200
        (kind, text), = messages(r.text)
        assert kind == "error"
        assert "time_spent_hours" in text


def test_a_role_that_may_not_dispatch_sees_no_button_and_a_forged_post_is_refused(
    api: Api,
) -> None:
    eng = api.engineer(id=rand_engineer_id(), name="Cy", tier=3)["id"]
    ticket_id, _engineer_id, _assignment = api.assigned()
    auditor = new_key(api.client, "auditor-1", "auditor")
    assert sign_in(api.client, token=auditor).status_code == 303
    page = api.client.get(f"/console/tickets/{ticket_id}").text
    for verb in ("Assign", "Escalate", "Reassign", "Remove", "Close"):
        assert f">{verb}</button>" not in page
    with api.records_nothing():
        r = api.client.post(f"/console/tickets/{ticket_id}/escalate",
                            data={"csrf": csrf_of(api.client, "/console/audit"),
                                  "next_engineer_id": eng, "reason": "forged"})
        assert r.status_code == 403
        assert "may not do this" in r.text


def test_an_engineer_may_not_work_on_another_engineers_assignment(api: Api) -> None:
    _ticket_id, _engineer_id, assignment = api.assigned()
    assignment_id = assignment["id"]
    other = api.engineer(id=rand_engineer_id(), name="Other", tier=1)["id"]
    assert assignment["engineer_id"] != other
    assert sign_in(api.client, token=new_key(api.client, other, "engineer")).status_code == 303
    with api.records_nothing():
        r = api.client.post(f"/console/assignments/{assignment_id}/accept",
                            data={"csrf": csrf_of(api.client, f"/console/engineers/{other}")})
        assert r.status_code == 403
        assert "belongs to another engineer" in r.text


def test_sign_out_needs_the_csrf_token_and_ends_the_session(signed_in: Api) -> None:
    client = signed_in.client
    csrf = csrf_of(client)
    assert client.post("/console/logout", data={"csrf": "forged"}).status_code == 403
    assert client.get("/console/", follow_redirects=False).status_code == 200
    r = client.post("/console/logout", data={"csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303
    assert client.get("/console/", follow_redirects=False).status_code == 303


def test_a_revoked_key_ends_its_sessions(api: Api) -> None:
    services = api.client.app.state.services
    token = new_key(api.client, "dispatcher-1", "dispatcher")
    assert sign_in(api.client, token=token).status_code == 303
    assert api.client.get("/console/", follow_redirects=False).status_code == 200
    (row,) = services.store.rows(API_KEYS, "SELECT id FROM api_keys WHERE name = %s",
                                 ("dispatcher-1",))
    result = services.ledger.revoke_api_key(UUID(str(row["id"])), reason="left",
                                            actor="t").result()
    services.read_side.wait_for(result.position, 5)
    assert api.client.get("/console/", follow_redirects=False).status_code == 303


def test_the_board_poll_answers_204_while_nothing_changed(signed_in: Api) -> None:
    head = signed_in.head()
    assert signed_in.client.get(f"/console/board/live?seen={head}").status_code == 204
    signed_in.ticket(title="New arrival")
    r = signed_in.client.get(f"/console/board/live?seen={head}")
    assert r.status_code == 200
    assert "New arrival" in r.text


def test_the_console_is_not_in_the_openapi_document(client: Any) -> None:
    paths = client.get("/openapi.json", headers={"Authorization": f"Bearer {E2E_TOKEN}"}).json()
    assert not [p for p in paths["paths"] if p == "/" or p.startswith("/console")]


def test_pages_are_never_cached_and_load_from_this_host_only(signed_in: Api) -> None:
    for path in ("/console/", "/console/audit", "/console/operations", "/console/login"):
        r = signed_in.client.get(path)
        assert r.status_code == 200
        assert r.headers["cache-control"] == "no-store"
        policy = dict(p.strip().split(" ", 1) for p in r.headers["content-security-policy"].split(";"))
        assert policy["default-src"] == "'self'"
        assert policy["script-src"] == "'self'"
        assert policy["frame-ancestors"] == "'none'"
        assert "http" not in r.text.replace("http-equiv", "").split("<body", 1)[0], \
            "the head names another host"


@pytest.mark.parametrize("target", ["https://elsewhere.example/", "//elsewhere.example/x",
                                    "/console/..\\..//elsewhere", "/tickets"])
def test_sign_in_never_sends_anyone_off_the_console(client: Any, target: str) -> None:
    r = sign_in(client, next_page=target)
    assert r.status_code == 303
    assert r.headers["location"] == "/console/"


def test_an_unknown_ticket_or_a_bad_time_is_explained(signed_in: Api) -> None:
    missing = signed_in.client.get("/console/tickets/00000000-0000-4000-8000-000000000000")
    assert missing.status_code == 404
    assert "does not exist" in missing.text
    ticket = signed_in.ticket(title="When")
    bad = signed_in.client.get(f"/console/tickets/{ticket['id']}?as_of=yesterday-ish")
    assert bad.status_code == 400
    assert "is not a date and time" in bad.text
    before = signed_in.client.get(f"/console/tickets/{ticket['id']}?as_of=2000-01-01T00:00")
    assert before.status_code == 404
    assert "at that time" in before.text


def test_the_vendored_front_end_is_served_with_its_licence_at_the_pinned_version(
    client: Any,
) -> None:
    from pathlib import Path

    script = (Path(__file__).resolve().parents[2] / "scripts" / "vendor-frontend.sh").read_text()
    pinned = re.search(r'HTMX_VERSION="\$\{HTMX_VERSION:-([0-9.]+)\}"', script).group(1)
    vendored = client.get("/console/static/vendor/htmx/VERSION")
    assert vendored.status_code == 200
    assert vendored.text.startswith(f"htmx.org {pinned} ")
    assert "Zero-Clause BSD" in client.get("/console/static/vendor/htmx/LICENSE").text
    js = client.get("/console/static/vendor/htmx/htmx.min.js")
    assert js.status_code == 200 and "javascript" in js.headers["content-type"]


def test_the_board_fetches_a_command_form_only_when_it_is_opened(signed_in: Api) -> None:
    api = signed_in
    api.engineer(id=rand_engineer_id(), name="Picker", tier=1, skills=["fiber"])
    waiting = api.ticket(title="Needs copper", required_skill="copper")
    board = api.client.get("/console/").text
    assert "<option" not in board.split('id="live"', 1)[1], "the board carries the pickers"
    form = api.client.get(f"/console/tickets/{waiting['id']}/form/assign?next=/console/")
    assert form.status_code == 200
    assert 'name="engineer_id"' in form.text
    assert "does not have skill copper" in form.text  # the picker says why, as the rule does
    ticket_id, _engineer_id, _assignment = api.assigned()
    stale = api.client.get(f"/console/tickets/{ticket_id}/form/assign")
    assert "This ticket has changed (assigned)" in stale.text
    assert api.client.get(f"/console/tickets/{ticket_id}/form/delete").status_code == 404


def test_a_role_that_may_not_dispatch_gets_no_command_form(api: Api) -> None:
    ticket = api.ticket(title="Not yours")
    assert sign_in(api.client, token=new_key(api.client, "auditor-2", "auditor")).status_code == 303
    r = api.client.get(f"/console/tickets/{ticket['id']}/form/assign")
    assert r.status_code == 403
    assert 'name="engineer_id"' not in r.text


def test_processes_of_one_ledger_accept_each_others_sessions(
    database_url: str, open_client: Any
) -> None:
    """Two apps on one store (``--workers``) derive the same cookie secret from
    the checkpoint signing key; a session signed by one is valid in the other."""
    with open_client() as first, open_client(run_projections=False) as second:
        assert sign_in(first).status_code == 303
        second.cookies.update(first.cookies)
        assert second.get("/console/", follow_redirects=False).status_code == 200


def post_form(api: Api, path: str, **fields: str) -> Any:
    """A console form post with the session's CSRF token; follows the redirect."""
    return api.client.post(path, data={"csrf": csrf_of(api.client), **fields})


def test_reassign_remove_close_and_reopen_run_their_commands(signed_in: Api) -> None:
    api = signed_in
    ticket_id, _engineer_id, first = api.assigned()
    other = api.engineer(id=rand_engineer_id(), name="Next", tier=1)["id"]
    page = post_form(api, f"/console/assignments/{first['id']}/reassign",
                     new_engineer_id=other, reason="closer",
                     next=f"/console/tickets/{ticket_id}")
    assert ("ok", f"Reassigned to {other}.") in messages(page.text)
    second = api.ticket_row(ticket_id)["current_assignment"]
    assert (second["engineer_id"], api.assignment_row(first["id"])["status"]) == (
        other, "reassigned")
    page = post_form(api, f"/console/assignments/{second['id']}/remove", reason="duplicate")
    assert ("ok", "Assignment removed.") in messages(page.text)
    assert api.assignment_row(second["id"])["status"] == "removed"
    post_form(api, f"/console/tickets/{ticket_id}/close", reason="fixed remotely")
    assert api.ticket_row(ticket_id)["status"] == "closed"
    with api.records_nothing():
        refused = post_form(api, f"/console/tickets/{ticket_id}/reopen", reason="x" * 2001)
        (kind, text), = messages(refused.text)
        assert kind == "error" and "reason" in text  # as the API: at most 2000 characters
    post_form(api, f"/console/tickets/{ticket_id}/reopen", reason="came back")
    assert api.ticket_row(ticket_id)["status"] == "open"


def test_escalate_needs_a_reason_and_the_as_of_picker_shows_the_past(signed_in: Api) -> None:
    api = signed_in
    ticket_id, _engineer_id, _first = api.assigned()
    senior = api.engineer(id=rand_engineer_id(), name="Senior", tier=2)["id"]
    with api.records_nothing():
        page = post_form(api, f"/console/tickets/{ticket_id}/escalate",
                         next_engineer_id=senior, reason="")
        (kind, text), = messages(page.text)
        assert kind == "error" and "reason" in text
    before = api.ticket_row(ticket_id)["updated_at"]
    post_form(api, f"/console/tickets/{ticket_id}/escalate", next_engineer_id=senior,
              reason="needs tier 2")
    now = api.client.get(f"/console/tickets/{ticket_id}").text
    assert now.count("Assignment #") == 2
    past = api.client.get(f"/console/tickets/{ticket_id}", params={"as_of": before}).text
    assert past.count("Assignment #") == 1
    assert "As the ticket stood at" in past
    assert ">Escalate</button>" not in past  # no commands on the past


def test_the_audit_feed_pages_with_its_cursor(signed_in: Api) -> None:
    api = signed_in
    for n in range(55):
        api.ticket(title=f"Paged {n}")
    first = api.client.get("/console/audit?type=Ticket.Opened").text
    positions = re.findall(r"<tr><td>(\d+)</td><td>Ticket.Opened", first)
    assert len(positions) == 50
    next_link = re.search(r'href="(/console/audit\?[^"]*cursor=[^"]+)"', first).group(1)
    second = api.client.get(next_link.replace("&amp;", "&")).text
    more = re.findall(r"<tr><td>(\d+)</td><td>Ticket.Opened", second)
    assert len(more) == 5
    assert int(more[0]) > int(positions[-1])


def test_an_engineer_rejects_their_assignment_with_a_reason(api: Api) -> None:
    ticket_id, engineer_id, assignment = api.assigned()
    assert sign_in(api.client, token=new_key(api.client, engineer_id, "engineer")).status_code == 303
    my_work = api.client.get("/console/").text  # the board; My work is linked for engineers
    assert f'href="/console/engineers/{engineer_id}"' in my_work
    page = api.client.post(f"/console/assignments/{assignment['id']}/reject",
                           data={"csrf": CSRF.search(my_work).group(1), "reason": "out of area",
                                 "next": f"/console/engineers/{engineer_id}"})
    assert ("ok", "Rejected.") in messages(page.text)
    rejected = api.assignment_row(assignment["id"])
    assert (rejected["status"], rejected["rejection_reason"]) == ("rejected", "out of area")
    assert api.ticket_row(ticket_id)["status"] == "open"
    (event,) = api.events(type="Ticket.Rejected", ticket_id=ticket_id)
    assert event["actor"] == engineer_id


def test_an_engineers_page_pages_through_all_their_assignments(signed_in: Api) -> None:
    api = signed_in
    engineer_id = api.engineer(id=rand_engineer_id(), name="Busy", tier=1, capacity=50)["id"]
    for _ in range(21):
        assignment = api.assign(api.ticket(title="Round")["id"], engineer_id)
        api.remove(assignment["id"], reason="next")
    first = api.client.get(f"/console/engineers/{engineer_id}").text
    assert first.count('<span class="badge grey">removed</span>') == 20
    next_link = re.search(r'href="([^"]*cursor=[^"]+)">Next page', first).group(1)
    second = api.client.get(next_link.replace("&amp;", "&")).text
    assert second.count('<span class="badge grey">removed</span>') == 1
    assert "Next page" not in second
    assert api.client.get(f"/console/engineers/{engineer_id}?cursor=bogus").status_code == 400
