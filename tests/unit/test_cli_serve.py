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


def test_the_token_hint_names_the_store_without_its_password() -> None:
    from api.cli import token_hint
    from api.settings import Settings

    default = token_hint(Settings(_env_file=None))  # type: ignore[call-arg]
    assert "`ledger keys create --name NAME --role ROLE`" in default
    assert "LEDGER_ADMIN_TOKEN" not in default
    elsewhere = token_hint(Settings(  # type: ignore[call-arg]
        _env_file=None, database_url="postgresql://ledger:secret@db:5432/ledger",
        admin_token="t" * 32))
    assert "--database-url postgresql://ledger:***@db:5432/ledger`" in elsewhere
    assert "secret" not in elsewhere
    assert "LEDGER_ADMIN_TOKEN is set" in elsewhere


def test_no_access_log_leaves_the_access_logger_at_warning() -> None:
    from api.cli import logging_config

    assert logging_config(True)["loggers"]["ledger.access"]["level"] == "INFO"
    assert logging_config(False)["loggers"]["ledger.access"]["level"] == "WARNING"
