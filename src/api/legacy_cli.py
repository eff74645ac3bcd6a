"""``ledger import service-tickets|csv`` and ``ledger export service-tickets``.

Adopting the ledger from a legacy system (seed 002's ``service_tickets`` with inline
assignment columns, seed 004's CSV files) and rolling back to it. The mapping and
the recording live in ``ledger.legacy``, the rollback in
``projections.legacy_export``, the report in ``api.legacy_report``; this module
reads the CSV files and drives the rest, row by row.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

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
from api.legacy_report import ImportReport, finish

if TYPE_CHECKING:
    from api.app import Services

import_app = command_group("Import tickets and engineers from a legacy system.")

LegacyTable = Annotated[str, typer.Option("--table", help="The legacy table: name or schema.name.")]
Strict = Annotated[bool, typer.Option("--strict", help="Exit 1 on any bad row or a MISMATCH.")]


def _progress() -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console)


def _record_row(services: Services, report: ImportReport, where: str, make_plan: Callable[[], Any],
                actor: str, seen_engineers: set[str], *, has_assignee: bool) -> None:
    """Plans and records one legacy row; a bad row is reported, never raised."""
    from ledger.errors import LedgerError
    from ledger.legacy.mapping import LegacyRowError
    from ledger.legacy.recording import record_engineer, record_plan

    plan = None
    try:
        plan = make_plan()
        for warning in plan.warnings:
            report.notes.append((where, warning))
        if plan.engineer is not None and plan.engineer.engineer_id not in seen_engineers:
            outcome = record_engineer(services.ledger, plan.engineer, actor, update=False)
            report.engineers[outcome] += 1
            seen_engineers.add(plan.engineer.engineer_id)
        outcome, ticket_id = record_plan(services.ledger, plan, actor)
    except (LegacyRowError, LedgerError) as e:
        report.bad_row(where, str(e))
        report.bad_assignees += has_assignee
        if plan is not None:  # part of it may be recorded, under one of its ids
            report.ticket_ids.extend((plan.ticket_id, *plan.earlier_ticket_ids))
        return
    report.ticket_ids.append(ticket_id)
    report.outcomes[outcome] += 1
    if outcome == "diverged":
        report.notes.append((where, "the ledger's ticket moved on since the import; left as is"))


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
                _record_row(services, report, f"id {row.get('id')}",
                            lambda r=row: plan_service_ticket(r), actor, seen,
                            has_assignee=has_assignee)
                bar.advance(task)
        finish(f"Import of {table}", services, report, strict)
    finally:
        services.close()


# ---------------------------------------------------------------- CSV (seed 004)


def read_csv(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) of a CSV file with a header; keys lower-cased and stripped."""
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        for row in reader:
            yield reader.line_num, {
                (k or "").strip().lower(): (v if isinstance(v, str) else "") for k, v in row.items()
            }


def load_developers(
    rows: Iterable[tuple[int, Mapping[str, str]]], report: ImportReport, name: str
) -> dict[str, Any]:
    """The developers by id, bad ones reported; a second developer whose name makes
    the same id as a first one is a bad row."""
    from ledger.legacy.mapping import LegacyRowError, developer_from_csv

    developers: dict[str, Any] = {}
    for line, row in rows:
        where = f"{name}:{line}"
        try:
            spec = developer_from_csv(row)
            if spec.engineer_id in developers:
                raise LegacyRowError(f"name {spec.name!r} makes the id {spec.engineer_id!r}, "
                                     f"already taken by {developers[spec.engineer_id].name!r}")
        except LegacyRowError as e:
            report.bad.append((where, str(e)))
            report.engineers["bad"] += 1
            continue
        developers[spec.engineer_id] = spec
    return developers


def developer_finder(developers: Mapping[str, Any], ledger: Any) -> Callable[[str], Any]:
    """``assigned_to`` -> a developer: by exact name, name ignoring case, id, or the
    slug of the name; else an engineer already registered in the ledger under it."""
    from ledger.errors import EngineerNotFoundError
    from ledger.legacy.mapping import EngineerSpec, engineer_slug

    by_name = {spec.name: spec for spec in developers.values()}
    by_folded = {spec.name.casefold(): spec for spec in developers.values()}

    def find(assignee: str) -> Any:
        found = (by_name.get(assignee) or by_folded.get(assignee.casefold())
                 or developers.get(assignee) or developers.get(engineer_slug(assignee)))
        if found is not None:
            return found
        for candidate in (assignee, engineer_slug(assignee)):
            try:
                engineer = ledger.get_engineer(candidate)
            except EngineerNotFoundError:
                continue
            except Exception:  # noqa: BLE001 - an id the store cannot even look up
                continue
            return EngineerSpec(engineer.engineer_id, engineer.name, tuple(engineer.skills),
                                engineer.tier, engineer.capacity, engineer.availability)
        return None

    return find


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
    and assigned as their status says, all with via=import."""
    from ledger.errors import LedgerError
    from ledger.legacy.mapping import LegacyRowError, plan_csv_ticket
    from ledger.legacy.recording import record_engineer

    report = ImportReport()
    services = open_services(settings_for(database_url))
    actor = cli_actor()
    try:
        developers = (load_developers(read_csv(engineers), report, engineers.name)
                      if engineers else {})
        ticket_rows = list(read_csv(tickets))
        with _progress() as bar:
            task = bar.add_task("import engineers", total=len(developers))
            for spec in developers.values():
                try:
                    report.engineers[record_engineer(services.ledger, spec, actor,
                                                     update=True)] += 1
                except (LegacyRowError, LedgerError) as e:
                    report.bad.append((f"{engineers.name}: {spec.name}", str(e)))
                    report.engineers["bad"] += 1
                bar.advance(task)
            find = developer_finder(developers, services.ledger)
            task = bar.add_task("import tickets", total=len(ticket_rows))
            seen = set(developers)
            for line, row in ticket_rows:
                rejected = (row.get("status") or "").strip().lower() == "rejected"
                has_assignee = bool((row.get("assigned_to") or "").strip())
                report.legacy_rejected += has_assignee and rejected
                report.legacy_assignees += has_assignee and not rejected
                _record_row(services, report, f"{tickets.name}:{line}",
                            lambda r=row: plan_csv_ticket(r, find), actor, seen,
                            has_assignee=has_assignee and not rejected)
                bar.advance(task)
        finish(f"Import of {tickets.name}", services, report, strict)
    finally:
        services.close()


# ---------------------------------------------------------------- rollback


def export_service_tickets(
    target: Annotated[str, typer.Option("--to", help="The legacy PostgreSQL database URL.")],
    table: LegacyTable = "service_tickets",
    database_url: DatabaseURL = None,
) -> None:
    """Roll back to a legacy service_tickets table (seed 002's down migration).

    Writes each ticket's current assignment into the legacy inline columns,
    upserting by legacy id (imported tickets keep theirs; others get their ledger
    id). Creates the table when absent."""
    import psycopg

    from projections.legacy_export import legacy_rows, write_legacy_rows

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
