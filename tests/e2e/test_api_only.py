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
