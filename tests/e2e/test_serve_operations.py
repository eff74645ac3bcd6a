"""The operations surface (issue 20): ``ledger serve`` says at every start how to
get a token and logs one line per request unless told not to; ``/metrics``
counts requests and their latency by route template, with ``prometheus-client``."""

from __future__ import annotations

import logging
import re
import time
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from live_ledger import serving_ledger

Api = Any

TOKEN_HINT = "Tokens: `ledger keys create --name NAME --role ROLE"


def test_ledger_serve_says_how_to_get_a_token_and_logs_each_request(tmp_path):
    database_url = f"sqlite:///{tmp_path / 'ledger.db'}"
    with serving_ledger(database_url, tmp_path) as live:
        auth = {"Authorization": f"Bearer {live.token}"}
        ticket = httpx.post(f"{live.base}/tickets", json={"title": "door"}, headers=auth)
        assert ticket.status_code == 201
        assert httpx.get(f"{live.base}/engineers", headers={"Authorization": "Bearer x"}
                         ).status_code == 401
        live.logged(r"POST /tickets 201 \d+\.\dms admin$")
        log = live.logged(r"GET /engineers 401 \d+\.\dms -$")
    assert TOKEN_HINT in log
    assert f"--database-url {database_url}`" in log  # the command works as printed

    # Every start, not only the first; --no-access-log silences the lines.
    with serving_ledger(database_url, tmp_path, "--no-access-log") as live:
        auth = {"Authorization": f"Bearer {live.token}"}
        assert httpx.get(f"{live.base}/tickets", headers=auth).status_code == 200
        time.sleep(0.5)  # what would have been logged has been
        log = live.log()
    assert TOKEN_HINT in log
    assert "GET /tickets" not in log and "GET /readyz" not in log, log


def test_the_access_log_names_method_path_status_duration_and_principal(api: Api, caplog):
    caplog.set_level(logging.INFO, logger="ledger.access")
    ticket = api.ticket()
    api.client.get(f"/tickets/{ticket['id']}", headers={"Authorization": "Bearer nope"})
    lines = [r.getMessage() for r in caplog.records if r.name == "ledger.access"]
    assert any(re.fullmatch(r"POST /tickets 201 \d+\.\dms e2e-tester", line)
               for line in lines), lines
    assert any(re.fullmatch(rf"GET /tickets/{ticket['id']} 401 \d+\.\dms -", line)
               for line in lines), lines


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text) for s in family.samples
    }


def test_metrics_count_requests_by_route_template(api: Api):
    _ticket, _engineer, assignment = api.assigned()
    api.accept(assignment["id"])
    api.client.get("/no/such/path")
    api.client.request("BREW", "/tickets")
    found = samples(api.get("/metrics").text)
    accept = "/assignments/{assignment_id}/accept"
    key = ("ledger_http_requests_total",
           frozenset({"method": "POST", "route": accept, "status": "200"}.items()))
    assert found[key] == 1
    count = ("ledger_http_request_duration_seconds_count",
             frozenset({"method": "POST", "route": accept}.items()))
    assert found[count] == 1
    assert ("ledger_http_request_duration_seconds_bucket",
            frozenset({"method": "POST", "route": accept, "le": "+Inf"}.items())) in found
    # No path of its own: unmatched paths and odd methods share one series each.
    assert not any(assignment["id"] in dict(labels).get("route", "") for _, labels in found)
    unmatched = {dict(labels)["route"] for name, labels in found
                 if name == "ledger_http_requests_total"
                 and dict(labels)["route"] == "(unmatched)"}
    assert unmatched == {"(unmatched)"}
    methods = {dict(labels)["method"] for name, labels in found
               if name == "ledger_http_requests_total"}
    assert "BREW" not in methods and "OTHER" in methods


@pytest.mark.parametrize("name", ["ledger_head_position", "ledger_projection_position",
                                  "ledger_projection_lag", "ledger_commit_transactions_total",
                                  "ledger_assignment_lookups_total"])
def test_metrics_keep_the_ledgers_own_series(api: Api, name: str):
    text = api.get("/metrics").text
    assert any(sample[0] == name for sample in samples(text)), text
