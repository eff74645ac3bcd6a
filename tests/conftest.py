"""Shared fixtures: every storage test runs on SQLite and on PostgreSQL.

PostgreSQL comes from ``LEDGER_TEST_POSTGRES_URL`` (``make test`` starts a
throwaway server and sets it). Each test gets its own fresh database, so tests
never clean up after themselves and never see each other's events (an empty
one; the e2e tests of the ``client`` fixture get a copy of a template, see
tests/e2e/conftest.py).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit, urlunsplit
from uuid import uuid4

import pytest

from ledger.application import Ledger

POSTGRES_URL_ENV = "LEDGER_TEST_POSTGRES_URL"


def pytest_configure(config: pytest.Config) -> None:
    """Apps built by tests sign checkpoints with a throwaway key, never one in the
    working directory (the default beside a PostgreSQL-backed server)."""
    if not os.environ.get("LEDGER_SIGNING_KEY"):
        import tempfile

        os.environ["LEDGER_SIGNING_KEY"] = os.path.join(
            tempfile.mkdtemp(prefix="ledger-test-key-"), "signing-key.pem"
        )


#: Tests that take many seconds each (a real process, a SIGKILLed rebuild) and
#: are not marked ``slow``: scheduled first with the slow ones.
LONG_TESTS = (
    "tests/integration/test_rebuild_sigkill.py::test_sigkill",
    "tests/e2e/test_command_path.py::test_every_2xx_command_survives_a_sigkill",
    "tests/e2e/test_command_path.py::test_two_workers_every_2xx_command_survives",
)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Scheduling for pytest-xdist (`--dist loadgroup`, which hands out groups
    first, then single tests in this order). Each browser module runs whole on
    one worker: its Chromium and its two servers are module fixtures, started
    once there instead of on every worker that gets one of its tests. The long
    tests come first, so that none of them starts last while the other
    workers run out of work."""
    for item in items:
        if item.path.parent.name == "browser":
            item.add_marker(pytest.mark.xdist_group(f"browser-{item.path.stem}"))
    items.sort(key=lambda item: not (
        item.get_closest_marker("slow") is not None or item.nodeid.startswith(LONG_TESTS)))


def _postgres_server_url() -> str:
    """The server URL, or fail (in CI) / skip (elsewhere) when there is none."""
    url = os.environ.get(POSTGRES_URL_ENV, "")
    if url:
        return url
    if os.environ.get("CI") == "true":
        pytest.fail(
            f"PostgreSQL is required in CI but {POSTGRES_URL_ENV} is not set; "
            "run the suite through `make test`, which starts a throwaway server.",
            pytrace=False,
        )
    pytest.skip(f"PostgreSQL not available: {POSTGRES_URL_ENV} is not set (use `make test`)")


#: Set by `make test` when LEDGER_TEST_POSTGRES_URL is its own throwaway server.
THROWAWAY_ENV = "LEDGER_TEST_POSTGRES_THROWAWAY"


@pytest.fixture(scope="session")
def postgres_url_factory() -> Iterator[Callable[..., str]]:
    """Makes a fresh, uniquely named database on the test server; returns its URL.
    Every database made is dropped at the end of the session (best effort), unless
    the server is `make test`'s throwaway, deleted whole afterwards."""
    created: list[str] = []
    server_url = os.environ.get(POSTGRES_URL_ENV, "")

    def make(template: str | None = None) -> str:
        """``template``: the URL of a database to copy (no one may be connected
        to it); by default the new database is empty."""
        import psycopg
        from psycopg import sql

        url = server_url or _postgres_server_url()
        name = f"ledger_test_{uuid4().hex}"
        create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template is not None:
            source = urlsplit(template).path.lstrip("/")
            create = sql.SQL("{} TEMPLATE {}").format(create, sql.Identifier(source))
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(create)
        created.append(name)
        return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))

    yield make

    # `make test`'s throwaway server is deleted whole right after the session,
    # which is far quicker than dropping its hundreds of databases one by one.
    if created and server_url and os.environ.get(THROWAWAY_ENV) != "1":
        import psycopg
        from psycopg import sql

        try:
            with psycopg.connect(server_url, autocommit=True) as conn:
                for name in created:
                    conn.execute(
                        sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                            sql.Identifier(name)
                        )
                    )
        except psycopg.Error:
            pass  # a throwaway server is deleted whole anyway


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgres":
        _postgres_server_url()
    return request.param


@pytest.fixture
def database_url(
    backend: str, tmp_path, postgres_url_factory: Callable[..., str]
) -> str:
    """A fresh, empty store for one test."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path}/ledger.db"
    return postgres_url_factory()


@pytest.fixture
def ledger(database_url: str) -> Iterator[Ledger]:
    app = Ledger(database_url)
    yield app
    app.close()

