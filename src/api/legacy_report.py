"""What an import did and whether the ledger agrees: the report of ``ledger import``
(outcomes per row, bad rows, notes) and its reconciliation against the read tables.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from uuid import UUID

import typer
from rich.markup import escape
from rich.table import Table

from api.cli_common import console
from ledger.domain import COMPLETED, REJECTED

if TYPE_CHECKING:
    from api.app import Services

#: Tickets per query when reconciling.
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
    """The legacy side's counts and the read tables' for the imported tickets."""

    legacy_assignees: int
    active: int
    completed: int
    legacy_rejected: int = 0
    rejected: int = 0

    @property
    def ok(self) -> bool:
        return (self.legacy_assignees == self.active + self.completed
                and self.legacy_rejected == self.rejected)


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def reconcile(services: Services, report: ImportReport) -> Reconciliation:
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
            f"WHERE ticket_id IN ({marks}) AND status IN (%s, %s) GROUP BY status",
            [*chunk, COMPLETED, REJECTED],
        ):
            if row["status"] == COMPLETED:
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
