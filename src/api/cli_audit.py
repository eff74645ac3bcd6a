"""``ledger verify``, ``seal`` and ``checkpoints``: the auditor's commands."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated
from uuid import UUID

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from api.cli_common import DatabaseURL, settings_for
from api.settings import Settings

err = Console(stderr=True)


def _open(settings: Settings):  # noqa: ANN202 - (ledger, store)
    from ledger.application import Ledger
    from projections.backend import build_store

    ledger = Ledger(settings.database_url, pool_size=2)
    return ledger, build_store(ledger.store, pool_size=2)


def _public_keys(options: list[str] | None, settings: Settings) -> list[str]:
    """The public keys to check signatures with: each --public-key (a PEM file, or
    hex), else the public half of the configured signing key, if that file exists."""
    if options:
        return [Path(o).read_text() if Path(o).exists() else o for o in options]
    key_path = Path(settings.signing_key_path())
    if key_path.exists():
        from ledger.signing import load_or_create

        return [load_or_create(key_path).public_raw.hex()]
    return []


def register(app: typer.Typer) -> None:
    app.command()(verify)
    app.command()(seal)
    app.command()(checkpoints)


def verify(
    database_url: DatabaseURL = None,
    ticket: Annotated[UUID | None, typer.Option(
        "--ticket", help="Only this ticket's chain.", show_default="every ticket")] = None,
    from_position: Annotated[int, typer.Option(
        "--from", min=0, help="Start at the last checkpoint at or before this position.")] = 0,
    public_key: Annotated[list[str] | None, typer.Option(
        help="Ed25519 public key (PEM file or 64 hex digits) to check checkpoint "
        "signatures with; repeat it for the keys of earlier periods after a rotation.",
        show_default="that of LEDGER_SIGNING_KEY")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    workers: Annotated[int, typer.Option(
        min=1, max=64, help="Processes scanning the log in parallel (large logs).")] = 2,
) -> None:
    """Check every event's hash, every stream's chain and every signed checkpoint.

    Exits 1 on the first break (named), 0 when all is intact."""
    from projections.audit import CheckpointStore, StoredLog, Verifier

    settings = settings_for(database_url)
    ledger, store = _open(settings)
    try:
        checkpoints = CheckpointStore(store)
        checkpoints.setup()
        key = _public_keys(public_key, settings)
        verifier = Verifier(StoredLog(store, ledger.recorder.events_table_name),
                            checkpoints, key, config=ledger.store, workers=workers)
        with Progress(
            TextColumn("verifying"), BarColumn(), MofNCompleteColumn(),
            TextColumn("events"), TimeElapsedColumn(), console=err,
            disable=as_json or not err.is_terminal and ticket is not None,
        ) as progress:
            task = progress.add_task("verify", total=None)

            def advance(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total or None)

            report = verifier.verify(ticket_id=ticket, from_position=from_position,
                                     progress=advance)
    finally:
        store.close()
        ledger.close()
    if as_json:
        sys.stdout.write(json.dumps(report.as_dict(), indent=2) + "\n")
    else:
        rate = report.events_checked / report.seconds if report.seconds else 0
        err.print(
            f"{report.events_checked} events in {report.streams_checked} streams, "
            f"{report.checkpoints_checked} checkpoints checked in {report.seconds:.2f} s "
            f"({rate:,.0f} events/s)"
            + ("" if key else " [yellow](no public key: signatures not checked)[/]")
        )
        for note in report.notes:
            err.print(f"note: {note}")
        if report.first_broken is None:
            err.print("[bold green]OK[/]: every hash, chain and checkpoint is intact.")
        else:
            b = report.first_broken
            where = (f"ticket {b.ticket_id} version {b.version} at position {b.position}"
                     if b.ticket_id else f"checkpoint at position {b.position}")
            err.print(f"[bold red]BROKEN[/]: {where}: {b.reason} "
                      f"({report.problems} problem(s) in all)")
    raise typer.Exit(0 if report.ok else 1)


def seal(database_url: DatabaseURL = None) -> None:
    """Seal a signed checkpoint over the events not yet sealed, now.

    A running server seals every N events and at least once a minute by itself."""
    from ledger.signing import load_or_create
    from projections.audit import CheckpointStore, Sealer, StoredLog

    settings = settings_for(database_url)
    ledger, store = _open(settings)
    try:
        checkpoints = CheckpointStore(store)
        checkpoints.setup()
        sealer = Sealer(StoredLog(store, ledger.recorder.events_table_name), checkpoints,
                        load_or_create(settings.signing_key_path()),
                        every=settings.checkpoint_every, config=ledger.store)
        sealed = sealer.seal_pending(force=True)
    finally:
        store.close()
        ledger.close()
    if sealed:
        last = sealed[-1]
        err.print(f"sealed {len(sealed)} checkpoint(s); last at position {last.position} "
                  f"({last.events} events, running hash {last.running_hash[:16]}…)")
    else:
        err.print("nothing to seal: every event is under a checkpoint already")


def checkpoints(
    database_url: DatabaseURL = None,
    output: Annotated[Path | None, typer.Option(
        help="Write here.", show_default="stdout")] = None,
) -> None:
    """Print the signed checkpoints as JSON, as GET /audit/checkpoints returns them.

    For an auditor to verify an export with (docs/audit.md)."""
    from projections.audit import CheckpointStore

    settings = settings_for(database_url)
    ledger, store = _open(settings)
    try:
        found = CheckpointStore(store)
        found.setup()
        items = [c.as_dict() for c in found.after(0)]
    finally:
        store.close()
        ledger.close()
    text = json.dumps({"items": items}, indent=1) + "\n"
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text)
        err.print(f"{len(items)} checkpoint(s) written to {output}")
