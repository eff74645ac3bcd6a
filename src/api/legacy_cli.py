"""``ledger import service-tickets|csv`` and ``ledger export service-tickets``.

Adopting the ledger from a legacy system (seed 002's ``service_tickets`` with inline
assignment columns, seed 004's CSV files) and rolling back to it. The mapping and
the recording live in ``ledger.legacy``, the rollback in
``projections.legacy_export``, the import's driver (shared with ``POST
/imports/csv``) in ``api.legacy_import``, the printed report in
``api.legacy_report``.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from functools import partial
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from api.cli_common import (
    DatabaseURL,
    cli_actor,
    command_group,
    console,
    open_services,
    redact,
    settings_for,
)
from api.legacy_report import finish

import_app = command_group("Import tickets and engineers from a legacy system.")

LegacyTable = Annotated[str, typer.Option("--table", help="The legacy table: name or schema.name.")]
Strict = Annotated[bool, typer.Option("--strict", help="Exit 1 on any bad row or a MISMATCH.")]


def _progress() -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console)


def _bar_progress(bar: Progress) -> Callable[[str, int], Callable[[], None]]:
    """``api.legacy_import``'s progress as tasks of a Rich bar."""
    def start(description: str, total: int) -> Callable[[], None]:
        return partial(bar.advance, bar.add_task(description, total=total))
    return start


# ---------------------------------------------------------------- service_tickets


@import_app.command("service-tickets")
def import_service_tickets(
    source: Annotated[str, typer.Option("--from", help="The legacy PostgreSQL database URL.")],
    table: LegacyTable = "service_tickets",
    database_url: DatabaseURL = None,
    strict: Strict = False,
) -> None:
    """Backfill a legacy service_tickets table (seed 002). Safe to run again.

    Per ticket: opened, assignment 1 at its tier from the inline assignment columns,
    and what its status implies, with the original times and via=import."""
    import psycopg

    from api.legacy_import import ImportReport, record_row
    from ledger.legacy.mapping import plan_service_ticket
    from ledger.legacy.source import read_service_tickets

    try:
        total, columns, rows = read_service_tickets(source, table)
    except LookupError as e:
        console.print(f"[red]{escape(str(e))}[/]")
        raise typer.Exit(2) from None
    except psycopg.Error as e:
        console.print(f"[red]Cannot read {escape(redact(source))}: {escape(str(e))}[/]")
        raise typer.Exit(2) from None
    absent = [c for c in ("created_at", "assignment_tier", "assigned_at") if c not in columns]
    if absent:
        console.print(f"[yellow]The source has no {', '.join(absent)} column(s); "
                      "they are taken as empty.[/]")
    services = open_services(settings_for(database_url))
    actor = cli_actor()
    report = ImportReport()
    seen: set[str] = set()
    try:
        with _progress() as bar:
            task = bar.add_task(f"import {table}", total=total)
            for row in rows:
                has_assignee = bool(str(row.get("assigned_engineer_id") or "").strip())
                report.legacy_assignees += has_assignee
                record_row(services, report, f"id {row.get('id')}",
                            lambda r=row: plan_service_ticket(r), actor, seen,
                            has_assignee=has_assignee)
                bar.advance(task)
        finish(f"Import of {table}", services, report, strict)
    finally:
        services.close()


# ---------------------------------------------------------------- CSV (seed 004)


@import_app.command("csv")
def import_csv(
    tickets: Annotated[Path, typer.Option("--tickets", exists=True, dir_okay=False,
                       help="tickets CSV: id, title, description, story_points, "
                            "required_skill, priority, due_date, status, assigned_to")],
    engineers: Annotated[Path | None, typer.Option("--engineers", exists=True, dir_okay=False,
                         help="developers CSV: name, title, experience_years, "
                              "current_workload, availability, skills, capacity")] = None,
    database_url: DatabaseURL = None,
    strict: Strict = False,
) -> None:
    """Import seed 004's CSV files of tickets and developers. Safe to run again.

    Developers become engineers (updated when the file changed); tickets are opened
    and assigned as their status says, all with via=import. POST /imports/csv does
    the same over HTTP."""
    from api.legacy_import import CsvFile, CsvFileError
    from api.legacy_import import import_csv as run_import

    services = open_services(settings_for(database_url))
    try:
        with ExitStack() as files, _progress() as bar:
            def text(path: Path) -> CsvFile:
                return CsvFile(path.name, files.enter_context(
                    path.open(newline="", encoding="utf-8-sig")))

            try:
                report = run_import(services, text(tickets),
                                    text(engineers) if engineers else None,
                                    cli_actor(), _bar_progress(bar))
            except CsvFileError as e:
                console.print(f"[red]{escape(str(e))}[/]")
                raise typer.Exit(2) from None
        finish(f"Import of {tickets.name}", services, report, strict)
    finally:
        services.close()


# ---------------------------------------------------------------- rollback


def export_service_tickets(
    target: Annotated[str, typer.Option("--to", help="The legacy PostgreSQL database URL.")],
    table: LegacyTable = "service_tickets",
    database_url: DatabaseURL = None,
    follow: Annotated[bool, typer.Option(
        "--follow", help="Keep the table current as commands happen, until SIGINT or "
                         "SIGTERM. Resumes from the position kept in the legacy database "
                         "(table ledger_export_positions).")] = False,
    poll: Annotated[float, typer.Option(
        "--poll", min=0.05, max=60.0,
        help="With --follow: seconds between looks at the ledger when no notification "
             "comes (a SQLite ledger has none).")] = 0.2,
) -> None:
    """Roll back to a legacy service_tickets table (seed 002's down migration).

    Writes each ticket's current assignment into the legacy inline columns,
    upserting by legacy id (imported tickets keep theirs; others get their ledger
    id). Creates the table when absent. With --follow, keeps it current."""
    import psycopg

    from projections.legacy_export import legacy_rows, write_legacy_rows

    if follow:
        _follow(target, table, database_url, poll)
        return
    services = open_services(settings_for(database_url))
    try:
        services.read_side.catch_up()
        total = services.store.select("SELECT count(*) AS n FROM tickets")[0]["n"]
        try:
            conn = psycopg.connect(target)
        except psycopg.Error as e:
            console.print(f"[red]Cannot connect to {escape(redact(target))}: {escape(str(e))}[/]")
            raise typer.Exit(2) from None
        with conn, _progress() as bar:
            task = bar.add_task(f"export {table}", total=int(total))
            try:
                counts = write_legacy_rows(conn, table, legacy_rows(services.queries),
                                           lambda: bar.advance(task))
            except LookupError as e:
                console.print(f"[red]{escape(str(e))}[/]")
                raise typer.Exit(2) from None
    finally:
        services.close()
    console.print(f"Exported {int(total)} tickets to {table} at {redact(target)}: "
                  f"{counts['inserted']} inserted, {counts['updated']} updated.",
                  highlight=False)


def _follow(target: str, table: str, database_url: str | None, poll: float) -> None:
    """``--follow``: a ``LegacyFollower`` until SIGINT or SIGTERM (exit 0, every
    committed step's position kept). Passive: it waits for the read tables that
    ``ledger serve`` projects, and projects them itself only when no one does."""
    import signal
    import threading

    import psycopg

    from projections.legacy_follow import LegacyFollower, Step, listen

    stop, wake = threading.Event(), threading.Event()

    def on_signal(_signum: int, _frame: object) -> None:
        stop.set()
        wake.set()

    settings = settings_for(database_url).model_copy(update={"run_projections": False})
    services = open_services(settings)
    follower = LegacyFollower(services.ledger, services.read_side, services.queries,
                              lambda: psycopg.connect(target, autocommit=True), table)
    try:
        try:
            position = follower.setup()
        except (psycopg.Error, LookupError) as e:
            console.print(f"[red]Cannot export to {escape(redact(target))}: {escape(str(e))}[/]")
            raise typer.Exit(2) from None
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, on_signal)
        start = "the beginning (every ticket)" if position is None else f"position {position}"
        console.print(f"Following the ledger into {table} at {redact(target)} from {start}; "
                      "SIGINT or SIGTERM stops.", highlight=False)
        channel = getattr(services.ledger.recorder, "channel_name", None)
        if channel is not None:  # a PostgreSQL ledger notifies every insert
            listen(services.ledger.store.conninfo(), channel, wake, stop)

        reached = [position]

        def report(step: Step) -> None:
            reached.append(step.position)
            console.print(f"position {step.position}: {step.tickets} tickets written",
                          highlight=False)

        follower.run(stop, wake, poll, report)
    finally:
        follower.close()
        services.close()
    console.print(f"Stopped at position {reached[-1]}, kept in the legacy database.",
                  highlight=False)
