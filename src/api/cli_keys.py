"""``ledger keys create|list|revoke``: API keys, the bearer tokens of the REST API."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from api.cli_common import (
    DatabaseURL,
    cli_actor,
    command_group,
    console,
    open_services,
    settings_for,
)
from ledger.keys import ROLES

if TYPE_CHECKING:
    from api.app import Services

keys_app = command_group("Manage API keys (bearer tokens for the REST API).")


def _key_rows(services: Services) -> list[dict[str, Any]]:
    from projections.api_keys import ApiKeysProjection

    services.read_side.catch_up()
    return services.store.rows(
        ApiKeysProjection.table,
        "SELECT id, name, role, revoked, created_by, created_at, revoked_at, revoked_by "
        "FROM api_keys ORDER BY created_position",
    )


def _when_by(at: Any, by: Any) -> str:
    """``2026-12-07 08:40`` and, on the next line, who: a cell that wraps well."""
    moment = at if isinstance(at, datetime) else datetime.fromisoformat(
        str(at).replace("Z", "+00:00"))
    return f"{moment:%Y-%m-%d %H:%M}\nby {escape(str(by or '?'))}"


def keys_table(rows: list[dict[str, Any]]) -> Table:
    """The keys, narrow enough for 80 columns: each key's id under its name (the id
    is whole, to copy into ``ledger keys revoke``), a revoked key's time and
    revoker where an active key shows ``active``."""
    table = Table(title="API keys", box=box.SIMPLE_HEAD)
    table.add_column("name / id", overflow="fold", width=36)
    table.add_column("role")
    table.add_column("created", overflow="fold")
    table.add_column("revoked", overflow="fold")
    for r in rows:
        table.add_row(
            f"{escape(str(r['name']))}\n[dim]{r['id']}[/]",
            str(r["role"]),
            _when_by(r["created_at"], r["created_by"]),
            f"[red]{_when_by(r['revoked_at'], r['revoked_by'])}[/]" if r["revoked"]
            else "[green]active[/]",
        )
    return table


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="The principal: recorded as the actor of every "
                                           "event; an engineer's key is named after their id.")],
    role: Annotated[str, typer.Option(help=" | ".join(ROLES))],
    database_url: DatabaseURL = None,
) -> None:
    """Create a key and print its token (once: only its hash is stored).

    The token is the last line of the output, alone, to capture in a script:
    `TOKEN=$(ledger keys create --name NAME --role ROLE | tail -n 1)`."""
    from ledger.keys import check_principal

    try:
        check_principal(name, role)
    except ValueError as e:
        console.print(f"[red]{escape(str(e))}[/]")
        raise typer.Exit(2) from None
    services = open_services(settings_for(database_url))
    try:
        result, token = services.ledger.create_api_key(
            name=name, role=role, actor=cli_actor()).result()
        services.read_side.catch_up()
    finally:
        services.close()
    console.print(f"Created key [bold]{result.aggregate_id}[/] for {name!r} ({role}). "
                  "Its token, shown only this once:", highlight=False)
    print(token)  # plain stdout: easy to capture in scripts


@keys_app.command("list")
def keys_list(database_url: DatabaseURL = None) -> None:
    """Every key ever created (tokens are never shown: they are not stored)."""
    services = open_services(settings_for(database_url))
    try:
        rows = _key_rows(services)
    finally:
        services.close()
    console.print(keys_table(rows))


@keys_app.command("revoke")
def keys_revoke(
    key: Annotated[str, typer.Argument(help="A key id, or a name (revokes all its active keys).")],
    reason: Annotated[str | None, typer.Option(help="Recorded on the Revoked event.")] = None,
    database_url: DatabaseURL = None,
) -> None:
    """Revoke a key.

    It stops working within LEDGER_AUTH_CACHE_SECONDS (default 5 s)."""
    from uuid import UUID

    from ledger.errors import ApiKeyNotFoundError
    from ledger.keys import KeyRevokedError

    services = open_services(settings_for(database_url))
    try:
        try:
            ids = [UUID(key)]
        except ValueError:
            ids = [UUID(str(r["id"])) for r in _key_rows(services)
                   if r["name"] == key and not r["revoked"]]
            if not ids:
                console.print(f"[red]No active key named {escape(repr(key))}.[/]")
                raise typer.Exit(1) from None
        for key_id in ids:
            try:
                services.ledger.revoke_api_key(key_id, reason=reason, actor=cli_actor()).result()
            except (ApiKeyNotFoundError, KeyRevokedError) as e:
                console.print(f"[red]{escape(e.detail)}[/]")
                raise typer.Exit(1) from None
            console.print(f"Revoked key [bold]{key_id}[/].")
        services.read_side.catch_up()
    finally:
        services.close()
