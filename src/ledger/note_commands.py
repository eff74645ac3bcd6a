"""The note command of the ``Ledger`` (a mixin: application.py holds the rest)."""

from __future__ import annotations

from concurrent.futures import Future
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from ledger.executor import Job
from ledger.results import CommandResult, recorded

if TYPE_CHECKING:
    from ledger.pipeline import WritePipeline


class NoteCommands:
    """``add_note``: a note on a ticket, from a person or from the ledger itself."""

    if TYPE_CHECKING:
        _pipeline: WritePipeline

    def add_note(
        self, ticket_id: UUID, *, note_id: UUID, kind: str, text: str, actor: str,
        engineer_id: str | None = None, timestamp: datetime | None = None,
        via: str | None = None, **fields: Any,
    ) -> Future[CommandResult | None]:
        """Records the note; ``None`` when the ticket has a note of that id already
        (a retried write). ``engineer_id``: the author is that engineer, refused
        (``NotTicketHolderError``) unless they hold or held the ticket."""
        return self._pipeline.submit(Job(
            ticket_id,
            lambda t: t.add_note(
                note_id=note_id, kind=kind, text=text, actor=actor, engineer_id=engineer_id,
                timestamp=timestamp, via=via, **fields,
            ),
            answer=lambda t, _added, saved: recorded(t, saved) if saved else None,
        ))
