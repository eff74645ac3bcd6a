"""Browser tests of the console, their fixtures and helpers: Playwright driving Debian's Chromium
(``/usr/bin/chromium``) against a real ``ledger serve`` on a free 127.0.0.1 port,
on SQLite and on PostgreSQL. One server per module and backend; one browser per
module.

Without ``/usr/bin/chromium`` these tests are skipped with the reason, except
with ``CI=true``, where that is a failure (``.ci/run`` installs the package).

Every browser context made here refuses (and records) any request that would
leave 127.0.0.1, and records every console error and uncaught page error; a
test fails at teardown if there was any.

Test modules import the fixtures from here: a ``conftest.py`` in this folder
would shadow ``tests/e2e/conftest.py``, which the e2e tests import by name.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from uuid import uuid4

import httpx
import pytest

# The e2e tests' live-server helpers (free port, stopping a server).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
from uvicorn_live import free_port, stop_process  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run"]
#: The principals of the keys every server is given (name -> role); engineer
#: keys are named after engineer ids.
KEYS = {"dispatch-1": "dispatcher", "audit-1": "auditor", "eng-l1": "engineer",
        "eng-l2": "engineer"}


def _chromium_or_skip() -> str:
    if os.path.exists(CHROMIUM):
        return CHROMIUM
    reason = (f"Chromium not found at {CHROMIUM}: install Debian's `chromium` package "
              "(`apt-get install -y chromium`; .ci/run does).")
    if os.environ.get("CI") == "true":
        pytest.fail(f"browser tests are required in CI: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One browser per module, stopped when the module ends: while Playwright's
    sync API is running, its event loop counts as running in the main thread,
    and a later test's ``asyncio.run`` would fail."""
    executable = _chromium_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=executable, args=LAUNCH_ARGS)
        yield launched
        launched.close()


# ---------------------------------------------------------------- the server


@dataclass
class Server:
    """A running ``ledger serve``: its base URL and the tokens of its keys."""

    base: str
    admin_token: str
    tokens: dict[str, str]
    log: Path

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=self.base, timeout=10,
                            headers={"Authorization": f"Bearer {self.admin_token}"})


def _make_keys(database_url: str) -> dict[str, str]:
    """The keys of ``KEYS``, made in the store before the server starts (as
    ``ledger keys create`` would)."""
    from ledger.application import Ledger

    ledger = Ledger(database_url)
    try:
        return {name: ledger.create_api_key(name=name, role=role, actor="browser-tests")
                .result()[1] for name, role in KEYS.items()}
    finally:
        ledger.close()


def _serve(database_url: str, workdir: Path) -> Iterator[Server]:
    admin_token = "browser-admin-" + uuid4().hex
    tokens = _make_keys(database_url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    env.update({
        "LEDGER_DATABASE_URL": database_url, "LEDGER_ADMIN_TOKEN": admin_token,
        "LEDGER_ACTOR": "browser-admin", "LEDGER_DEMO_ON_EMPTY": "false",
        "LEDGER_SIGNING_KEY": str(workdir / "signing-key.pem"),
    })
    ledger_cli = str(Path(sys.executable).with_name("ledger"))
    log = workdir / "serve.log"
    for _attempt in range(3):
        port = free_port()
        with log.open("a") as out:
            process = subprocess.Popen(
                [ledger_cli, "serve", "--host", "127.0.0.1", "--port", str(port), "--no-demo"],
                cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT,
            )
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        else:
            stop_process(process)
            continue
        break
    else:
        raise AssertionError(f"ledger serve did not start:\n{log.read_text()[-4000:]}")
    try:
        yield Server(base, admin_token, tokens, log)
    finally:
        stop_process(process)


@pytest.fixture(
    scope="module",
    params=[pytest.param("sqlite", id="sqlite"),
            pytest.param("postgres", id="postgres", marks=pytest.mark.postgres)],
)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
           postgres_url_factory: Callable[[], str]) -> Iterator[Server]:
    """A real ``ledger serve`` for the module, on a fresh store of each backend."""
    _chromium_or_skip()
    workdir = tmp_path_factory.mktemp(f"serve-{request.param}")
    if request.param == "sqlite":
        url = f"sqlite:///{workdir}/ledger.db"
    else:
        if not os.environ.get("LEDGER_TEST_POSTGRES_URL"):
            if os.environ.get("CI") == "true":
                pytest.fail("PostgreSQL is required in CI: LEDGER_TEST_POSTGRES_URL is not set",
                            pytrace=False)
            pytest.skip("PostgreSQL not available: LEDGER_TEST_POSTGRES_URL is not set")
        url = postgres_url_factory()
    yield from _serve(url, workdir)


# ---------------------------------------------------------------- browser contexts


@dataclass
class Watch:
    """What a context's pages did that they must not: requests to another host,
    console errors, uncaught errors."""

    outside: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@pytest.fixture
def open_context(browser: Any, server: Server) -> Iterator[Callable[..., Any]]:
    """``open_context(width=1280)``: a fresh browser context (no cookies) whose
    pages may only talk to the server; checked when the test ends."""
    made: list[tuple[Any, Watch]] = []

    def make(width: int = 1280, height: int = 900) -> Any:
        context = browser.new_context(viewport={"width": width, "height": height},
                                      base_url=server.base)
        context.set_default_timeout(10_000)
        watch = Watch()

        def guard(route: Any) -> None:
            host = urlsplit(route.request.url).hostname
            if host == "127.0.0.1":
                route.continue_()
            else:
                watch.outside.append(route.request.url)
                route.abort()

        context.route("**/*", guard)

        def on_page(page: Any) -> None:
            page.on("console", lambda m: watch.errors.append(f"{page.url}: {m.text}")
                    if m.type == "error" else None)
            page.on("pageerror", lambda e: watch.errors.append(f"{page.url}: {e}"))

        context.on("page", on_page)
        made.append((context, watch))
        return context

    yield make
    problems = []
    for context, watch in made:
        context.close()
        problems += [f"request to another host: {u}" for u in watch.outside]
        problems += [f"browser console error: {e}" for e in watch.errors]
    assert not problems, "\n".join(problems)


def sign_in(context: Any, token: str, path: str = "/console/") -> Any:
    """A new page of ``context``, signed in by typing the token and clicking."""
    page = context.new_page()
    page.goto(path)
    page.get_by_label("Token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    return page


def shot(page: Any, name: str) -> None:
    """Saves a screenshot into LEDGER_CONSOLE_SCREENSHOTS (docs/images), if set."""
    folder = os.environ.get("LEDGER_CONSOLE_SCREENSHOTS")
    if folder:
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)
