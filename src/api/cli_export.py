"""``ledger export events``: the event log for auditors, from the event store."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from api.cli_common import DatabaseURL, command_group, console, settings_for

export_app = command_group("Export events (for auditors) or tickets (back to a legacy system).")


@export_app.command("events")
def export_events(
    format: Annotated[str, typer.Option(  # noqa: A002 - the option's name
        "--format", help="ndjson (one JSON object per line) or csv.")] = "ndjson",
    output: Annotated[str | None, typer.Option(
        "--output", "-o", help="Write to this file.", show_default="stdout")] = None,
    from_position: Annotated[int, typer.Option(
        "--from", min=1, help="First position (inclusive).")] = 1,
    to: Annotated[int | None, typer.Option(
        "--to", min=0, help="Last position (inclusive).", show_default="the head now")] = None,
    database_url: DatabaseURL = None,
) -> None:
    """Every event in position order, as the REST export writes it.

    The stored state byte for byte, read straight from the event store in constant
    memory."""
    import sys

    from ledger.application import Ledger
    from projections.feed import EventFilter, EventLog
    from projections.backend import build_store

    if format not in ("ndjson", "csv"):
        console.print(f"[red]--format must be ndjson or csv, not {escape(repr(format))}.[/]")
        raise typer.Exit(2)
    settings = settings_for(database_url)
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
