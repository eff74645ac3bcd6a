"""The operations page's webhook section: endpoints with their delivery health,
and for admins Deactivate / Activate buttons running the same command as
``PATCH /webhooks/{id}``; other roles, like the API's, see no endpoint (their
URLs may carry secrets), and a forged post is refused."""

from __future__ import annotations

from typing import Any

import pytest

from conftest import Api
from test_console_session import csrf_of, messages, new_key, sign_in
from webhook_receiver import wait_for


@pytest.fixture
def hooks(open_client: Any) -> Any:
    with open_client(webhook_allow_private=True, webhook_retry_base=0.05,
                     webhook_retry_max=0.1, webhook_request_timeout=0.5) as client:
        yield Api(client)


def test_the_operations_page_shows_delivery_health_and_admins_toggle_endpoints(
    hooks: Api, httpserver: Any
) -> None:
    httpserver.expect_request("/ok", method="POST").respond_with_data("ok")
    httpserver.expect_request("/down", method="POST").respond_with_data("no", status=500)
    ok = hooks.ok(hooks.post("/webhooks", json={"url": httpserver.url_for("/ok")}), 201)
    down = hooks.ok(hooks.post("/webhooks", json={"url": httpserver.url_for("/down"),
                                                  "description": "billing"}), 201)
    hooks.ticket()
    wait_for(lambda: (hooks.ok(hooks.get(f"/webhooks/{down['id']}"))["delivery"] or {}).get(
        "failures", 0) >= 2 and (hooks.ok(hooks.get(f"/webhooks/{ok['id']}"))["delivery"]
                                 or {}).get("last_success_at"), what="health recorded")
    assert sign_in(hooks.client).status_code == 303
    page = hooks.client.get("/console/operations").text
    assert "<h2>Webhooks</h2>" in page and httpserver.url_for("/down") in page
    assert "billing" in page and "HTTP 500" in page
    assert page.count(">Deactivate</button>") == 2
    assert ok["secret"] not in page and down["secret"] not in page

    r = hooks.client.post(f"/console/operations/webhooks/{down['id']}/deactivate",
                          data={"csrf": csrf_of(hooks.client, "/console/operations")})
    assert r.status_code == 200 and ("ok", "Deactivated.") in messages(r.text)
    assert hooks.ok(hooks.get(f"/webhooks/{down['id']}"))["active"] is False
    assert f'data-webhook="{down["id"]}" data-active="false"' in r.text
    assert ">Activate</button>" in r.text
    [event] = hooks.events(type="Webhook.Deactivated")
    assert event["actor"] == "e2e-tester" and event["data"]["reason"] == "patched"

    r = hooks.client.post(f"/console/operations/webhooks/{down['id']}/activate",
                          data={"csrf": csrf_of(hooks.client, "/console/operations")})
    assert ("ok", "Activated.") in messages(r.text)
    assert hooks.ok(hooks.get(f"/webhooks/{down['id']}"))["active"] is True


def test_other_roles_see_no_endpoint_and_a_forged_post_is_refused(
    hooks: Api,
) -> None:
    created = hooks.ok(hooks.post("/webhooks", json={"url": "https://93.184.216.34/h"}), 201)
    dispatcher = new_key(hooks.client, "dispatcher-1", "dispatcher")
    assert sign_in(hooks.client, token=dispatcher).status_code == 303
    page = hooks.client.get("/console/operations").text
    assert "https://93.184.216.34/h" not in page and "<h2>Webhooks</h2>" not in page
    assert ">Deactivate</button>" not in page and ">Activate</button>" not in page
    with hooks.records_nothing():
        r = hooks.client.post(f"/console/operations/webhooks/{created['id']}/deactivate",
                              data={"csrf": csrf_of(hooks.client, "/console/operations")})
        assert r.status_code == 403 and "may not do this" in r.text
    assert hooks.ok(hooks.get(f"/webhooks/{created['id']}"))["active"] is True
