"""The seed 002 TypeScript client, unmodified, against a live server.

``ts_client/assignments.ts`` is the seed's ``admin-ui/src/lib/api/assignments.ts``
byte for byte; ``client.ts`` provides the ``apiClient`` it imports (fetch-based);
``run.ts`` drives every method of ``assignmentsApi`` through the L1 -> L2 -> L3
escalation and prints a JSON summary. The test compiles them with TypeScript 5
(``npm install --no-save typescript@5`` when it is not there yet), starts
``uvicorn`` on a free port with a fresh SQLite store, seeds engineers and a ticket
over HTTP, runs the script with node and checks what it saw.

Without node/npm (or when TypeScript cannot be installed) the test is skipped,
except with ``CI=true``, where that is a failure.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import httpx
import pytest
from uvicorn_live import serving

TS_DIR = Path(__file__).parent / "ts_client"
#: LEDGER_ADMIN_TOKEN of the live server; client.ts sends it from LEDGER_API_TOKEN.
TS_TOKEN = "ts-client-admin-token"
SEED_002 = Path("/work/shared/seeds/002_b667b48db725724d.txt")
SEED_CLIENT_PATH = "admin-ui/src/lib/api/assignments.ts"
#: sha256 of the seed's code block, to notice any edit of the copy.
ASSIGNMENTS_TS_SHA256 = "cd5ffb67e8de1754ce49126494c5ee8966ca7932ab919286fb1a994f9039bcf3"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (required when CI=true)", pytrace=False)
    pytest.skip(reason)


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        _unavailable(f"{name} is not on PATH: cannot run the seed 002 TypeScript client")
    return path  # type: ignore[return-value]


@pytest.fixture(scope="session")
def compiled_client(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The TypeScript client compiled to JavaScript in a temporary directory."""
    node = _tool("node")
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=False)
    match = re.match(r"v(\d+)", version.stdout.strip())
    if not match or int(match.group(1)) < 18:
        _unavailable(f"node >= 18 is needed for global fetch, found {version.stdout.strip()!r}")
    tsc = TS_DIR / "node_modules" / "typescript" / "bin" / "tsc"
    if not tsc.exists():
        npm = _tool("npm")
        try:
            install = subprocess.run(
                [npm, "install", "--no-save", "--no-audit", "--no-fund", "typescript@5"],
                cwd=TS_DIR, capture_output=True, text=True, timeout=300, check=False,
            )
        except subprocess.TimeoutExpired:
            _unavailable("npm install typescript@5 timed out")
        if install.returncode != 0 or not tsc.exists():
            _unavailable(f"npm install typescript@5 failed: {install.stderr[-2000:]}")
    out = tmp_path_factory.mktemp("ts-client-dist")
    build = subprocess.run(
        [node, str(tsc), "-p", str(TS_DIR / "tsconfig.json"), "--outDir", str(out)],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert build.returncode == 0, f"tsc failed:\n{build.stdout}\n{build.stderr}"
    assert (out / "run.js").exists() and (out / "assignments.js").exists()
    return out


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[str]:
    """uvicorn serving create_app() on a free port with a fresh SQLite store."""
    with serving(f"sqlite:///{tmp_path}/ledger.db", tmp_path, LEDGER_ACTOR="ts-client",
                 LEDGER_ADMIN_TOKEN=TS_TOKEN) as (base, _token):
        yield base


def test_seed_002_typescript_client_against_a_live_server(compiled_client, live_server):
    http = httpx.Client(base_url=live_server, timeout=10,
                        headers={"Authorization": f"Bearer {TS_TOKEN}"})
    engineers = {}
    for tier in (1, 2, 3):
        eid = f"ts-l{tier}-{uuid4().hex[:6]}"
        response = http.post("/engineers", json={"id": eid, "name": f"L{tier}", "tier": tier})
        assert response.status_code == 201, response.text
        engineers[tier] = eid
    response = http.post("/tickets", json={"title": "Seed 002 via TypeScript",
                                           "priority": "high"})
    assert response.status_code == 201, response.text
    ticket_id = response.json()["id"]

    env = {**os.environ, "LEDGER_API_URL": live_server, "LEDGER_API_TOKEN": TS_TOKEN,
           "TICKET_ID": ticket_id,
           "ENGINEER_L1": engineers[1], "ENGINEER_L2": engineers[2],
           "ENGINEER_L3": engineers[3]}
    run = subprocess.run(
        [shutil.which("node") or "node", str(compiled_client / "run.js")],
        capture_output=True, text=True, timeout=120, env=env, check=False,
    )
    assert run.returncode == 0, f"run.js failed:\n{run.stdout}\n{run.stderr}"
    summary = json.loads(run.stdout.strip().splitlines()[-1])

    assert summary["ticket_id"] == ticket_id
    assert summary["current_before_assign"] == 404
    assigned = summary["assigned"]
    assert (assigned["engineer_id"], assigned["assignment_sequence"],
            assigned["assignment_tier"], assigned["status"]) == (engineers[1], 1, 1, "assigned")
    assert assigned["assignment_tier_name"] == "L1 - Field"
    assert assigned["equipment_id"] == "EQ-MRI-0042"
    assert assigned["assignment_reason"] == "Initial"
    after_accept = summary["current_after_accept"]
    assert (after_accept["engineer_id"], after_accept["status"]) == (engineers[1], "accepted")
    l2, l3 = summary["escalated_to_l2"], summary["escalated_to_l3"]
    assert (l2["engineer_id"], l2["assignment_sequence"], l2["assignment_tier"],
            l2["assignment_tier_name"], l2["status"]) == (
        engineers[2], 2, 2, "L2 - Dealer", "assigned")
    assert (l3["engineer_id"], l3["assignment_sequence"], l3["assignment_tier"],
            l3["assignment_tier_name"], l3["status"]) == (
        engineers[3], 3, 3, "L3 - OEM", "assigned")
    current = summary["current_before_complete"]
    assert (current["ticket_id"], current["engineer_id"], current["assignment_sequence"],
            current["assignment_tier"], current["status"]) == (
        ticket_id, engineers[3], 3, 3, "assigned")
    before = summary["history_before_complete"]
    assert [a["assignment_sequence"] for a in before] == [1, 2, 3]
    assert [a["status"] for a in before] == ["escalated", "escalated", "assigned"]
    assert summary["complete_result"] is None, "completeAssignment resolves to void"
    after = summary["history_after_complete"]
    assert [a["id"] for a in after] == [assigned["id"], l2["id"], l3["id"]]
    assert [a["assignment_tier"] for a in after] == [1, 2, 3]
    assert [a["status"] for a in after] == ["escalated", "escalated", "completed"]
    assert [a["completion_status"] for a in after] == ["escalated", "escalated", "success"]
    assert [a["escalation_reason"] for a in after] == [
        "Needs dealer diagnostics", "Needs OEM specialist", None]
    assert all(a["completed_at"] for a in after)
    assert after[2]["time_spent_hours"] == 2.5
    assert summary["current_after_complete"] == 404
    assert summary["accept_completed_assignment"] == 409

    # The server agrees.
    ticket = http.get(f"/tickets/{ticket_id}").json()
    assert ticket["status"] == "resolved"
    history = http.get(f"/tickets/{ticket_id}/history").json()
    assert [h["action"] for h in history] == [
        "created", "accepted", "escalated", "created", "escalated", "created", "accepted",
        "completed"]
    assert {h["changed_by"] for h in history} == {"ts-client"}
    http.close()
