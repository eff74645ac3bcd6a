"""``ledger``: serve the API, look after projections, seed a demo."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from api.settings import Settings

app = typer.Typer(help="An event-sourced ledger of service-ticket assignments.",
                  no_args_is_help=True, add_completion=False)
projections_app = typer.Typer(help="Inspect and rebuild the read tables.", no_args_is_help=True)
app.add_typer(projections_app, name="projections")
keys_app = typer.Typer(help="Manage API keys (bearer tokens for the REST API).",
                       no_args_is_help=True)
app.add_typer(keys_app, name="keys")
export_app = typer.Typer(help="Export events (for auditors) or tickets (back to a legacy system).",
                         no_args_is_help=True)
app.add_typer(export_app, name="export")
console = Console()

DatabaseURL = Annotated[
    str | None,
    typer.Option("--database-url", envvar="LEDGER_DATABASE_URL",
                 help="sqlite:///file.db or postgresql://user:pass@host:port/db"),
]


def redact(url: str) -> str:
    """A database URL without its password, for printing."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def _settings(database_url: str | None, **overrides: object) -> Settings:
    values = {k: v for k, v in overrides.items() if v is not None}
    if database_url:
        values["database_url"] = database_url
    return Settings(**values)  # type: ignore[arg-type]


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    database_url: DatabaseURL = None,
    demo: Annotated[bool | None, typer.Option("--demo/--no-demo",
                    help="Seed demo data when the ledger is empty.")] = None,
    workers: Annotated[int, typer.Option(
        min=1, max=64,
        help="Worker processes (PostgreSQL only). Each writes the read rows of its own "
             "commands; one also runs the projections.")] = 1,
    access_log: Annotated[bool, typer.Option(
        "--access-log/--no-access-log",
        help="Log one line per request: method, path, status, duration, principal.")] = True,
) -> None:
    """Serve the REST API (docs at /docs)."""
    import uvicorn

    from api.app import create_app

    settings = _settings(database_url, host=host, port=port, demo_on_empty=demo,
                         bootstrap_admin_key=True)
    if workers > 1 and not settings.database_url.startswith("postgres"):
        console.print("[red]--workers above 1 needs PostgreSQL[/] (SQLite serves one process).")
        raise typer.Exit(2)
    base = f"http://{settings.host}:{settings.port}"
    console.print(
        f"[bold]Assignment ledger[/] on [cyan]{base}[/] "
        f"(docs: /docs) — store: {redact(settings.database_url)}"
        + (f", {workers} workers" if workers > 1 else "")
    )
    console.print(token_hint(settings), highlight=False, soft_wrap=True)
    log_config = logging_config(access_log)

    def announce(token: str) -> None:
        console.print(
            "\n[bold green]First start: created an admin API key.[/] Its token is shown "
            "[bold]only this once[/]:\n\n"
            f"  export TOKEN={token}\n"
            f'  curl -H "Authorization: Bearer $TOKEN" {base}/tickets\n\n'
            "Create keys for people and services with "
            "[cyan]ledger keys create --name NAME --role ROLE[/]; "
            "list and revoke them with [cyan]ledger keys list[/] / [cyan]ledger keys revoke[/].\n",
            highlight=False, soft_wrap=True,
        )

    if workers > 1:
        _serve_workers(settings, workers, announce, log_config)
        return

    from api.routers.feed import stop_streams

    web = create_app(settings, announce_admin_token=announce)
    server = uvicorn.Server(uvicorn.Config(
        web, host=settings.host, port=settings.port, log_level="info", access_log=False,
        log_config=log_config, timeout_graceful_shutdown=10))
    handle_exit = server.handle_exit

    def shutting_down(sig: int, frame: object) -> None:
        stop_streams(web)  # open /events/stream responses end now, not in 10 s
        handle_exit(sig, frame)  # type: ignore[arg-type]

    server.handle_exit = shutting_down  # type: ignore[method-assign]
    server.run()


def token_hint(settings: Settings) -> str:
    """How to get a token for this ledger, said at every start of ``serve``."""
    from ledger.store import DEFAULT_DATABASE_URL

    where = ""
    if settings.database_url != DEFAULT_DATABASE_URL:
        where = f" --database-url {redact(settings.database_url)}"
    hint = (
        f"Tokens: `ledger keys create --name NAME --role ROLE{where}` prints a new one "
        "(ROLE: dispatcher, engineer, auditor or admin); send it as "
        "`Authorization: Bearer <token>`."
    )
    if settings.admin_token:
        hint += " LEDGER_ADMIN_TOKEN is set: it is an admin token too."
    return hint


def logging_config(access_log: bool) -> dict[str, object]:
    """uvicorn's logging configuration, plus the access log of ``api.observe``
    (logger ``ledger.access``, on stdout; WARNING silences it)."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["handlers"]["ledger.access"] = {
        "formatter": "default", "class": "logging.StreamHandler", "stream": "ext://sys.stdout",
    }
    config["loggers"]["ledger.access"] = {
        "handlers": ["ledger.access"], "level": "INFO" if access_log else "WARNING",
        "propagate": False,
    }
    return config


def _serve_workers(
    settings: Settings, workers: int, announce: Callable[[str], None],
    log_config: dict[str, object],
) -> None:
    """uvicorn's worker processes, each building its own app from the
    environment. What must happen once (the read side's tables, a first
    catch-up, the demo, the first admin key) happens here first: workers
    starting together on a new store would race for it."""
    import uvicorn

    from api.app import build_services, first_start

    services = build_services(settings)
    try:
        services.read_side.catch_up()
        first_start(services, announce)
    finally:
        services.close()
    os.environ["LEDGER_DATABASE_URL"] = settings.database_url
    os.environ["LEDGER_DEMO_ON_EMPTY"] = "false"
    os.environ["LEDGER_BOOTSTRAP_ADMIN_KEY"] = "false"
    uvicorn.run("api.app:create_app", factory=True, host=settings.host, port=settings.port,
                workers=workers, log_level="info", access_log=False, log_config=log_config,
                timeout_graceful_shutdown=10)


def _read_side(settings: Settings):  # noqa: ANN202 - local helper
    from api.app import build_services

    return build_services(settings)


@projections_app.command("status")
def projections_status(database_url: DatabaseURL = None) -> None:
    """Each projection's version, position, head and lag."""
    services = _read_side(_settings(database_url))
    try:
        table = Table(title="Projections")
        columns = ("name", "version", "generation", "state", "position", "head", "lag",
                   "status", "progress", "eta")
        for column in columns:
            table.add_column(column, no_wrap=column == "name")
        for s in services.read_side.status():
            progress = f"{s['progress']:.1%}" if "progress" in s else ""
            eta = f"{s['eta_seconds']:.0f} s" if s.get("eta_seconds") is not None else ""
            table.add_row(*(str(s[c]) for c in columns[:8]), progress, eta)
        console.print(table)
    finally:
        services.close()


@projections_app.command("rebuild")
def projections_rebuild(
    name: Annotated[str | None, typer.Argument(help="One projection; all when omitted.")] = None,
    keep: Annotated[bool, typer.Option(help="Keep the old tables after the switch.")] = False,
    database_url: DatabaseURL = None,
    page_size: Annotated[int | None, typer.Option(help="Events per page.")] = None,
    workers: Annotated[int | None, typer.Option(
        min=1, max=16,
        help="Processes rebuilding projection groups side by side "
             "(default: 2 on PostgreSQL, 1 on SQLite).")] = None,
) -> None:
    """Rebuild beside the live tables, then switch atomically (zero downtime).
    An interrupted rebuild resumes where it stopped."""
    from projections.parallel import rebuild_in_processes

    settings = _settings(database_url, page_size=page_size)
    services = _read_side(settings)
    if workers is None:
        workers = 2 if services.ledger.store.is_postgres else 1
    stopping = {"flag": False}

    def _interrupt(*_args: object) -> None:
        stopping["flag"] = True

    signal.signal(signal.SIGINT, _interrupt)
    try:
        with Progress(TextColumn("[bold]rebuild[/] {task.description}"), BarColumn(),
                      TextColumn("{task.completed:,.0f}/{task.total:,.0f} events"),
                      TimeElapsedColumn(), TimeRemainingColumn(), console=console) as bar:
            task = bar.add_task(name or "all", total=max(services.ledger.head(), 1))

            def progress(position: int, head: int) -> None:
                bar.update(task, completed=position, total=max(head, 1))

            names = [name] if name else list(services.read_side.projections)
            unknown = [n for n in names if n not in services.read_side.projections]
            if unknown:
                console.print(f"[red]Unknown projection: {', '.join(unknown)}[/] "
                              f"(known: {', '.join(services.read_side.projections)})")
                raise typer.Exit(2)
            if workers > 1 and len(names) > 1:
                rebuild_in_processes(
                    settings.database_url, names, workers=workers, keep=keep,
                    page_size=settings.page_size, progress=progress,
                    should_stop=lambda: stopping["flag"],
                )
            else:
                services.read_side.rebuild(
                    names, keep=keep, progress=progress, should_stop=lambda: stopping["flag"]
                )
        if stopping["flag"]:
            console.print("[yellow]Interrupted; run the same command again to resume.[/]")
            raise typer.Exit(130)
        for entry in services.read_side.live_entries():
            if entry.name in names:
                console.print(
                    f"[green]live[/] {entry.name} v{entry.version} (build {entry.generation})"
                )
    finally:
        services.close()


@app.command()
def demo(
    tickets: Annotated[int, typer.Option(min=1, max=100_000, help="How many tickets.")] = 25,
    database_url: DatabaseURL = None,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same stories).")] = 7,
) -> None:
    """Seed realistic engineers and ticket stories through the application."""
    from api.demo import seed_demo

    services = _read_side(_settings(database_url))
    try:
        with Progress(console=console) as bar:
            task = bar.add_task("demo tickets", total=tickets)
            head = seed_demo(services.ledger, tickets=tickets, seed=seed,
                             progress=lambda n: bar.update(task, completed=n))
        services.read_side.catch_up()
        console.print(f"Recorded up to position {head}. Try: curl localhost:8000/tickets")
    finally:
        services.close()


# ---------------------------------------------------------------- keys


def _cli_actor() -> str:
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no user name (some containers)
        return "cli"


def _key_rows(services) -> list[dict[str, object]]:  # noqa: ANN001 - Services
    from projections.folds import ApiKeysProjection

    services.read_side.catch_up()
    return services.store.rows(
        ApiKeysProjection.table,
        "SELECT id, name, role, revoked, created_by, created_at, revoked_at, revoked_by "
        "FROM api_keys ORDER BY created_position",
    )


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="The principal: recorded as the actor of every "
                                           "event; an engineer's key is named after their id.")],
    role: Annotated[str, typer.Option(help="admin | dispatcher | engineer | auditor")],
    database_url: DatabaseURL = None,
) -> None:
    """Create a key and print its token (once: only its hash is stored)."""
    from ledger.keys import check_principal

    try:
        check_principal(name, role)
    except ValueError as e:
        console.print(f"[red]{e}[/]")
        raise typer.Exit(2) from None
    services = _read_side(_settings(database_url))
    try:
        result, token = services.ledger.create_api_key(name=name, role=role, actor=_cli_actor())
        services.read_side.catch_up()
    finally:
        services.close()
    console.print(f"Created key [bold]{result.aggregate_id}[/] for {name!r} ({role}). "
                  "Its token, shown only this once:", highlight=False)
    print(token)  # plain stdout: easy to capture in scripts


@keys_app.command("list")
def keys_list(database_url: DatabaseURL = None) -> None:
    """Every key ever created (tokens are never shown: they are not stored)."""
    services = _read_side(_settings(database_url))
    try:
        rows = _key_rows(services)
    finally:
        services.close()
    table = Table(title="API keys")
    for column in ("id", "name", "role", "status", "created", "by", "revoked"):
        table.add_column(column, no_wrap=column in ("id", "name"))
    for r in rows:
        table.add_row(
            str(r["id"]), str(r["name"]), str(r["role"]),
            "[red]revoked[/]" if r["revoked"] else "[green]active[/]",
            str(r["created_at"]), str(r["created_by"] or ""),
            f"{r['revoked_at']} by {r['revoked_by']}" if r["revoked"] else "",
        )
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(
    key: Annotated[str, typer.Argument(help="A key id, or a name (revokes all its active keys).")],
    reason: Annotated[str | None, typer.Option(help="Recorded on the Revoked event.")] = None,
    database_url: DatabaseURL = None,
) -> None:
    """Revoke a key: it stops working within LEDGER_AUTH_CACHE_SECONDS (default 5 s)."""
    from uuid import UUID

    from ledger.errors import ApiKeyNotFoundError
    from ledger.keys import KeyRevokedError

    services = _read_side(_settings(database_url))
    try:
        try:
            ids = [UUID(key)]
        except ValueError:
            ids = [UUID(str(r["id"])) for r in _key_rows(services)
                   if r["name"] == key and not r["revoked"]]
            if not ids:
                console.print(f"[red]No active key named {key!r}.[/]")
                raise typer.Exit(1) from None
        for key_id in ids:
            try:
                services.ledger.revoke_api_key(key_id, reason=reason, actor=_cli_actor())
            except (ApiKeyNotFoundError, KeyRevokedError) as e:
                console.print(f"[red]{e.detail}[/]")
                raise typer.Exit(1) from None
            console.print(f"Revoked key [bold]{key_id}[/].")
        services.read_side.catch_up()
    finally:
        services.close()


# ---------------------------------------------------------------- export


@export_app.command("events")
def export_events(
    format: Annotated[str, typer.Option(  # noqa: A002 - the option's name
        "--format", help="ndjson (one JSON object per line) or csv.")] = "ndjson",
    output: Annotated[str | None, typer.Option(
        "--output", "-o", help="Write to this file (default: stdout).")] = None,
    from_position: Annotated[int, typer.Option(
        "--from", min=1, help="First position (inclusive).")] = 1,
    to: Annotated[int | None, typer.Option(
        "--to", min=0, help="Last position (inclusive); default: the head now.")] = None,
    database_url: DatabaseURL = None,
) -> None:
    """Every event in position order, as the REST export writes it (the stored
    state byte for byte), read straight from the event store in constant memory."""
    import sys

    from ledger.application import Ledger
    from projections.feed import EventFilter, EventLog
    from projections.store import build_store

    if format not in ("ndjson", "csv"):
        console.print(f"[red]--format must be ndjson or csv, not {format!r}.[/]")
        raise typer.Exit(2)
    settings = _settings(database_url)
    ledger = Ledger(settings.database_url, pool_size=1)
    store = build_store(ledger.store, pool_size=1)
    try:
        head = ledger.head()
        last = head if to is None else min(to, head)
        f = EventFilter(after=from_position - 1, to=last)
        log = EventLog(store, ledger.recorder.events_table_name, ledger.mapper)
        chunks = log.ndjson(f) if format == "ndjson" else log.csv(f)
        if output is None:
            for chunk in chunks:
                sys.stdout.buffer.write(chunk)
            sys.stdout.flush()
            return
        total = max(last - from_position + 1, 0)
        err = Console(stderr=True)
        written = 0
        with open(output, "wb") as out, Progress(
            TextColumn("[bold]export[/]"), BarColumn(),
            TextColumn("{task.completed:,.0f}/{task.total:,.0f} events"),
            TimeElapsedColumn(), TimeRemainingColumn(), console=err,
        ) as bar:
            task = bar.add_task("events", total=max(total, 1))
            for chunk in chunks:
                out.write(chunk)
                written += chunk.count(b"\n")
                bar.update(task, completed=min(written, total))
            bar.update(task, completed=total)
        err.print(f"Wrote positions {from_position}..{last} to {output}.", highlight=False)
    finally:
        store.close()
        ledger.close()


from api import cli_audit  # noqa: E402 - registers verify/seal on the app

cli_audit.register(app)


def main() -> None:
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    app()


# ---------------------------------------------------------------- legacy import / rollback

from api.legacy_cli import export_service_tickets, import_app  # noqa: E402

app.add_typer(import_app, name="import")
export_app.command("service-tickets")(export_service_tickets)
