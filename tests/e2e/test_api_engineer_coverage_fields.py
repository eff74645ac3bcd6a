"""Issue 21: engineers' territories and certifications on POST, PATCH and GET."""

from __future__ import annotations

CERTS = [{"name": "fibre-splicing", "expires_on": "2026-10-31"},
         {"name": "first-aid", "expires_on": None}]


def test_register_with_territories_and_certifications(api):
    body = api.engineer(territories=["north", "harbour"], certifications=CERTS)
    assert body["territories"] == ["north", "harbour"]
    assert body["certifications"] == CERTS
    assert api.engineer_row(body["id"]) == body


def test_defaults_are_empty(api):
    body = api.engineer()
    assert body["territories"] == [] and body["certifications"] == []


def test_patch_replaces_them_and_records_only_changes(api):
    engineer = api.engineer(territories=["north"], certifications=CERTS)
    body = api.ok(api.client.patch(f"/engineers/{engineer['id']}", json={
        "territories": ["south"], "certifications": CERTS}))
    assert body["territories"] == ["south"] and body["certifications"] == CERTS
    with api.records_nothing():
        api.ok(api.client.patch(f"/engineers/{engineer['id']}", json={"territories": ["south"]}))


def test_bad_certification_is_a_problem_and_records_nothing(api):
    with api.records_nothing():
        for certs in ([{"name": "x", "expires_on": "31/10/2026"}], [{"expires_on": None}],
                      [{"name": ""}]):
            api.problem(api.post("/engineers", json={
                "id": "bad-cert", "name": "Bad", "certifications": certs}), 422)


def test_patch_honours_if_match(api):
    engineer = api.engineer()
    path = f"/engineers/{engineer['id']}"
    first = api.client.patch(path, json={"territories": ["north"]}, headers={"If-Match": '"1"'})
    assert api.ok(first)["territories"] == ["north"] and api.etag(first) == 2
    with api.records_nothing():
        problem = api.problem(api.client.patch(path, json={"capacity": 9},
                                               headers={"If-Match": '"1"'}), 412)
    assert "version 2" in problem["detail"]
    assert api.engineer_row(engineer["id"])["capacity"] == engineer["capacity"]
    assert api.ok(api.client.patch(path, json={"capacity": 9},
                                   headers={"If-Match": '"2"'}))["capacity"] == 9
