"""``ledger``: the command-line app. It assembles the command groups of the
``api.cli_*`` modules and ``api.legacy_cli`` and holds ``serve`` and ``demo``."""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable
from typing import Annotated

import typer
from rich.progress import Progress

from api import cli_audit, cli_export, cli_keys, cli_projections, legacy_cli
from api.cli_common import DatabaseURL, command_group, console, open_services, redact
from api.cli_common import settings_for as _settings
from api.settings import Settings

app = command_group("An event-sourced ledger of service-ticket assignments.",
                    add_completion=False)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(
        help="Interface to bind.", show_default="LEDGER_HOST or 127.0.0.1")] = None,
    port: Annotated[int | None, typer.Option(
        help="Port to listen on.", show_default="LEDGER_PORT or 8000")] = None,
    database_url: DatabaseURL = None,
    demo: Annotated[bool | None, typer.Option(
        "--demo/--no-demo", help="Seed demo data when the ledger is empty.",
        show_default="LEDGER_DEMO_ON_EMPTY or no")] = None,
    workers: Annotated[int, typer.Option(
        min=1, max=64,
        help="Worker processes (PostgreSQL only). Each writes the read rows of its own "
             "commands; one also runs the projections.")] = 1,
    no_access_log: Annotated[bool, typer.Option(
        "--no-access-log",
        help="Silence the access log (one line per request: method, path, status, "
             "duration, principal).")] = False,
    api_only: Annotated[bool, typer.Option(
        "--api-only",
        help="Serve HTTP only: no background work here (projections, checkpoints, ...); "
             "run `ledger worker` beside it (PostgreSQL; docs/deploy.md).")] = False,
) -> None:
    """Serve the REST API (docs at /docs) and, unless --api-only, the background work."""
    import uvicorn

    from api.app import create_app

    settings = _settings(database_url, host=host, port=port, demo_on_empty=demo,
                         bootstrap_admin_key=True, api_only=api_only or None)
    if workers > 1 and not settings.database_url.startswith("postgres"):
        console.print("[red]--workers above 1 needs PostgreSQL[/] (SQLite serves one process).")
        raise typer.Exit(2)
    base = f"http://{settings.host}:{settings.port}"
    console.print(
        f"[bold]Assignment ledger[/] on [cyan]{base}[/] "
        f"(docs: /docs) — store: {redact(settings.database_url)}"
        + (f", {workers} workers" if workers > 1 else "")
        + (", API only (background work: `ledger worker`)" if settings.api_only else "")
    )
    console.print(token_hint(settings), highlight=False, soft_wrap=True)
    log_config = logging_config(not no_access_log)

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

    from api.serving import EndStreamsOnExit

    web = EndStreamsOnExit(create_app(settings, announce_admin_token=announce))
    uvicorn.run(web, host=settings.host, port=settings.port, log_level="info",
                access_log=False, log_config=log_config, timeout_graceful_shutdown=10)


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
        if not settings.api_only:
            services.read_side.catch_up()
        first_start(services, announce)
    finally:
        services.close()
    os.environ["LEDGER_DATABASE_URL"] = settings.database_url
    os.environ["LEDGER_API_ONLY"] = "true" if settings.api_only else "false"
    os.environ["LEDGER_DEMO_ON_EMPTY"] = "false"
    os.environ["LEDGER_BOOTSTRAP_ADMIN_KEY"] = "false"
    uvicorn.run("api.serving:create_serving_app", factory=True, host=settings.host, port=settings.port,
                workers=workers, log_level="info", access_log=False, log_config=log_config,
                timeout_graceful_shutdown=10)


@app.command()
def worker(database_url: DatabaseURL = None) -> None:
    """Run the background work only (no HTTP).

    The projection runner, checkpoint sealing and every other background job. Each
    job runs in one process at a time (a lock per job): start two or more workers
    and another takes over within seconds when one dies. Stops on SIGTERM or Ctrl-C."""
    import signal
    import threading

    from api.app import build_services, start_background, stop_background

    settings = _settings(database_url, api_only=False)
    console.print(f"[bold]Assignment ledger worker[/] — store: {redact(settings.database_url)}")
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    services = build_services(settings)
    try:
        jobs = start_background(services)
        console.print("Running the background jobs (those this process leads; it stands by "
                      "for the others).", highlight=False)
        try:
            while not stopping.wait(0.5):
                pass
        finally:
            stop_background(jobs)
    finally:
        services.close()
    console.print("Worker stopped.")


@app.command()
def demo(
    tickets: Annotated[int, typer.Option(min=1, max=100_000, help="How many tickets.")] = 25,
    database_url: DatabaseURL = None,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same stories).")] = 7,
) -> None:
    """Seed realistic engineers and ticket stories through the application."""
    from api.demo import seed_demo

    settings = _settings(database_url)
    services = open_services(settings)
    try:
        with Progress(console=console) as bar:
            task = bar.add_task("demo tickets", total=tickets)
            head = seed_demo(services.ledger, tickets=tickets, seed=seed,
                             progress=lambda n: bar.update(task, completed=n))
        services.read_side.catch_up()
    finally:
        services.close()
    console.print(f"Recorded up to position {head}. To see it over HTTP, run:\n\n"
                  + try_it(settings, database_url), highlight=False, markup=False,
                  soft_wrap=True)


def try_it(settings: Settings, database_url: str | None) -> str:
    """Shell lines that read this ledger over HTTP with a key of its own, to run as
    printed: this program as it was called, the database given on the command line
    (else the environment's, which applies to these lines too), and curl retrying
    while the server starts."""
    import sys
    from pathlib import Path

    called = sys.argv[0]
    program = called if Path(called).name == "ledger" else "ledger"
    store = ["--database-url", database_url] if database_url else []

    def ledger(*args: str) -> str:
        return shlex.join([program, *args, *store])

    create = ledger("keys", "create", "--name", "demo-user", "--role", "dispatcher")
    url = f"http://{settings.host}:{settings.port}/tickets"
    return "\n".join([
        f"  TOKEN=$({create} | tail -n 1)",
        f"  {ledger('serve')} &",
        f'  curl -s --retry 10 --retry-connrefused -H "Authorization: Bearer $TOKEN" {url}',
        "  kill %1",
        "",
    ])


def main() -> None:
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    app()


cli_audit.register(app)
app.add_typer(cli_projections.projections_app, name="projections")
app.add_typer(cli_keys.keys_app, name="keys")
app.add_typer(cli_export.export_app, name="export")
cli_export.export_app.command("service-tickets")(legacy_cli.export_service_tickets)
app.add_typer(legacy_cli.import_app, name="import")
