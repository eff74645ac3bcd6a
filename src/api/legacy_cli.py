"""``ledger import service-tickets|csv`` and ``ledger export service-tickets``.

Adopting the ledger from a legacy system (seed 002's ``service_tickets`` with inline
assignment columns, seed 004's CSV files) and rolling back to it. The mapping rules
live in ``ledger.legacy``; this module reads and writes the legacy side, drives the
ledger, reports bad rows and reconciles the result against the read tables.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any
from uuid import UUID

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

import_app = typer.Typer(help="Import tickets and engineers from a legacy system.",
                         no_args_is_help=True)
console = Console()

LedgerURL = Annotated[
    str | None,
    typer.Option("--database-url", envvar="LEDGER_DATABASE_URL",
                 help="The ledger: sqlite:///file.db or postgresql://user:pass@host:port/db"),
]
LegacyTable = Annotated[str, typer.Option("--table", help="The legacy table: name or schema.name.")]
Strict = Annotated[bool, typer.Option("--strict", help="Exit 1 on any bad row or a MISMATCH.")]

#: Rows per query when reconciling or exporting.
CHUNK = 500


@dataclass
class ImportReport:
    """What an import did, row by row, and what the reconciliation needs."""

    outcomes: Counter[str] = field(default_factory=Counter)
    engineers: Counter[str] = field(default_factory=Counter)
    bad: list[tuple[str, str]] = field(default_factory=list)
    notes: list[tuple[str, str]] = field(default_factory=list)
    ticket_ids: list[UUID] = field(default_factory=list)
    legacy_assignees: int = 0
    legacy_rejected: int = 0
    bad_assignees: int = 0

    def bad_row(self, where: str, reason: str) -> None:
        self.bad.append((where, reason))
        self.outcomes["bad"] += 1


@dataclass(frozen=True)
class Reconciliation:
    legacy_assignees: int
    active: int
    completed: int
    legacy_rejected: int = 0
    rejected: int = 0

    @property
    def ok(self) -> bool:
        return (self.legacy_assignees == self.active + self.completed
                and self.legacy_rejected == self.rejected)


# ---------------------------------------------------------------- shared


def _cli():  # noqa: ANN202 - the CLI module, imported late (it imports this one)
    from api import cli

    return cli


def _progress() -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console)


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _record_row(services: Any, report: ImportReport, where: str, make_plan: Callable[[], Any],
                actor: str, seen_engineers: set[str], *, has_assignee: bool) -> None:
    """Plans and records one legacy row; a bad row is reported, never raised."""
    from ledger.errors import LedgerError
    from ledger.legacy import LegacyRowError, record_engineer, record_plan

    try:
        plan = make_plan()
        report.ticket_ids.append(plan.ticket_id)
        for warning in plan.warnings:
            report.notes.append((where, warning))
        if plan.engineer is not None and plan.engineer.engineer_id not in seen_engineers:
            outcome = record_engineer(services.ledger, plan.engineer, actor, update=False)
            report.engineers[outcome] += 1
            seen_engineers.add(plan.engineer.engineer_id)
        outcome = record_plan(services.ledger, plan, actor)
    except (LegacyRowError, LedgerError) as e:
        report.bad_row(where, str(e))
        report.bad_assignees += has_assignee
        return
    report.outcomes[outcome] += 1
    if outcome == "diverged":
        report.notes.append((where, "the ledger's ticket moved on since the import; left as is"))


def reconcile(services: Any, report: ImportReport) -> Reconciliation:
    """Counts, in the read tables (once they caught up), the imported tickets' active
    assignments, completed assignments and rejected ones."""
    services.read_side.catch_up()
    store = services.store
    active = completed = rejected = 0
    ids = sorted({str(i) for i in report.ticket_ids})
    for chunk in _chunks(ids):
        marks = ", ".join(["%s"] * len(chunk))
        active += store.select(
            f"SELECT count(*) AS n FROM current_ticket_assignments WHERE ticket_id IN ({marks})",
            chunk,
        )[0]["n"]
        for row in store.select(
            "SELECT status, count(*) AS n FROM engineer_assignments "
            f"WHERE ticket_id IN ({marks}) AND status IN ('completed', 'rejected') "
            "GROUP BY status",
            chunk,
        ):
            if row["status"] == "completed":
                completed += row["n"]
            else:
                rejected += row["n"]
    return Reconciliation(report.legacy_assignees, int(active), int(completed),
                          report.legacy_rejected, int(rejected))


def _print_rows(title: str, column: str, rows: Sequence[tuple[str, str]]) -> None:
    """A table of (row, text) pairs, if there are any."""
    if not rows:
        return
    table = Table(title=title)
    table.add_column("row", no_wrap=True)
    table.add_column(column)
    for where, text in rows:
        table.add_row(where, text)
    console.print(table)


def _print_report(title: str, report: ImportReport, result: Reconciliation) -> None:
    summary = Table(title=title)
    summary.add_column("outcome")
    summary.add_column("rows", justify="right")
    for outcome in ("created", "updated", "unchanged", "diverged", "bad"):
        summary.add_row(outcome, str(report.outcomes[outcome]))
    for outcome in ("registered", "updated", "bad"):
        summary.add_row(f"engineers {outcome}", str(report.engineers[outcome]))
    console.print(summary)
    _print_rows(f"Bad rows ({len(report.bad)}): not imported", "reason", report.bad)
    _print_rows(f"Notes ({len(report.notes)}): imported with", "note", report.notes)
    table = Table(title="Reconciliation")
    table.add_column("")
    table.add_column("legacy", justify="right")
    table.add_column("ledger", justify="right")
    table.add_row("rows with an assignee / active + completed assignments",
                  str(result.legacy_assignees), f"{result.active} + {result.completed} = "
                  f"{result.active + result.completed}")
    if report.bad_assignees:
        table.add_row("  of them bad rows (not imported)", str(report.bad_assignees), "")
    if result.legacy_rejected or result.rejected:
        table.add_row("rejected rows / rejected assignments",
                      str(result.legacy_rejected), str(result.rejected))
    console.print(table)
    verdict = "[bold green]OK[/]" if result.ok else "[bold red]MISMATCH[/]"
    counts = [f"{k}={report.outcomes[k]}" for k in ("created", "updated", "unchanged",
                                                    "diverged", "bad")]
    counts += [f"engineers_{k}={report.engineers[k]}" for k in ("registered", "updated", "bad")]
    console.print(f"Summary: {' '.join(counts)}", highlight=False, soft_wrap=True)
    console.print(f"Reconciliation: {verdict}", highlight=False)


def _finish(title: str, services: Any, report: ImportReport, strict: bool) -> None:
    result = reconcile(services, report)
    _print_report(title, report, result)
    if strict and (report.bad or not result.ok):
        raise typer.Exit(1)


# ---------------------------------------------------------------- service_tickets


def _split_table(table: str) -> tuple[str | None, str]:
    schema, _, name = table.rpartition(".")
    return (schema or None), name


def table_columns(conn: Any, table: str) -> list[str]:
    """The columns of a PostgreSQL table, from information_schema (empty if absent)."""
    schema, name = _split_table(table)
    rows = conn.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = COALESCE(%s, current_schema()) AND table_name = %s "
        "ORDER BY ordinal_position",
        (schema, name),
    ).fetchall()
    return [r[0] for r in rows]


def _table_sql(table: str) -> Any:
    from psycopg import sql

    schema, name = _split_table(table)
    return sql.Identifier(schema, name) if schema else sql.Identifier(name)


def read_service_tickets(source_url: str, table: str) -> tuple[int, list[str], Iterator[dict]]:
    """(row count, columns read, rows) of a legacy ``service_tickets`` table; the rows
    stream through a server-side cursor."""
    import psycopg
    from psycopg import sql
    from psycopg.rows import dict_row

    from ledger.legacy import OPTIONAL_TICKET_COLUMNS, SERVICE_TICKET_COLUMNS

    conn = psycopg.connect(source_url)
    present = table_columns(conn, table)
    if not present:
        conn.close()
        raise LookupError(f"Table {table!r} does not exist in the source database.")
    missing = [c for c in ("id", "status", "assigned_engineer_id") if c not in present]
    if missing:
        conn.close()
        raise LookupError(f"Table {table!r} has no {', '.join(missing)} column: "
                          "not seed 002's service_tickets shape.")
    wanted = [c for c in (*SERVICE_TICKET_COLUMNS, *OPTIONAL_TICKET_COLUMNS) if c in present]
    total = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(_table_sql(table))).fetchone()[0]

    def rows() -> Iterator[dict]:
        try:
            with conn.transaction(), conn.cursor(name="ledger_import", row_factory=dict_row) as cur:
                cur.itersize = CHUNK
                cur.execute(sql.SQL("SELECT {} FROM {} ORDER BY id::text").format(
                    sql.SQL(", ").join(map(sql.Identifier, wanted)), _table_sql(table)))
                yield from cur
        finally:
            conn.close()

    return total, wanted, rows()


@import_app.command("service-tickets")
def import_service_tickets(
    source: Annotated[str, typer.Option("--from", help="The legacy PostgreSQL database URL.")],
    table: LegacyTable = "service_tickets",
    database_url: LedgerURL = None,
    strict: Strict = False,
) -> None:
    """Backfill a legacy service_tickets table (seed 002's inline assignment columns):
    per ticket, opened, assignment 1 at its tier and what its status implies, with
    the original times and via=import. Safe to run again."""
    import psycopg

    from ledger.legacy import plan_service_ticket

    cli = _cli()
    try:
        total, columns, rows = read_service_tickets(source, table)
    except LookupError as e:
        console.print(f"[red]{e}[/]")
        raise typer.Exit(2) from None
    except psycopg.Error as e:
        console.print(f"[red]Cannot read {cli.redact(source)}: {e}[/]")
        raise typer.Exit(2) from None
    absent = [c for c in ("created_at", "assignment_tier", "assigned_at") if c not in columns]
    if absent:
        console.print(f"[yellow]The source has no {', '.join(absent)} column(s); "
                      "they are taken as empty.[/]")
    services = cli._read_side(cli._settings(database_url))
    actor = cli._cli_actor()
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
        _finish(f"Import of {table}", services, report, strict)
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
    from ledger.legacy import LegacyRowError, developer_from_csv

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
    from ledger.legacy import EngineerSpec, engineer_slug

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
    database_url: LedgerURL = None,
    strict: Strict = False,
) -> None:
    """Import seed 004's CSV files: developers become engineers (updated when the
    file changed), tickets are opened and assigned as their status says, all with
    via=import. Safe to run again."""
    from ledger.errors import LedgerError
    from ledger.legacy import LegacyRowError, plan_csv_ticket, record_engineer

    cli = _cli()
    report = ImportReport()
    services = cli._read_side(cli._settings(database_url))
    actor = cli._cli_actor()
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
        _finish(f"Import of {tickets.name}", services, report, strict)
    finally:
        services.close()


# ---------------------------------------------------------------- rollback


LEGACY_TABLE_DDL = """
CREATE TABLE IF NOT EXISTS {} (
    id TEXT PRIMARY KEY,
    title TEXT,
    description TEXT,
    priority TEXT,
    status TEXT,
    assigned_engineer_id VARCHAR,
    assigned_engineer_name VARCHAR,
    assignment_tier INT,
    assignment_tier_name TEXT,
    assigned_at TIMESTAMPTZ,
    started_at TIMESTAMPTZ,
    resolved_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ,
    updated_at TIMESTAMPTZ
)"""

#: Columns an export overwrites on an existing legacy row (the rest it sets only
#: when it inserts the row).
UPDATED_COLUMNS = (
    "status", "assigned_engineer_id", "assigned_engineer_name", "assignment_tier",
    "assignment_tier_name", "assigned_at", "started_at", "resolved_at", "updated_at",
)


def legacy_rows(services: Any) -> Iterator[dict[str, Any]]:
    """Every ticket of the ledger as a legacy ``service_tickets`` row, from the read
    tables (the caller catches them up first)."""
    from ledger.legacy import exported_assignment, legacy_columns
    from projections.assignments import ASSIGNMENT_COLUMNS, EngineerAssignmentsProjection

    store = services.store
    names = {r["id"]: r["name"] for r in store.select("SELECT id, name FROM engineers")}
    assignments_table = EngineerAssignmentsProjection().table
    columns = ", ".join(c.name for c in ASSIGNMENT_COLUMNS)
    cursor = None
    while True:
        page = services.queries.tickets(limit=CHUNK, cursor=cursor)
        ids = [str(t["id"]) for t in page.items]
        by_ticket: dict[str, list[dict[str, Any]]] = {}
        if ids:
            marks = ", ".join(["%s"] * len(ids))
            for a in store.rows(assignments_table,
                                f"SELECT {columns} FROM engineer_assignments "
                                f"WHERE ticket_id IN ({marks})", ids):
                by_ticket.setdefault(str(a["ticket_id"]), []).append(a)
        for ticket in page.items:
            chosen = exported_assignment(ticket["status"], by_ticket.get(str(ticket["id"]), []))
            yield legacy_columns(ticket, chosen,
                                 names.get(chosen["engineer_id"]) if chosen else None)
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


def write_legacy_rows(conn: Any, table: str, rows: Iterable[Mapping[str, Any]],
                      advance: Callable[[], None] = lambda: None) -> Counter[str]:
    """Upserts by legacy id into ``table`` (created when absent), writing only the
    columns the table has. Returns counts of ``inserted`` and ``updated``."""
    from psycopg import sql

    conn.execute(sql.SQL(LEGACY_TABLE_DDL).format(_table_sql(table)))
    present = set(table_columns(conn, table))
    if "id" not in present:
        raise LookupError(f"Table {table!r} has no id column.")
    updated = [c for c in UPDATED_COLUMNS if c in present]
    target = _table_sql(table)
    update = sql.SQL("UPDATE {} SET {} WHERE id::text = %s").format(
        target, sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(c)) for c in updated))
    counts: Counter[str] = Counter()
    for row in rows:
        cursor = conn.execute(update, [*(row[c] for c in updated), row["id"]])
        if cursor.rowcount:
            counts["updated"] += 1
        else:
            inserted = [c for c in row if c in present]
            conn.execute(sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
                target, sql.SQL(", ").join(map(sql.Identifier, inserted)),
                sql.SQL(", ").join(sql.Placeholder() * len(inserted))),
                [row[c] for c in inserted])
            counts["inserted"] += 1
        advance()
    return counts


def export_service_tickets(
    target: Annotated[str, typer.Option("--to", help="The legacy PostgreSQL database URL.")],
    table: LegacyTable = "service_tickets",
    database_url: LedgerURL = None,
) -> None:
    """Roll back (seed 002's down migration): write each ticket's current assignment
    into the legacy inline columns, upserting by legacy id (imported tickets keep
    theirs; others get their ledger id). Creates the table when absent."""
    import psycopg

    cli = _cli()
    services = cli._read_side(cli._settings(database_url))
    try:
        services.read_side.catch_up()
        total = services.store.select("SELECT count(*) AS n FROM tickets")[0]["n"]
        try:
            conn = psycopg.connect(target)
        except psycopg.Error as e:
            console.print(f"[red]Cannot connect to {cli.redact(target)}: {e}[/]")
            raise typer.Exit(2) from None
        with conn, _progress() as bar:
            task = bar.add_task(f"export {table}", total=int(total))
            try:
                counts = write_legacy_rows(conn, table, legacy_rows(services),
                                           lambda: bar.advance(task))
            except LookupError as e:
                console.print(f"[red]{e}[/]")
                raise typer.Exit(2) from None
    finally:
        services.close()
    console.print(f"Exported {int(total)} tickets to {table} at {cli.redact(target)}: "
                  f"{counts['inserted']} inserted, {counts['updated']} updated.",
                  highlight=False)
