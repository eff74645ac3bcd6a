"""``--api-only`` beside a worker, in one test process (the locks are per
connection on PostgreSQL and per open file on SQLite, so two sets of services
contend as two processes do): the API-only app runs no background job and
never leads, the worker's services lead every job, and the API-only app's
commands are still answered at read-your-writes, on both backends."""

from __future__ import annotations

from api.app import background_jobs, build_services, start_background, stop_background
from conftest import AUTH, e2e_settings, running_client


def test_api_only_runs_no_job_and_reads_its_writes_through_a_worker(database_url: str) -> None:
    worker = build_services(e2e_settings(database_url))
    jobs = start_background(worker)
    try:
        assert worker.read_side.leading
        assert jobs == background_jobs(worker) and jobs, "the worker starts every job"
        with running_client(database_url, api_only=True,
                            read_your_writes_timeout=10.0) as client:
            services = client.app.state.services
            engineer = client.post("/engineers", headers=AUTH, json={
                "id": "api-only-1", "name": "A", "skills": ["mri"], "tier": 1,
                "capacity": 3, "availability": 1.0})
            assert engineer.status_code == 201, engineer.text
            ticket = client.post("/tickets", json={"title": "api only"})
            assigned = client.post("/assignments", json={
                "ticket_id": ticket.json()["id"], "engineer_id": "api-only-1", "tier": 1})
            for response in (engineer, ticket, assigned):
                assert response.status_code == 201, response.text
                assert "X-Ledger-Consistency" not in response.headers
            row = client.get("/engineers/api-only-1").json()
            assert row["open_assignments"] == 1
            assert not services.read_side.leading
            assert services.audit.sealer is None  # checkpoints are the worker's
    finally:
        stop_background(jobs)
        worker.close()


def test_a_registration_the_read_side_has_not_projected_is_answered_from_its_events(
    database_url: str,
) -> None:
    """An API-only process with no worker running: the read side never projects the
    registration, so the wait for it times out; the engineer exists all the same and
    is answered as recorded (201, marked stale), never as a 404 that would make a
    client register it again."""
    with running_client(database_url, api_only=True, read_your_writes_timeout=0.3) as client:
        created = client.post("/engineers", headers=AUTH, json={
            "id": "unprojected-1", "name": "U", "skills": ["fibre"], "tier": 2,
            "capacity": 4, "availability": 0.5, "territories": ["north"],
            "certifications": [{"name": "splicing", "expires_on": "2027-01-31"}]})
        assert created.status_code == 201, created.text
        assert created.headers["X-Ledger-Consistency"] == "stale"
        body = created.json()
        assert {k: body[k] for k in ("id", "name", "skills", "tier", "capacity",
                                     "availability", "active", "open_assignments",
                                     "territories", "certifications")} == {
            "id": "unprojected-1", "name": "U", "skills": ["fibre"], "tier": 2,
            "capacity": 4, "availability": 0.5, "active": True, "open_assignments": 0,
            "territories": ["north"],
            "certifications": [{"name": "splicing", "expires_on": "2027-01-31"}]}
        assert body["created_at"] == body["updated_at"] and body["created_at"].endswith("Z")
        again = client.post("/engineers", headers=AUTH, json={
            "id": "unprojected-1", "name": "U", "skills": ["fibre"], "tier": 2,
            "capacity": 4, "availability": 0.5})
        assert again.status_code == 409, again.text
