"""The dispatch board's filters (priority, skill, territory, reference: in the
query, not over a page of rows) and its engineer picker, which judges by the one
qualification rule and lists those who qualify first."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from conftest import Api, rand_engineer_id, rand_ref
from test_console_session import sign_in

CARD = re.compile(r'<li class="card" data-ticket="([0-9a-f-]+)">')


def waiting_ids(api: Api, **filters: str) -> list[str]:
    page = api.client.get("/console/", params=filters)
    assert page.status_code == 200
    return CARD.findall(page.text.split('id="waiting-h"', 1)[1].split('id="inhand-h"', 1)[0])


def test_the_board_filters_waiting_tickets(api: Api) -> None:
    assert sign_in(api.client).status_code == 303
    north = api.ticket(priority="critical", required_skill="fibre", territory="north")["id"]
    south = api.ticket(priority="critical", required_skill="copper", territory="south")["id"]
    low = api.ticket(priority="low", required_skill="fibre", territory="north",
                     reference=(ref := rand_ref()))["id"]
    assert set(waiting_ids(api)) == {north, south, low}
    assert set(waiting_ids(api, priority="critical")) == {north, south}
    assert waiting_ids(api, priority="critical", skill="fibre") == [north]
    assert set(waiting_ids(api, territory="north")) == {north, low}
    assert waiting_ids(api, q=ref) == [low]
    assert waiting_ids(api, territory="nowhere") == []
    page = api.client.get("/console/", params={"territory": "north"}).text
    assert '<option value="north" selected>north</option>' in page
    assert "matches these filters" in api.client.get("/console/?territory=nowhere").text


def test_the_picker_puts_those_who_qualify_first_and_says_why_the_others_do_not(
    api: Api,
) -> None:
    assert sign_in(api.client).status_code == 303
    fits = api.engineer(id=rand_engineer_id("fits"), tier=2, skills=["fibre"],
                        territories=["north"],
                        certifications=[{"name": "splicing", "expires_on": None}])["id"]
    expired = api.engineer(id=rand_engineer_id("old"), tier=2, skills=["fibre"],
                           certifications=[{"name": "splicing", "expires_on": "2020-01-31"}])["id"]
    elsewhere = api.engineer(id=rand_engineer_id("far"), tier=2, skills=["fibre"],
                             territories=["south"],
                             certifications=[{"name": "splicing", "expires_on": None}])["id"]
    ticket = api.ticket(required_skill="fibre", territory="north",
                        required_certification="splicing")["id"]
    form = api.client.get(f"/console/tickets/{ticket}/form/assign?next=/console/").text
    options = re.findall(r'<option value="([^"]+)"[^>]*>([^<]*)</option>', form)
    ours = [(value, label) for value, label in options if value in (fits, expired, elsewhere)]
    assert ours[0][0] == fits and ours[0][1].endswith("— qualifies")
    labels = dict(ours)
    assert "certification splicing expired on 2020-01-31" in labels[expired]
    assert "does not cover territory south" not in labels[elsewhere]
    assert "does not cover territory north" in labels[elsewhere]


def test_the_board_filters_by_sla_state(open_client: Any) -> None:
    # Critical tickets are due a second after opening; the others keep the defaults.
    with open_client(ticket_sla="critical=1s") as client:
        api = Api(client)
        assert sign_in(client).status_code == 303
        now = datetime.now(UTC)
        late = api.ticket(due_at=(now - timedelta(hours=1)).isoformat())["id"]
        soon = api.ticket(due_at=(now + timedelta(minutes=30)).isoformat())["id"]
        later = api.ticket(due_at=(now + timedelta(days=2)).isoformat())["id"]
        critical = api.ticket(priority="critical")["id"]  # no due date: by its priority
        low = api.ticket(priority="low")["id"]  # 72 h by default
        time.sleep(1.2)
        assert set(waiting_ids(api, sla="breached")) == {late, critical}
        assert waiting_ids(api, sla="due_soon") == [soon]
        assert set(waiting_ids(api, sla="on_track")) == {later, low}
        assert len(waiting_ids(api, sla="no-such-state")) == 5  # ignored, as an empty filter
        page = client.get("/console/", params={"sla": "breached"}).text
        assert '<option value="breached" selected>breached</option>' in page
