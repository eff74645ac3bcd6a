"""Hostile input: schemathesis generates requests for every operation in
``/openapi.json`` (valid and invalid bodies, parameters and headers) and sends
them, with an admin token, to the whole app (lifespan, projection runner,
middlewares) on SQLite. No answer may be a 5xx, and every 4xx is
``application/problem+json``. At least 5,000 cases in all (checked by the last
test of this module).
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from api.app import create_app
from api.settings import Settings

#: One pytest-xdist worker runs the whole module: the last test counts the cases
#: the others sent, in this process.
pytestmark = pytest.mark.xdist_group("schemathesis")

TOKEN = "fuzz-admin-token-" + uuid4().hex
PROBLEM_TYPE = "application/problem+json"

#: Generated cases per operation (about 65 operations, plus unexpected methods);
#: schemathesis adds its coverage cases (boundaries, wrong types, unexpected
#: methods) to these, about 6,500 cases in all. Generating them is most of the
#: module's time, so it sends what ``MIN_CASES`` asks with a margin, not more.
EXAMPLES_PER_OPERATION = 45
MIN_CASES = 5000
#: Cases sent, and the operations they covered.
SENT: dict[str, int] = {}


def fuzz_app() -> Any:
    """The app on a fresh SQLite file (made here: schemathesis needs the schema
    when the module is collected; the app's lifespan starts with the first case)."""
    # On tmpfs when there is one: thousands of small commits, each an fsync on disk.
    shm = Path("/dev/shm")
    where = str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None
    directory = tempfile.mkdtemp(prefix="ledger-fuzz-", dir=where)
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    return create_app(Settings(  # type: ignore[call-arg]
        _env_file=None, database_url=f"sqlite:///{directory}/ledger.db", actor="fuzzer",
        admin_token=TOKEN, demo_on_empty=False, run_projections=True,
        # Generated min_position values are mostly out of reach: don't wait long.
        read_your_writes_timeout=1.0, min_position_timeout=0.05,
    ))


#: Server-Sent Events never end by design; their parameters are covered by
#: tests/e2e/test_api_feed.py (bad Last-Event-ID, filters), not fuzzed here.
ENDLESS = "/events/stream"

schema = schemathesis.openapi.from_asgi("/openapi.json", fuzz_app()).exclude(path=ENDLESS)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True, database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_5xx_and_every_error_is_problem_json(case: Any) -> None:
    headers = dict(case.headers or {})
    headers.setdefault("Authorization", f"Bearer {TOKEN}")
    response = case.call(headers=headers)
    key = f"{case.method} {case.path}"
    SENT[key] = SENT.get(key, 0) + 1
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path} -> {response.status_code}: "
        f"{response.text[:500]}\n{case.as_curl_command()}"
    )
    if response.status_code >= 400:
        content_type = (response.headers.get("content-type") or [""])[0]
        assert content_type.startswith(PROBLEM_TYPE), (
            f"{case.method} {case.formatted_path} -> {response.status_code} "
            f"as {content_type!r}: {response.text[:300]}\n{case.as_curl_command()}"
        )
        body = response.json()
        assert body["status"] == response.status_code and body["title"] and body["type"]


def test_enough_cases_were_generated() -> None:
    if not SENT:
        pytest.skip("the fuzz test did not run in this session")
    total = sum(SENT.values())
    print(f"schemathesis: {total} cases over {len(SENT)} method+path pairs")
    assert total >= MIN_CASES, f"only {total} cases over {len(SENT)} method+path pairs"
