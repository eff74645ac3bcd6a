"""``ledger projections status|rebuild``: look after the read tables."""

from __future__ import annotations

import signal
from datetime import timedelta
from typing import Annotated, Any

import typer
from rich import box
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from api.cli_common import DatabaseURL, command_group, console, open_services, settings_for
from api.settings import Settings

projections_app = command_group("Inspect and rebuild the read tables.")

#: What ``--workers`` defaults to, in words (the store decides).
WORKERS_DEFAULT = "2 on PostgreSQL, 1 on SQLite"
#: What ``--page-size`` defaults to: the settings' page size.
PAGE_SIZE_DEFAULT = f"LEDGER_PAGE_SIZE, else {Settings.model_fields['page_size'].default}"


def status_table(rows: list[dict[str, Any]]) -> Table:
    """The read side's status (``ReadSide.status()``), narrow enough for 80 columns:
    the head once, in the title, and each projection's lag behind it (its position
    is the head minus its lag); what a build still has to do in its status."""
    head = rows[0]["head"] if rows else 0
    table = Table(title=f"Projections (head: position {head:,})", box=box.SIMPLE_HEAD,
                  pad_edge=False)
    table.add_column("name", no_wrap=True)
    for column in ("version", "build", "lag"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("status")
    for s in rows:
        status = s["status"].replace("_", " ")
        if "progress" in s:
            status += f" {s['progress']:.1%}"
            if s.get("eta_seconds") is not None:
                status += f", {timedelta(seconds=round(s['eta_seconds']))} left"
        table.add_row(s["name"], str(s["version"]), str(s["generation"]), f"{s['lag']:,}", status)
    return table


@projections_app.command("status")
def projections_status(database_url: DatabaseURL = None) -> None:
    """Each projection's version, build, lag behind the head, and status."""
    services = open_services(settings_for(database_url))
    try:
        rows = services.read_side.status()
    finally:
        services.close()
    console.print(status_table(rows))


@projections_app.command("rebuild")
def projections_rebuild(
    name: Annotated[str | None, typer.Argument(
        help="One projection.", show_default="all")] = None,
    keep: Annotated[bool, typer.Option(help="Keep the old tables after the switch.")] = False,
    database_url: DatabaseURL = None,
    page_size: Annotated[int | None, typer.Option(
        help="Events per page.", show_default=PAGE_SIZE_DEFAULT)] = None,
    workers: Annotated[int | None, typer.Option(
        min=1, max=16, help="Processes rebuilding projection groups side by side.",
        show_default=WORKERS_DEFAULT)] = None,
) -> None:
    """Rebuild beside the live tables, then switch atomically (zero downtime).

    An interrupted rebuild resumes where it stopped."""
    from projections.parallel import rebuild_in_processes

    settings = settings_for(database_url, page_size=page_size)
    services = open_services(settings)
    try:
        known = list(services.read_side.projections)
        names = [name] if name else known
        unknown = [n for n in names if n not in known]
        if unknown:
            console.print(f"[red]Unknown projection: {', '.join(unknown)}[/] "
                          f"(known: {', '.join(known)})", highlight=False)
            raise typer.Exit(2)
        if workers is None:
            workers = 2 if services.ledger.store.is_postgres else 1
        stopping = {"flag": False}

        def _interrupt(*_args: object) -> None:
            stopping["flag"] = True

        signal.signal(signal.SIGINT, _interrupt)
        with Progress(TextColumn("[bold]rebuild[/] {task.description}"), BarColumn(),
                      TextColumn("{task.completed:,.0f}/{task.total:,.0f} events"),
                      TimeElapsedColumn(), TimeRemainingColumn(), console=console) as bar:
            task = bar.add_task(name or "all", total=max(services.ledger.head(), 1))

            def progress(position: int, head: int) -> None:
                bar.update(task, completed=position, total=max(head, 1))

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
