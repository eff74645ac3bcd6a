"""End-to-end fixtures: the whole app (lifespan, projection runner, read tables)
through ``fastapi.testclient.TestClient``, on SQLite and on PostgreSQL.

``database_url`` gives every test a store of its own (for the ``client`` fixture's
tests, a copy of one that app's services were built on; see ``app_templates``),
and every engineer id and ticket id made here is random, so tests never clean up.

``api`` wraps the client with factories and assertions the tests share:

- ``api.engineer()``, ``api.ticket()``, ``api.assign()`` ... register, open and
  move things, asserting the success status, and return the JSON body;
- ``api.assignment_in(state)`` builds an assignment in any of the nine states;
- ``api.problem(response, status)`` asserts an RFC 9457 problem+json answer;
- ``with api.records_nothing():`` asserts that the global head (``GET /readyz``)
  and the global feed (``GET /events``) are unchanged by the block.
"""

from __future__ import annotations

import re
import shutil
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

with warnings.catch_warnings():
    # starlette nags about httpx vs httpx2 on import; it is not our concern here.
    warnings.filterwarnings("ignore", message=".*httpx.*", category=UserWarning)
    from fastapi.testclient import TestClient

from api.app import build_services, create_app
from api.settings import Settings

#: The principal every event recorded by the e2e client carries.
E2E_ACTOR = "e2e-tester"
#: The admin token (LEDGER_ADMIN_TOKEN) of every test app; its principal is ``actor``.
E2E_TOKEN = "e2e-admin-token-" + uuid4().hex
AUTH = {"Authorization": f"Bearer {E2E_TOKEN}"}

PROBLEM_TYPE = "application/problem+json"
ETAG = re.compile(r'^"(\d+)"$')


def e2e_settings(database_url: str, **overrides: Any) -> Settings:
    """Settings for a test app: only what the test says, never the developer's
    ``.env`` or ``LEDGER_*`` defaults for the things that change behaviour."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "actor": E2E_ACTOR,
        "admin_token": E2E_TOKEN,
        "demo_on_empty": False,
        "run_projections": True,
        "read_your_writes_timeout": 5.0,
        "min_position_timeout": 5.0,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@contextmanager
def running_client(database_url: str, **overrides: Any) -> Iterator[TestClient]:
    """A TestClient used as a context manager, so the app's lifespan runs."""
    app = create_app(e2e_settings(database_url, **overrides))
    test_client = TestClient(app, headers=AUTH)
    test_client.__enter__()
    try:
        yield test_client
    finally:
        test_client.__exit__(None, None, None)


def rand_engineer_id(prefix: str = "eng") -> str:
    return f"{prefix}-{uuid4().hex[:12]}"


def rand_ref(prefix: str = "REF") -> str:
    return f"{prefix}-{uuid4().hex[:10]}"


class Api:
    """The test client plus factories and shared assertions."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    # ------------------------------------------------------------ plumbing

    def get(self, path: str, **kw: Any) -> Any:
        return self.client.get(path, **kw)

    def post(self, path: str, **kw: Any) -> Any:
        return self.client.post(path, **kw)

    @staticmethod
    def ok(response: Any, status: int = 200) -> Any:
        assert response.status_code == status, (
            f"{response.request.method} {response.request.url} -> {response.status_code}, "
            f"expected {status}: {response.text}"
        )
        return response.json()

    @staticmethod
    def problem(response: Any, status: int | tuple[int, ...]) -> dict[str, Any]:
        """Asserts an RFC 9457 answer with the given status; returns its body."""
        statuses = (status,) if isinstance(status, int) else status
        assert response.status_code in statuses, (
            f"{response.request.method} {response.request.url} -> {response.status_code}, "
            f"expected {statuses}: {response.text}"
        )
        assert response.headers["content-type"].startswith(PROBLEM_TYPE), response.headers
        body = response.json()
        for field in ("type", "title", "status", "detail"):
            assert field in body, f"problem without {field!r}: {body}"
        assert body["status"] == response.status_code
        assert isinstance(body["type"], str) and body["type"]
        assert isinstance(body["title"], str) and body["title"]
        assert isinstance(body["detail"], str) and body["detail"]
        if response.status_code == 422 and body["type"].endswith("/validation"):
            Api.validation_errors(body)
        return body

    @staticmethod
    def validation_errors(body: dict[str, Any]) -> list[dict[str, Any]]:
        errors = body.get("errors")
        assert isinstance(errors, list) and errors, f"validation problem without errors: {body}"
        for error in errors:
            assert isinstance(error.get("loc"), list) and error["loc"], error
            assert isinstance(error.get("msg"), str) and error["msg"], error
        return errors

    @staticmethod
    def etag(response: Any) -> int:
        match = ETAG.match(response.headers.get("etag", ""))
        assert match, f"no ETag \"<version>\" header: {dict(response.headers)}"
        return int(match.group(1))

    @staticmethod
    def position(response: Any) -> int:
        value = response.headers.get("x-ledger-position", "")
        assert value.isdigit(), f"no X-Ledger-Position header: {dict(response.headers)}"
        # Read-your-writes: the response waited for the read tables, not timed out.
        assert "x-ledger-consistency" not in response.headers, dict(response.headers)
        return int(value)

    # ------------------------------------------------------------ ledger state

    def readyz(self) -> dict[str, Any]:
        return self.ok(self.get("/readyz"))

    def head(self) -> int:
        return self.readyz()["head"]

    def events(self, **params: Any) -> list[dict[str, Any]]:
        """The whole global feed (paged through with the cursor)."""
        items: list[dict[str, Any]] = []
        query: dict[str, Any] = {"limit": 1000, **params}
        while True:
            page = self.ok(self.get("/events", params=query))
            items.extend(page["items"])
            if page["next_cursor"] is None:
                return items
            query["cursor"] = page["next_cursor"]

    def paged(self, path: str, limit: int, **params: Any) -> list[list[dict[str, Any]]]:
        """Every page of a paged list, following ``next_cursor`` to the end."""
        pages = []
        query: dict[str, Any] = {"limit": limit, **params}
        for _ in range(10_000):
            page = self.ok(self.get(path, params=query))
            assert set(page) == {"items", "next_cursor"}
            pages.append(page["items"])
            if page["next_cursor"] is None:
                return pages
            assert isinstance(page["next_cursor"], str) and page["next_cursor"]
            query["cursor"] = page["next_cursor"]
        raise AssertionError(f"{path} paging did not end")

    @contextmanager
    def records_nothing(self) -> Iterator[None]:
        """Asserts that nothing is recorded while the block runs: the global head
        (the position of the last event in the store, from ``GET /readyz``) and the
        read side's position are unchanged, and the global feed has nothing after
        the old head."""
        before = self.readyz()
        yield
        after = self.readyz()
        assert after["head"] == before["head"], "an event was recorded"
        assert after["position"] == before["position"]
        feed = self.ok(self.get("/events", params={"after": before["head"]}))
        assert feed["items"] == [], "the global feed grew"

    # ------------------------------------------------------------ engineers

    def engineer(self, **fields: Any) -> dict[str, Any]:
        body = {
            "id": rand_engineer_id(),
            "name": "Engineer " + uuid4().hex[:6],
            "skills": ["mri"],
            "tier": 1,
            "capacity": 5,
            "availability": 1.0,
            **fields,
        }
        return self.ok(self.post("/engineers", json=body), 201)

    def engineers(self, n: int, **fields: Any) -> list[str]:
        return [self.engineer(**fields)["id"] for _ in range(n)]

    def engineer_row(self, engineer_id: str) -> dict[str, Any]:
        return self.ok(self.get(f"/engineers/{engineer_id}"))

    def deactivate(self, engineer_id: str) -> dict[str, Any]:
        return self.ok(self.client.patch(f"/engineers/{engineer_id}", json={"active": False}))

    # ------------------------------------------------------------ tickets

    def ticket(self, **fields: Any) -> dict[str, Any]:
        body = {"title": "Ticket " + uuid4().hex[:6], **fields}
        return self.ok(self.post("/tickets", json=body), 201)

    def ticket_row(self, ticket_id: str) -> dict[str, Any]:
        return self.ok(self.get(f"/tickets/{ticket_id}"))

    def close(self, ticket_id: str, reason: str | None = None) -> dict[str, Any]:
        body = {"reason": reason} if reason else None
        return self.ok(self.post(f"/tickets/{ticket_id}/close", json=body))

    def reopen(self, ticket_id: str, reason: str = "again") -> dict[str, Any]:
        return self.ok(self.post(f"/tickets/{ticket_id}/reopen", json={"reason": reason}))

    # ------------------------------------------------------------ assignments

    def assign(
        self, ticket_id: str, engineer_id: str, tier: int = 1, **fields: Any
    ) -> dict[str, Any]:
        body = {"ticket_id": ticket_id, "engineer_id": engineer_id, "tier": tier, **fields}
        return self.ok(self.post("/assignments", json=body), 201)

    def escalate(
        self, ticket_id: str, next_engineer_id: str, reason: str = "beyond this tier",
        **fields: Any,
    ) -> dict[str, Any]:
        body = {"ticket_id": ticket_id, "next_engineer_id": next_engineer_id,
                "reason": reason, **fields}
        return self.ok(self.post("/assignments/escalate", json=body), 201)

    def accept(self, assignment_id: str) -> dict[str, Any]:
        return self.ok(self.post(f"/assignments/{assignment_id}/accept"))

    def start(self, assignment_id: str) -> dict[str, Any]:
        return self.ok(self.post(f"/assignments/{assignment_id}/start"))

    def reject(self, assignment_id: str, reason: str = "busy") -> dict[str, Any]:
        return self.ok(self.post(f"/assignments/{assignment_id}/reject", json={"reason": reason}))

    def complete(
        self, assignment_id: str, completion_status: str = "success",
        time_spent_hours: float = 1.5, **fields: Any,
    ) -> dict[str, Any]:
        body = {"completion_status": completion_status,
                "time_spent_hours": time_spent_hours, **fields}
        return self.ok(self.post(f"/assignments/{assignment_id}/complete", json=body))

    def reassign(
        self, assignment_id: str, new_engineer_id: str, reason: str | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"new_engineer_id": new_engineer_id}
        if reason is not None:
            body["reason"] = reason
        return self.ok(self.client.put(f"/assignments/{assignment_id}/reassign", json=body))

    def remove(self, assignment_id: str, reason: str | None = None) -> dict[str, Any]:
        if reason is None:
            return self.ok(self.client.delete(f"/assignments/{assignment_id}"))
        return self.ok(
            self.client.request("DELETE", f"/assignments/{assignment_id}", json={"reason": reason})
        )

    def assignment_row(self, assignment_id: str) -> dict[str, Any]:
        return self.ok(self.get(f"/assignments/{assignment_id}"))

    def assigned(self, tier: int = 1, **ticket_fields: Any) -> tuple[str, str, dict[str, Any]]:
        """A fresh engineer and ticket, the ticket assigned to them:
        (ticket id, engineer id, assignment)."""
        engineer_id = self.engineer(tier=tier)["id"]
        ticket_id = self.ticket(**ticket_fields)["id"]
        return ticket_id, engineer_id, self.assign(ticket_id, engineer_id, tier=tier)

    def assignment_in(self, state: str) -> tuple[str, str]:
        """A fresh ticket with an assignment in ``state``: (ticket id, assignment id)."""
        ticket_id, _engineer, assignment = self.assigned()
        aid = assignment["id"]
        other = None
        if state in ("escalated", "reassigned"):
            other = self.engineer(tier=2)["id"]
        if state in ("accepted", "in_progress", "completed", "failed"):
            self.accept(aid)
        if state == "in_progress":
            self.start(aid)
        if state == "completed":
            self.complete(aid, "success")
        elif state == "failed":
            self.complete(aid, "failed")
        elif state == "rejected":
            self.reject(aid)
        elif state == "escalated":
            self.escalate(ticket_id, other)
        elif state == "reassigned":
            self.reassign(aid, other)
        elif state == "removed":
            self.remove(aid)
        assert self.assignment_row(aid)["status"] == state
        return ticket_id, aid


class AppTemplates:
    """Stores on which a test app's services (``build_services`` with
    ``e2e_settings``) were built once, to copy for the tests of the ``client``
    fixture: that app would build exactly the same schema and catalog on an empty
    store, which costs most of its start. One per backend and worker process,
    made on first use."""

    def __init__(self, directory: Path, postgres_url_factory: Callable[..., str]) -> None:
        self._directory = directory
        self._postgres_url_factory = postgres_url_factory
        self._sqlite: Path | None = None
        self._postgres: str | None = None

    @staticmethod
    def _build(database_url: str) -> None:
        # Closed before it is copied: PostgreSQL copies no database that anyone is
        # connected to, and a closed SQLite file has no write-ahead log beside it.
        build_services(e2e_settings(database_url)).close()

    def sqlite(self, path: Path) -> str:
        """A copy of the SQLite template at ``path``; its URL."""
        if self._sqlite is None:
            template = self._directory / "template.db"
            self._build(f"sqlite:///{template}")
            self._sqlite = template
        shutil.copyfile(self._sqlite, path)
        return f"sqlite:///{path}"

    def postgres(self) -> str:
        """A new database made from the PostgreSQL template; its URL."""
        if self._postgres is None:
            template = self._postgres_url_factory()
            self._build(template)
            self._postgres = template
        return self._postgres_url_factory(template=self._postgres)


@pytest.fixture(scope="session")
def app_templates(
    tmp_path_factory: pytest.TempPathFactory, postgres_url_factory: Callable[..., str]
) -> AppTemplates:
    return AppTemplates(tmp_path_factory.mktemp("app-templates"), postgres_url_factory)


@pytest.fixture
def database_url(
    request: pytest.FixtureRequest, backend: str, tmp_path: Path,
    postgres_url_factory: Callable[..., str], app_templates: AppTemplates,
) -> str:
    """A store for one test of its own (the root conftest's ``database_url``).
    When the test uses ``client`` (``api``), whose app is the first to touch
    the store, it is a copy of ``app_templates``' store, as the app would make
    it; for any other test it is empty."""
    if "client" not in request.fixturenames:
        if backend == "sqlite":
            return f"sqlite:///{tmp_path}/ledger.db"
        return postgres_url_factory()
    if backend == "sqlite":
        return app_templates.sqlite(tmp_path / "ledger.db")
    return app_templates.postgres()


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    """The app on a fresh store, lifespan running (projection runner started)."""
    with running_client(database_url) as test_client:
        yield test_client


@pytest.fixture
def api(client: TestClient) -> Api:
    return Api(client)


@pytest.fixture
def open_client(database_url: str) -> Any:
    """``with open_client(actor="alice") as c:`` -- another app on the test's store,
    with settings overrides. Use it instead of ``client``/``api`` (not beside
    them): two apps on one store would both run projections."""

    def factory(**overrides: Any) -> Any:
        return running_client(database_url, **overrides)

    return factory
