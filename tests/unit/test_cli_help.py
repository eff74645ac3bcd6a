"""``ledger ... --help`` reads well: nothing cut or wider than an 80-column
terminal, phrases broken only where the terminal ends, and every option whose
value is not given says what applies. The command modules do not import
``api.cli`` (it imports them)."""

from __future__ import annotations

import ast
import inspect
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
import typer
from typer.testing import CliRunner

from api.cli import app

#: Options that are off or absent unless given, with nothing to apply instead.
NOTHING_APPLIES = {
    ("keys revoke", "reason"),  # no reason recorded
    ("import csv", "engineers"),  # no developers file: assignees must be registered
}


def commands(
    group: click.Group | None = None, path: str = ""
) -> Iterator[tuple[str, click.Command]]:
    group = group or typer.main.get_command(app)
    for name, command in group.commands.items():
        where = f"{path} {name}".strip()
        yield where, command
        if isinstance(command, click.Group):
            yield from commands(command, where)


ALL = [pytest.param(where, command, id=where or "ledger")
       for where, command in [("", typer.main.get_command(app)), *commands()]]


def help_of(where: str, columns: int) -> str:
    result = CliRunner().invoke(app, [*where.split(), "--help"], env={"COLUMNS": str(columns)})
    assert result.exit_code == 0, result.output
    return result.output


def words(text: str) -> str:
    return " ".join(text.replace("`", "").split())


@pytest.mark.parametrize(("where", "command"), ALL)
def test_help_fits_80_columns_and_nothing_is_cut(where: str, command: click.Command) -> None:
    out = help_of(where, 80)
    assert max(len(line) for line in out.splitlines()) <= 80, out
    assert "…" not in out, out


@pytest.mark.parametrize(("where", "command"), ALL)
def test_help_breaks_lines_only_where_the_terminal_ends(
    where: str, command: click.Command
) -> None:
    """On a wide terminal every paragraph of a command's help, and the summary of
    each command in a group's list, stands on one line: a line break kept from a
    docstring would split it."""
    wide = [words(line.strip(" │")) for line in help_of(where, 250).splitlines()]
    for paragraph in inspect.cleandoc(command.help or "").split("\n\n"):
        assert words(paragraph) in wide, (paragraph, wide)
    for sub in getattr(command, "commands", {}).values():
        summary = inspect.cleandoc(sub.help or "").split("\n\n")[0]
        assert any(line.endswith(words(summary)) for line in wide), (summary, wide)


@pytest.mark.parametrize(("where", "command"), ALL)
def test_every_option_says_its_default(where: str, command: click.Command) -> None:
    for param in command.params:
        if param.required or param.name == "help" or (where, param.name) in NOTHING_APPLIES:
            continue
        if isinstance(param, click.Option) and param.is_flag and not param.secondary_opts:
            continue  # a switch: off unless given
        shown = isinstance(param.show_default, str) or param.default is not None
        assert shown, f"ledger {where} {param.name}: no default shown"
    if any(isinstance(p, click.Option) and p.name == "database_url" for p in command.params):
        assert "[default: (sqlite:///ledger.db)]" in help_of(where, 120)


def test_command_modules_do_not_import_the_app() -> None:
    """``api.cli`` imports the command modules; they must not import it back."""
    api = Path(__file__).parents[2] / "src" / "api"
    for module in [*api.glob("cli_*.py"), api / "legacy_cli.py", api / "legacy_report.py"]:
        imported: set[str] = set()
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported |= {node.module, *(f"{node.module}.{a.name}" for a in node.names)}
        assert "api.cli" not in imported, module.name
