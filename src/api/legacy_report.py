"""``ledger import``'s report, printed: outcomes per row, bad rows, notes, and the
reconciliation against the read tables (``api.legacy_import`` counts them).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import typer
from rich.markup import escape
from rich.table import Table

from api.cli_common import console
from api.legacy_import import ImportReport, Reconciliation, reconcile

if TYPE_CHECKING:
    from api.app import Services


def _print_rows(title: str, column: str, rows: Sequence[tuple[str, str]]) -> None:
    """A table of (row, text) pairs, if there are any."""
    if not rows:
        return
    table = Table(title=title)
    table.add_column("row", no_wrap=True)
    table.add_column(column)
    for where, text in rows:
        table.add_row(escape(where), escape(text))
    console.print(table)


def print_report(title: str, report: ImportReport, result: Reconciliation) -> None:
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


def finish(title: str, services: Services, report: ImportReport, strict: bool) -> None:
    """Reconciles, prints the report; with ``strict``, exits 1 on a bad row or a
    mismatch."""
    result = reconcile(services, report)
    print_report(title, report, result)
    if strict and (report.bad or not result.ok):
        raise typer.Exit(1)
