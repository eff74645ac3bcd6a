"""The console's audit page beyond paging: the time range filter, the signed
checkpoints, and a readable refusal of a time that means nothing."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

from conftest import Api
from test_console_session import sign_in

ROW = re.compile(r"<tr><td>(\d+)</td><td>Ticket.Opened")


def test_the_feed_filters_by_time_range(api: Api) -> None:
    assert sign_in(api.client).status_code == 303
    api.ticket(title="Before the window")
    time.sleep(0.05)
    start = datetime.now(UTC)
    time.sleep(0.05)
    inside = api.ticket(title="Inside the window")
    time.sleep(0.05)
    end = datetime.now(UTC)
    time.sleep(0.05)
    api.ticket(title="After the window")
    everything = ROW.findall(api.client.get("/console/audit?type=Ticket.Opened").text)
    assert len(everything) == 3
    shown = api.client.get("/console/audit", params={
        "type": "Ticket.Opened", "since": start.isoformat(), "until": end.isoformat()}).text
    opened = api.get(f"/tickets/{inside['id']}/events").json()[0]
    assert ROW.findall(shown) == [str(opened["position"])]
    # The page's own datetime-local fields carry no zone: read as UTC.
    naive = start.replace(tzinfo=None).isoformat(timespec="seconds")
    later = api.client.get("/console/audit", params={"type": "Ticket.Opened", "since": naive})
    assert 1 <= len(ROW.findall(later.text)) <= 3
    assert f'value="{naive[:16]}"' in later.text


def test_a_time_that_means_nothing_is_refused_readably(api: Api) -> None:
    assert sign_in(api.client).status_code == 303
    r = api.client.get("/console/audit", params={"since": "yesterday-ish"})
    assert r.status_code == 400
    assert "From &#39;yesterday-ish&#39; is not a date and time." in r.text


def test_the_signed_checkpoints_are_listed_newest_first(api: Api) -> None:
    assert sign_in(api.client).status_code == 303
    empty = api.client.get("/console/audit").text
    assert "No checkpoint sealed yet." in empty
    sealer = api.client.app.state.services.audit.sealer
    api.ticket()
    sealer.seal_pending(force=True)
    api.ticket()
    sealer.seal_pending(force=True)
    page = api.client.get("/console/audit").text
    key_id = api.get("/audit/public-key").json()["key_id"]
    rows = re.findall(r'<tr><td>(\d+)</td><td>(\d+)</td><td><code title="([0-9a-f]{64})"', page)
    listed = api.get("/audit/checkpoints").json()["items"]
    assert [int(p) for p, _n, _h in rows] == [c["position"] for c in reversed(listed)]
    assert [h for _p, _n, h in rows] == [c["running_hash"] for c in reversed(listed)]
    assert f"<code>{key_id}</code>" in page
