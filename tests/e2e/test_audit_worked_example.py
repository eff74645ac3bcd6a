"""docs/audit.md's worked example, run as written: export, checkpoints, and the
standalone verifier with the public key alone; then a tampered export."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from api.cli import app
from ledger.signing import load_or_create

SCRIPT = Path(__file__).resolve().parents[2] / "docs" / "audit_verify.py"


def _ledger(*args: str) -> None:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output


def _audit_verify(*args: Path | str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)],
                          capture_output=True, text=True, timeout=60, check=False)


def test_the_worked_example(database_url: str, tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    key_file = tmp_path / "signing-key.pem"
    monkeypatch.setenv("LEDGER_SIGNING_KEY", str(key_file))
    monkeypatch.setenv("LEDGER_DATABASE_URL", database_url)
    monkeypatch.chdir(tmp_path)
    _ledger("demo", "--tickets", "12")
    _ledger("seal")
    _ledger("export", "events", "--format", "ndjson", "--output", "events.ndjson")
    _ledger("checkpoints", "--output", "checkpoints.json")
    public_key_hex = load_or_create(key_file).public_raw.hex()  # published out of band

    intact = _audit_verify("events.ndjson", "checkpoints.json", public_key_hex)
    assert intact.returncode == 0, intact.stdout + intact.stderr
    assert "INTACT" in intact.stdout
    lines = (tmp_path / "events.ndjson").read_text().splitlines()
    assert f"{len(lines)} events" in intact.stdout

    # An exported event altered after the fact is named by ticket, version and position.
    victim = json.loads(lines[len(lines) // 2])
    victim["state"]["actor"] = "mallory"
    lines[len(lines) // 2] = json.dumps(victim)
    (tmp_path / "tampered.ndjson").write_text("\n".join(lines) + "\n")
    broken = _audit_verify("tampered.ndjson", "checkpoints.json", public_key_hex)
    assert broken.returncode == 1
    where = f"{victim['originator_id']} v{victim['originator_version']} @{victim['position']}"
    assert f"{where}: content does not match its hash" in broken.stdout
    assert "running hash differs" in broken.stdout

    # Checkpoints checked against another key fail their signatures.
    other = load_or_create(tmp_path / "other.pem").public_raw.hex()
    forged = _audit_verify("events.ndjson", "checkpoints.json", other)
    assert forged.returncode == 1 and "signature not valid" in forged.stdout
