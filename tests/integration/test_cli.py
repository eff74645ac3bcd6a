"""What the CLI prints, in an 80-column terminal, on SQLite and PostgreSQL:
``projections status``, ``keys list``, a rebuild of an unknown projection, and
``demo``'s closing hint, run as printed."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path
from uuid import UUID

import pytest
from typer.testing import CliRunner

from api.cli import app as cli
from api.cli_projections import status_table
from ledger.application import Ledger
from projections.registry import ALL_PROJECTIONS

#: The longest name a key may have (ledger.keys.PRINCIPAL_NAME).
LONG_NAME = "a-dispatcher-with-a-name-as-long-as-a-key-name-may-be-0123456789"


@pytest.fixture
def run(database_url: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("LEDGER_DATABASE_URL", database_url)
    monkeypatch.delenv("LEDGER_ADMIN_TOKEN", raising=False)
    runner = CliRunner()

    def invoke(*args: str, code: int = 0) -> str:
        result = runner.invoke(cli, list(args), env={"COLUMNS": "80"}, catch_exceptions=False)
        assert result.exit_code == code, result.output
        return result.output

    return invoke


def fits_80(out: str) -> None:
    assert max(len(line) for line in out.splitlines()) <= 80, out
    assert "…" not in out, out


def test_projections_status_fits_80_columns(run, database_url: str) -> None:
    ledger = Ledger(database_url)
    try:
        ledger.register_engineer(engineer_id="e1", name="E", actor="t")
    finally:
        ledger.close()
    out = run("projections", "status")
    fits_80(out)
    assert "head: position 1" in out
    versions = {cls.name: cls.version for cls in ALL_PROJECTIONS}
    for name in ("current_ticket_assignments", "engineer_assignments", "tickets", "api_keys"):
        assert re.search(rf"^\s*{name}\s+{versions[name]}\s+1\s+1\s+catching up\s*$", out,
                         re.MULTILINE), out
    run("keys", "list")  # catches the read side up
    out = run("projections", "status")
    assert re.search(rf"^\s*engineers\s+{versions['engineers']}\s+1\s+0\s+live\s*$", out,
                     re.MULTILINE), out


def test_a_build_in_progress_fits_80_columns() -> None:
    from rich.console import Console

    console = Console(width=80, record=True)
    console.print(status_table([
        {"name": "current_ticket_assignments", "version": 12, "generation": 345,
         "state": "building", "position": 1_234_567, "head": 98_765_432, "lag": 97_530_865,
         "status": "building", "progress": 0.0125, "eta_seconds": 86_399.0},
        {"name": "assignment_intervals", "version": 3, "generation": 7, "state": "live",
         "position": 98_765_432, "head": 98_765_432, "lag": 0, "status": "stale_version"},
    ]))
    out = console.export_text()
    fits_80(out)
    assert "98,765,432" in out and "97,530,865" in out
    assert "1.2%" in out and "23:59:59 left" in out
    assert "stale version" in out


def test_keys_list_fits_80_columns(run) -> None:
    run("keys", "create", "--name", "alice", "--role", "dispatcher")
    run("keys", "create", "--name", LONG_NAME, "--role", "dispatcher")
    run("keys", "revoke", "alice", "--reason", "left")
    out = run("keys", "list")
    fits_80(out)
    ids = re.findall(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", out)
    assert len(ids) == 2 and all(UUID(i) for i in ids)  # whole, to copy into keys revoke
    first_column = "".join(line[:40].strip() for line in out.splitlines())
    assert LONG_NAME in first_column  # folded, not cut
    alice = out[out.index("alice"):out.index(ids[0]) + 200]
    assert "by cli" in alice and "active" not in alice.split("\n")[0]
    assert "active" in out  # the long-named key


def test_rebuild_of_an_unknown_projection_says_so_without_a_progress_bar(run) -> None:
    out = run("projections", "rebuild", "bogus", code=2)
    assert "Unknown projection: bogus" in out
    assert "tickets" in out  # the known ones are listed
    assert "events" not in out and "rebuild" not in out, out  # no bar was drawn


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.timeout(120)
def test_demo_hint_runs_as_printed(tmp_path: Path) -> None:
    """The lines ``ledger demo`` ends with, pasted into a shell: they create a key,
    serve this ledger and read its tickets."""
    program = Path(sys.executable).with_name("ledger")
    if not program.exists():
        pytest.skip("the ledger console script is not installed beside this Python")
    env = {**os.environ, "LEDGER_PORT": str(_free_port()), "COLUMNS": "200"}
    env.pop("LEDGER_DATABASE_URL", None)
    env.pop("LEDGER_ADMIN_TOKEN", None)
    db = f"sqlite:///{tmp_path}/demo.db"
    demo = subprocess.run([str(program), "demo", "--tickets", "3", "--database-url", db],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
                          check=True)
    hint = [line[2:] for line in demo.stdout.splitlines() if line.startswith("  ")]
    assert any("keys create" in line for line in hint), demo.stdout
    shown = subprocess.run(["bash", "-c", "\n".join(hint)], cwd=tmp_path, env=env, check=False,
                           capture_output=True, text=True, timeout=90)
    assert shown.returncode == 0, shown.stderr
    assert '"items":' in shown.stdout and "DEMO-00001" in shown.stdout, shown
