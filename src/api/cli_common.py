"""What the ``ledger`` command modules share: how a command group is made, the
``--database-url`` option, settings, the services, the actor of CLI commands.

The command modules (``api.cli_*``, ``api.legacy_cli``) import this one and never
``api.cli``, which imports them to assemble the app: no circle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from api.settings import Settings
from ledger.store import DEFAULT_DATABASE_URL

if TYPE_CHECKING:
    from api.app import Services

console = Console()

DatabaseURL = Annotated[
    str | None,
    typer.Option("--database-url", envvar="LEDGER_DATABASE_URL",
                 help="The ledger's database: sqlite:///FILE or postgresql://HOST/DB",
                 show_default=DEFAULT_DATABASE_URL),
]


def command_group(help_text: str, *, add_completion: bool = True) -> typer.Typer:
    """A Typer app or sub-app. Help is Markdown so that docstrings and option help
    are reflowed to the terminal: Rich markup mode keeps a docstring's line breaks
    in the commands list, breaking phrases in the middle at 80 columns."""
    return typer.Typer(help=help_text, no_args_is_help=True, rich_markup_mode="markdown",
                       add_completion=add_completion)


def redact(url: str) -> str:
    """A database URL without its password, for printing."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def settings_for(database_url: str | None, **overrides: object) -> Settings:
    """The settings (environment, ``.env``), with the options given on the command
    line (None: not given) in front."""
    values = {k: v for k, v in overrides.items() if v is not None}
    if database_url:
        values["database_url"] = database_url
    return Settings(**values)  # type: ignore[arg-type]


def open_services(settings: Settings) -> Services:
    """The ledger and its read side, as the server builds them; close them after."""
    from api.app import build_services

    return build_services(settings)


def cli_actor() -> str:
    """The actor recorded on events a CLI command causes: ``cli:`` and the OS user."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # noqa: BLE001 - no user name (some containers)
        return "cli"
