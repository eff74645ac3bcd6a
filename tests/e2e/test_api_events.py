"""GET /events: the global feed in position order, paged without ever skipping."""

from __future__ import annotations




def _some_history(api) -> dict[str, str]:
    """Engineers, tickets and assignment moves: a couple of dozen events."""
    e1, e2, e3 = api.engineers(3)
    t1 = api.ticket()["id"]
    t2 = api.ticket()["id"]
    a1 = api.assign(t1, e1)
    api.accept(a1["id"])
    api.escalate(t1, e2, reason="harder")
    a2 = api.assign(t2, e3)
    api.reject(a2["id"])
    a3 = api.assign(t2, e1)
    api.accept(a3["id"])
    api.start(a3["id"])
    api.complete(a3["id"], "success")
    api.client.patch(f"/engineers/{e3}", json={"capacity": 7})
    t3 = api.ticket()["id"]
    api.close(t3)
    return {"t1": t1, "t2": t2, "t3": t3, "e1": e1}


def test_paging_visits_every_position_exactly_once(api):
    _some_history(api)
    head = api.head()
    assert head == 17
    for limit in (1, 3, 7, head, 1000):
        pages = api.paged("/events", limit=limit)
        assert all(len(p) <= limit for p in pages)
        # A page that ends exactly at the head may still hand out a cursor (a feed
        # can grow); following it gives one empty last page, never an empty middle.
        assert all(p for p in pages[:-1]), "no empty page before the end"
        positions = [e["position"] for p in pages for e in p]
        assert positions == list(range(1, head + 1)), limit
    last = api.ok(api.get("/events", params={"limit": 1000}))
    assert last["next_cursor"] is None


def test_events_carry_their_fields(api):
    _some_history(api)
    events = api.events()
    for e in events:
        assert set(e) >= {"position", "ticket_id", "aggregate_id", "version", "type",
                          "recorded_at", "actor", "data", "hash", "prev_hash"}
        assert e["actor"] == "e2e-tester"
        assert isinstance(e["data"], dict)
        if e["type"].startswith("Ticket."):
            assert e["ticket_id"] == e["aggregate_id"]
        else:
            assert e["type"].startswith("Engineer.")
            assert e["ticket_id"] is None
    times = [e["recorded_at"] for e in events]
    assert times == sorted(times)
    # Each stream's versions are contiguous from 1 in the global order.
    versions: dict[str, list[int]] = {}
    for e in events:
        versions.setdefault(e["aggregate_id"], []).append(e["version"])
    assert all(v == list(range(1, len(v) + 1)) for v in versions.values())


def test_after_starts_past_a_position(api):
    _some_history(api)
    head = api.head()
    tail = api.events(after=head - 4)
    assert [e["position"] for e in tail] == list(range(head - 3, head + 1))
    assert api.events(after=head) == []


def test_filter_by_type(api):
    _some_history(api)
    everything = api.events()
    assigned = api.events(type="Ticket.Assigned")
    assert [e["position"] for e in assigned] == [
        e["position"] for e in everything if e["type"] == "Ticket.Assigned"]
    assert len(assigned) == 3
    assert api.events(type="Assigned") == assigned, "the short name works too"
    both = api.events(type=["Ticket.Escalated", "Engineer.Registered"])
    assert [e["position"] for e in both] == [
        e["position"] for e in everything
        if e["type"] in ("Ticket.Escalated", "Engineer.Registered")]
    assert {e["type"] for e in both} == {"Ticket.Escalated", "Engineer.Registered"}
    # Paging through a filter still visits each match exactly once.
    pages = api.paged("/events", limit=1, type="Ticket.Assigned")
    assert [e["position"] for p in pages for e in p] == [e["position"] for e in assigned]


def test_filter_by_ticket(api):
    ids = _some_history(api)
    everything = api.events()
    for key in ("t1", "t2", "t3"):
        mine = api.events(ticket_id=ids[key])
        assert mine == [e for e in everything if e["ticket_id"] == ids[key]]
        assert [e["version"] for e in mine] == list(range(1, len(mine) + 1))
        assert mine == api.ok(api.get(f"/tickets/{ids[key]}/events"))
    pages = api.paged("/events", limit=2, ticket_id=ids["t2"])
    assert [e for p in pages for e in p] == api.events(ticket_id=ids["t2"])
    assert api.events(ticket_id=ids["t1"], type="Ticket.Escalated")[0]["type"] == (
        "Ticket.Escalated")


def test_filter_by_actor(open_client):
    """Events record who caused them; two runs of the app, two actors."""
    from uuid import uuid4

    ticket_id = None
    with open_client(actor="alice@example.com") as c:
        assert c.post("/engineers", json={"id": "alice-eng", "name": "A"}).status_code == 201
        ticket_id = c.post("/tickets", json={"title": "by alice"}).json()["id"]
    with open_client(actor="bob") as c:
        assert c.post("/assignments", json={
            "ticket_id": ticket_id, "engineer_id": "alice-eng", "tier": 1}).status_code == 201
        assert c.post(f"/tickets/{ticket_id}", json={}).status_code == 405  # records nothing
        everything = c.get("/events").json()["items"]
        assert [e["actor"] for e in everything] == ["alice@example.com", "alice@example.com",
                                                   "bob"]
        alice = c.get("/events", params={"actor": "alice@example.com"}).json()
        assert [e["position"] for e in alice["items"]] == [1, 2]
        bob = c.get("/events", params={"actor": "bob", "limit": 1}).json()
        assert [e["type"] for e in bob["items"]] == ["Ticket.Assigned"]
        if bob["next_cursor"] is not None:  # a cursor may be handed out at the limit ...
            rest = c.get("/events", params={"actor": "bob", "cursor": bob["next_cursor"]})
            assert rest.json() == {"items": [], "next_cursor": None}  # ... but leads nowhere
        assert c.get("/events", params={"actor": "nobody-" + uuid4().hex[:4]}).json() == {
            "items": [], "next_cursor": None}
        # The read tables record the actor too.
        ticket = c.get(f"/tickets/{ticket_id}").json()
        assert ticket["opened_by"] == "alice@example.com"
        assert ticket["current_assignment"]["assigned_by"] == "bob"
        history = c.get(f"/tickets/{ticket_id}/history").json()
        assert [h["changed_by"] for h in history] == ["bob"]


def test_filter_by_time(api):
    _some_history(api)
    everything = api.events()
    middle = everything[len(everything) // 2]["recorded_at"]
    before = api.events(until=middle)
    since = api.events(since=middle)
    assert before + since == everything
    assert all(e["recorded_at"] < middle for e in before)
    assert all(e["recorded_at"] >= middle for e in since)


def test_bad_feed_queries_are_4xx(api):
    api.ticket()
    api.problem(api.get("/events", params={"cursor": "not-a-cursor"}), 400)
    api.problem(api.get("/events", params={"cursor": "WyJ4Il0"}), 400)  # ["x"]: not a position
    api.problem(api.get("/events", params={"limit": 0}), 422)
    api.problem(api.get("/events", params={"limit": 1001}), 422)
    api.problem(api.get("/events", params={"after": -1}), 422)
    api.problem(api.get("/events", params={"ticket_id": "nope"}), 422)
    api.problem(api.get("/events", params={"since": "yesterday"}), 422)
