"""Operations: projection status and rebuilds, health, readiness, metrics."""

from __future__ import annotations

import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

#: The read tables of the contract (the app may maintain more projections).
PROJECTIONS = {"tickets", "engineer_assignments", "current_ticket_assignments",
               "assignment_history", "engineers"}


def _scenario(api) -> list[str]:
    e1, e2, e3 = api.engineers(3)
    tickets = []
    for n in range(3):
        ticket_id = api.ticket(reference=f"R{n}")["id"]
        tickets.append(ticket_id)
        a = api.assign(ticket_id, e1)
        api.accept(a["id"])
        b = api.escalate(ticket_id, e2, reason=f"escalation {n}")
        if n == 0:
            api.accept(b["id"])
            api.complete(b["id"], "success", 1.25, parts_used=[
                {"part_number": "P1", "part_name": "fuse", "quantity": 1, "cost": 2.5}])
        elif n == 1:
            api.reassign(b["id"], e3, "closer")
    api.close(api.ticket()["id"])
    return tickets


def _read_tables(api, tickets: list[str]) -> dict[str, object]:
    """Everything the read tables show through the API."""
    def everything(path: str) -> list:
        return [row for page in api.paged(path, limit=1000) for row in page]

    snapshot: dict[str, object] = {
        "tickets": everything("/tickets"),
        "assignments": everything("/assignments"),
        "engineers": everything("/engineers"),
    }
    for ticket_id in tickets:
        snapshot[f"history {ticket_id}"] = api.ok(api.get(f"/tickets/{ticket_id}/history"))
        snapshot[f"assignments {ticket_id}"] = api.ok(
            api.get(f"/tickets/{ticket_id}/assignments"))
        current = api.get(f"/tickets/{ticket_id}/current-assignment")
        snapshot[f"current {ticket_id}"] = (current.status_code, current.json())
    return snapshot


def _wait_for_generation(api, names: set[str], generation: int, timeout: float = 20.0) -> list:
    deadline = time.monotonic() + timeout
    while True:
        rows = api.ok(api.get("/projections"))
        done = [r for r in rows if r["name"] in names and r["generation"] >= generation
                and r["state"] == "live" and r["status"] == "live"]
        if len(done) == len(names) and {r["name"] for r in rows} >= PROJECTIONS:
            return rows
        if time.monotonic() > deadline:
            raise AssertionError(f"rebuild did not finish: {rows}")
        time.sleep(0.05)


def test_projections_lists_every_projection_caught_up(api):
    api.assigned()
    head = api.head()
    rows = api.ok(api.get("/projections"))
    assert {r["name"] for r in rows} >= PROJECTIONS
    for r in rows:
        assert set(r) >= {"name", "version", "position", "head", "lag", "status"}, r
        assert (r["state"], r["status"]) == ("live", "live")
        assert r["position"] == r["head"] == head
        assert r["lag"] == 0
        assert r["version"] >= 1 and r["generation"] >= 1


@pytest.mark.parametrize("target", ["all", "assignment_history"])
def test_rebuild_is_accepted_and_rebuilds_identical_tables(api, target):
    tickets = _scenario(api)
    before = _read_tables(api, tickets)
    generations = {r["name"]: r["generation"] for r in api.ok(api.get("/projections"))}
    response = api.post(f"/projections/{target}/rebuild")
    assert response.status_code == 202, response.text
    assert {r["name"] for r in response.json()} >= PROJECTIONS
    names = set(generations) if target == "all" else {target}
    rows = _wait_for_generation(api, names, max(generations[n] for n in names) + 1)
    for r in rows:
        expected = generations[r["name"]] + (1 if r["name"] in names else 0)
        assert r["generation"] == expected, r
        assert r["lag"] == 0
    after = _read_tables(api, tickets)
    assert after == before
    # The rebuilt tables keep following new events.
    ticket_id, _eng, assignment = api.assigned()
    history = api.ok(api.get(f"/tickets/{ticket_id}/history"))
    assert [h["assignment_id"] for h in history] == [assignment["id"]]


def test_rebuild_of_unknown_projection_is_404(api):
    api.ticket()
    with api.records_nothing():
        body = api.problem(api.post("/projections/no-such-thing/rebuild"), 404)
    assert "no-such-thing" in body["detail"]
    assert all(r["generation"] == 1 for r in api.ok(api.get("/projections")))


def test_healthz(api):
    response = api.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_reports_head_and_position(api):
    empty = api.readyz()
    assert empty == {"status": "ready", "head": 0, "position": 0, "lag": 0}
    api.assigned()
    body = api.readyz()
    assert body["status"] == "ready"
    assert body["head"] == 3
    assert body["position"] == body["head"]
    assert body["lag"] == 0


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a Prometheus text page: (name, labels) -> value."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text) for s in family.samples
    }


def _sample(text: str, metric: str, **labels: str) -> int:
    key = (metric, frozenset(labels.items()))
    found = samples(text)
    assert key in found, f"{metric}{labels} missing:\n{text}"
    return int(found[key])


def test_metrics_count_the_write_path(api):
    services = api.client.app.state.services
    before = api.get("/metrics").text
    _, _, assignment = api.assigned()  # an engineer, a ticket, an assignment
    aid = assignment["id"]
    api.accept(aid)
    after = api.get("/metrics").text
    for name in ("ledger_commit_transactions_total", "ledger_commit_aggregates_total",
                 "ledger_commit_splits_total",
                 "ledger_assignment_lookups_total", "ledger_assignment_lookup_queries_total"):
        assert f"# TYPE {name} counter" in after, name

    def moved(metric: str, **labels: str) -> int:
        return _sample(after, metric, **labels) - _sample(before, metric, **labels)

    assert moved("ledger_commit_aggregates_total") >= 4
    assert 1 <= moved("ledger_commit_transactions_total") <= moved("ledger_commit_aggregates_total")
    assert moved("ledger_commit_splits_total") == 0
    # The assignment was committed here: found in memory, nothing looked up.
    assert moved("ledger_assignment_lookups_total") == 0
    if services.ledger.store.is_postgres:
        assert moved("ledger_inline_saves_total", outcome="projected") >= 4
        assert moved("ledger_inline_saves_total", outcome="failed") == 0
    else:  # SQLite: the runner projects; no inline writes to count
        assert "ledger_inline_saves_total" not in after


def test_metrics_in_prometheus_text_format(api):
    api.assigned()
    response = api.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert "# TYPE ledger_head_position gauge" in text
    assert _sample(text, "ledger_head_position") == 3
    found = samples(text)  # parsed by prometheus-client's own parser: well formed
    for name in PROJECTIONS:
        (labels,) = [dict(k[1]) for k in found
                     if k[0] == "ledger_projection_position" and dict(k[1])["name"] == name]
        assert labels["state"] == "live" and labels["version"].isdigit(), labels
        assert _sample(text, "ledger_projection_position", **labels) == 3, name
        assert _sample(text, "ledger_projection_lag", **labels) == 0, name


def test_metrics_show_where_the_background_jobs_have_followed_the_log(api):
    """Operators (and the read benchmark, before it measures) see a job catching
    up: ``ledger_job_position`` reaches the head once the jobs have followed it."""
    services = api.client.app.state.services
    jobs = ["checkpoint-sealer"] + (["repeat-faults"] if services.repeat_faults else [])
    api.assigned()
    head = services.ledger.head()
    deadline = time.monotonic() + 10
    while True:
        text = api.get("/metrics").text
        found = samples(text)
        positions = {job: found.get(("ledger_job_position", frozenset({("job", job)})))
                     for job in jobs}
        if all(p == head for p in positions.values()):
            break
        assert time.monotonic() < deadline, f"jobs behind head {head}: {positions}"
        time.sleep(0.05)
    assert "# TYPE ledger_job_position gauge" in text


def test_openapi_documents_the_contract_paths(api):
    paths = api.ok(api.get("/openapi.json"))["paths"]
    for path, methods in {
        "/engineers": {"get", "post"},
        "/engineers/{engineer_id}": {"get", "patch"},
        "/tickets": {"get", "post"},
        "/tickets/{ticket_id}": {"get"},
        "/tickets/{ticket_id}/close": {"post"},
        "/tickets/{ticket_id}/reopen": {"post"},
        "/tickets/{ticket_id}/current-assignment": {"get"},
        "/tickets/{ticket_id}/assignments": {"get"},
        "/tickets/{ticket_id}/history": {"get"},
        "/tickets/{ticket_id}/events": {"get"},
        "/assignments": {"get", "post"},
        "/assignments/escalate": {"post"},
        "/assignments/{assignment_id}": {"get", "delete"},
        "/assignments/{assignment_id}/accept": {"post"},
        "/assignments/{assignment_id}/reject": {"post"},
        "/assignments/{assignment_id}/start": {"post"},
        "/assignments/{assignment_id}/complete": {"post"},
        "/assignments/{assignment_id}/reassign": {"put"},
        "/assignments/{assignment_id}/history": {"get"},
        "/events": {"get"},
        "/projections": {"get"},
        "/projections/{name}/rebuild": {"post"},
        "/healthz": {"get"},
        "/readyz": {"get"},
        "/metrics": {"get"},
    }.items():
        assert path in paths, path
        assert methods <= set(paths[path]), (path, set(paths[path]))
