"""Importing legacy rows into the ledger, for every face that does it: ``ledger
import service-tickets|csv`` (``api.legacy_cli``) and ``POST /imports/csv``
(``api.routers.imports``) run the same code here, and get the same report.

A row is planned (``ledger.legacy.mapping``, pure) and recorded through the
Ledger's commands (``ledger.legacy.recording``); a bad row is reported with its
reason and nothing of it is recorded. The report then reconciles what the legacy
side says with what the read tables show.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from uuid import UUID

from ledger.domain import COMPLETED, REJECTED

if TYPE_CHECKING:
    from api.app import Services

#: Tickets per query when reconciling.
CHUNK = 500
#: Seconds the reconciliation waits for the read tables to include the import.
SETTLE_SECONDS = 30.0

#: ``start(description, total)`` -> ``advance()``: how a face shows progress.
Progress = Callable[[str, int], Callable[[], None]]


def no_progress(_description: str, _total: int) -> Callable[[], None]:
    return lambda: None


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
    """Counts, in the read tables (once they include the import), the imported
    tickets' active assignments, completed assignments and rejected ones."""
    services.read_side.wait_for(services.ledger.head(), SETTLE_SECONDS)
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


def record_row(services: Services, report: ImportReport, where: str,
               make_plan: Callable[[], Any], actor: str, seen_engineers: set[str], *,
               has_assignee: bool) -> None:
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
        if plan is not None:  # a ticket changed by someone else meanwhile stops half-way
            report.ticket_ids.extend((plan.ticket_id, *plan.earlier_ticket_ids))
        return
    report.ticket_ids.append(ticket_id)
    report.outcomes[outcome] += 1
    if outcome == "diverged":
        report.notes.append((where, "the ledger's ticket moved on since the import; left as is"))


# ---------------------------------------------------------------- CSV (seed 004)


@dataclass(frozen=True)
class CsvFile:
    """A CSV file's name (as rows are reported: ``name:line``) and its text lines."""

    name: str
    lines: Iterable[str]


class CsvFileError(ValueError):
    """A file that cannot be read as CSV text (not UTF-8, a NUL character, ...):
    nothing of the import is recorded."""


def parsed(file: CsvFile) -> list[tuple[int, dict[str, str]]]:
    """Every row of ``file``, read before anything is recorded. A NUL character
    refuses the file: PostgreSQL cannot store it in text, and CSV text has none."""
    try:
        rows = list(csv_rows(file.lines))
    except (csv.Error, UnicodeDecodeError) as e:
        raise CsvFileError(f"{file.name} is not CSV text in UTF-8: {e}") from None
    for line, row in rows:
        if any("\x00" in value for value in (*row, *row.values())):
            raise CsvFileError(f"{file.name}:{line} contains a NUL character: not CSV text.")
    return rows


def csv_rows(lines: Iterable[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) of CSV text with a header; keys lower-cased and stripped."""
    reader = csv.DictReader(lines)
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


def import_csv(services: Services, tickets: CsvFile | None, developers: CsvFile | None,
               actor: str, progress: Progress = no_progress) -> ImportReport:
    """seed 004's CSV files into the ledger: developers become engineers (updated
    when their row changed), then tickets are opened and assigned as their status
    says, all with via=import. Safe to run again. Both files are read whole first:
    one that is not CSV text raises ``CsvFileError`` and nothing is recorded."""
    from ledger.errors import LedgerError
    from ledger.legacy.mapping import LegacyRowError, plan_csv_ticket
    from ledger.legacy.recording import record_engineer

    developer_rows = parsed(developers) if developers else []
    ticket_rows = parsed(tickets) if tickets else []
    report = ImportReport()
    specs = load_developers(developer_rows, report, developers.name) if developers else {}
    advance = progress("import engineers", len(specs))
    for spec in specs.values():
        try:
            report.engineers[record_engineer(services.ledger, spec, actor, update=True)] += 1
        except (LegacyRowError, LedgerError) as e:
            report.bad.append((f"{developers.name}: {spec.name}", str(e)))  # type: ignore[union-attr]
            report.engineers["bad"] += 1
        advance()
    if tickets is None:
        return report
    find = developer_finder(specs, services.ledger)
    advance = progress("import tickets", len(ticket_rows))
    seen = set(specs)
    for line, row in ticket_rows:
        rejected = (row.get("status") or "").strip().lower() == "rejected"
        has_assignee = bool((row.get("assigned_to") or "").strip())
        report.legacy_rejected += has_assignee and rejected
        report.legacy_assignees += has_assignee and not rejected
        record_row(services, report, f"{tickets.name}:{line}",
                   lambda r=row: plan_csv_ticket(r, find), actor, seen,
                   has_assignee=has_assignee and not rejected)
        advance()
    return report
