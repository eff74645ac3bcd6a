"""Issue 21: GET /coverage, /coverage/gaps and /certifications/expiring over HTTP
(the queries' agreement with the rule: tests/integration/test_coverage.py)."""

from __future__ import annotations

from uuid import uuid4

DAY = "2026-11-15"


def test_coverage_lists_who_qualifies_least_loaded_first(api):
    area = "area-" + uuid4().hex[:8]
    busy = api.engineer(skills=["fibre"], territories=[area], tier=2, capacity=2)["id"]
    idle = api.engineer(skills=["fibre"], territories=[], tier=3, capacity=2)["id"]
    api.engineer(skills=["fibre"], territories=["elsewhere"], tier=2)  # wrong territory
    api.engineer(skills=["copper"], territories=[area], tier=2)  # wrong skill
    expired = api.engineer(skills=["fibre"], territories=[area], tier=2, certifications=[
        {"name": "splicing", "expires_on": "2026-11-14"}])["id"]
    api.assign(api.ticket()["id"], busy, tier=1)
    body = api.ok(api.get("/coverage", params={
        "territory": area, "skill": "fibre", "tier": 2, "on": DAY}))
    ids = [r["engineer_id"] for r in body["items"]]
    assert sorted(ids) == sorted([idle, busy, expired])
    assert ids[-1] == busy  # the only one with an open assignment
    row = next(r for r in body["items"] if r["engineer_id"] == busy)
    assert row == {"engineer_id": busy, "name": row["name"], "tier": 2, "open_assignments": 1,
                   "capacity": 2}
    with_cert = api.ok(api.get("/coverage", params={
        "territory": area, "skill": "fibre", "certification": "splicing", "on": DAY}))
    assert expired not in [r["engineer_id"] for r in with_cert["items"]]
    assert api.ok(api.get("/coverage", params={"territory": area, "skill": "fibre",
                                               "tier": 4}))["items"] == []


def test_gaps_name_the_uncovered_needs(api):
    skill = "skill-" + uuid4().hex[:8]
    api.ticket(required_skill=skill, territory="north")
    api.ticket(required_skill=skill, territory="north")
    gaps = api.ok(api.get("/coverage/gaps", params={"on": DAY}))["items"]
    assert {"territory": "north", "skill": skill, "certification": None,
            "open_tickets": 2} in gaps
    api.engineer(skills=[skill])
    gaps = api.ok(api.get("/coverage/gaps", params={"on": DAY}))["items"]
    assert not [g for g in gaps if g["skill"] == skill]


def test_expiring_certifications_soonest_first(api):
    a = api.engineer(certifications=[{"name": "splicing", "expires_on": "2026-12-01"},
                                     {"name": "height", "expires_on": None}])["id"]
    b = api.engineer(certifications=[{"name": "splicing", "expires_on": "2026-11-20"},
                                     {"name": "first-aid", "expires_on": "2027-03-01"}])["id"]
    items = api.ok(api.get("/certifications/expiring",
                           params={"within_days": 30, "on": DAY}))["items"]
    mine = [(i["engineer_id"], i["certification"], i["expires_on"], i["days_left"])
            for i in items if i["engineer_id"] in (a, b)]
    assert mine == [(b, "splicing", "2026-11-20", 5), (a, "splicing", "2026-12-01", 16)]


def test_bad_parameters_are_problems(api):
    for path, params in (("/coverage", {"tier": 0}), ("/coverage", {"on": "15/11/2026"}),
                         ("/coverage/gaps", {"on": "tomorrow"}),
                         ("/certifications/expiring", {"within_days": -1})):
        api.problem(api.get(path, params=params), 422)


def test_a_window_past_the_last_date_is_cut_there(api):
    body = api.ok(api.get("/certifications/expiring",
                          params={"within_days": 3650, "on": "9999-12-30"}))
    assert body == {"items": []}
