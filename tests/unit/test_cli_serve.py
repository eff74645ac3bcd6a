"""`ledger serve` options that are refused before anything starts."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from api.cli import app as cli


def test_several_workers_need_postgresql(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    result = CliRunner().invoke(
        cli, ["serve", "--workers", "2", "--database-url", f"sqlite:///{db}"]
    )
    assert result.exit_code == 2
    assert "needs PostgreSQL" in result.output
    assert not db.exists()  # nothing was created


def test_workers_must_be_positive() -> None:
    result = CliRunner().invoke(cli, ["serve", "--workers", "0"])
    assert result.exit_code == 2
