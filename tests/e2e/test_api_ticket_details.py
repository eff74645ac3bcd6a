"""Issue 21: a ticket's territory, required certification, due date and location;
``GET /tickets`` filters on them; ``PATCH /tickets/{id}`` records one
``Ticket.Updated`` holding only what changed."""

from __future__ import annotations

LOCATION = {"pole": "P-1182", "pon": "PON-7/3", "zone": "north", "dr": "DR-44"}


def _updates(api, ticket_id):
    return [e for e in api.get(f"/tickets/{ticket_id}/events").json()
            if e["type"] == "Ticket.Updated"]


def test_open_takes_the_new_fields_and_get_returns_them(api):
    body = api.ticket(territory="harbour", required_certification="fibre-splicing",
                      due_at="2026-12-08T17:00:00+02:00", location=LOCATION)
    assert body["territory"] == "harbour"
    assert body["required_certification"] == "fibre-splicing"
    assert body["due_at"] == "2026-12-08T15:00:00.000000Z"
    assert body["location"] == LOCATION
    assert api.ticket_row(body["id"]) == body
    opened = api.get(f"/tickets/{body['id']}/events").json()[0]["data"]
    assert opened["location"] == LOCATION and opened["territory"] == "harbour"


def test_territory_defaults_to_the_location_zone(api):
    body = api.ticket(location={"zone": "south", "pole": "P-9"})
    assert body["territory"] == "south"
    assert body["location"] == {"pole": "P-9", "pon": None, "zone": "south", "dr": None}
    plain = api.ticket()
    assert plain["territory"] is None and plain["location"] is None and plain["due_at"] is None


def test_naive_due_at_is_refused_and_records_nothing(api):
    with api.records_nothing():
        api.problem(api.post("/tickets", json={"title": "x", "due_at": "2026-12-08T17:00:00"}),
                    422)


def test_list_filters_by_territory_and_each_location_part(api):
    pole = "P-" + api.ticket()["id"][:8]
    a = api.ticket(location={**LOCATION, "pole": pole})
    b = api.ticket(territory="t-" + pole, location={"pole": pole, "zone": "east"})
    api.ticket(location={"zone": "east"})
    ids = lambda **q: [t["id"] for t in api.ok(api.get("/tickets", params=q))["items"]]  # noqa: E731
    assert ids(pole=pole) == [a["id"], b["id"]]
    assert ids(pole=pole, zone="east") == [b["id"]]
    assert ids(territory="t-" + pole) == [b["id"]]
    assert ids(pole=pole, pon="PON-7/3", dr="DR-44") == [a["id"]]


def test_patch_records_only_the_changed_fields(api):
    ticket = api.ticket(priority="high", location=LOCATION, required_skill="fibre")
    response = api.client.patch(f"/tickets/{ticket['id']}", json={
        "priority": "high", "required_skill": "copper", "location": {"pole": "P-2"},
        "due_at": "2026-12-09T09:00:00Z"})
    body = api.ok(response)
    assert body["version"] == 2 and api.etag(response) == 2
    assert body["required_skill"] == "copper" and body["priority"] == "high"
    assert body["location"] == {**LOCATION, "pole": "P-2"}
    assert body["due_at"] == "2026-12-09T09:00:00.000000Z"
    (update,) = _updates(api, ticket["id"])
    assert set(update["data"]["changes"]) == {"required_skill", "location", "due_at"}
    assert api.ticket_row(ticket["id"]) == body


def test_patch_clears_optional_fields_with_null(api):
    ticket = api.ticket(required_skill="fibre", location={"zone": "north"})
    body = api.ok(api.client.patch(f"/tickets/{ticket['id']}",
                                   json={"required_skill": None, "location": None}))
    assert body["required_skill"] is None and body["location"] is None
    assert body["territory"] == "north"  # set when opened; cleared only when sent


def test_patch_without_a_change_records_nothing(api):
    ticket = api.ticket(priority="low", territory="north")
    with api.records_nothing():
        response = api.client.patch(f"/tickets/{ticket['id']}",
                                    json={"priority": "low", "territory": "north"})
    assert api.ok(response)["version"] == 1 and api.etag(response) == 1
    assert _updates(api, ticket["id"]) == []


def test_patch_bad_input_is_a_problem_and_records_nothing(api):
    ticket = api.ticket()
    with api.records_nothing():
        for body in ({"title": None}, {"priority": "urgent"}, {"title": ""},
                     {"location": {"street": "x"}}, {"owner": "me"}):
            api.problem(api.client.patch(f"/tickets/{ticket['id']}", json=body), 422)


def test_patch_honours_if_match(api):
    ticket = api.ticket()
    api.ok(api.client.patch(f"/tickets/{ticket['id']}", json={"title": "Renamed"},
                            headers={"If-Match": '"1"'}))
    with api.records_nothing():
        problem = api.problem(api.client.patch(
            f"/tickets/{ticket['id']}", json={"title": "Again"}, headers={"If-Match": '"1"'}),
            412)
    assert "version 2" in problem["detail"]


def test_patch_of_a_closed_ticket_is_refused_and_unknown_is_404(api):
    ticket = api.ticket()
    api.close(ticket["id"])
    with api.records_nothing():
        api.problem(api.client.patch(f"/tickets/{ticket['id']}", json={"title": "x"}), 409)
        api.problem(api.client.patch("/tickets/7d1f5b8e-4c0a-4f43-9d3a-2f8b8d1c0e11",
                                     json={"title": "x"}), 404)
