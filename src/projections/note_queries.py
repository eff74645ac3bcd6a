"""Reads of ``ticket_notes``."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from projections.store import ReadStore
from projections.ticket_notes import TicketNotesProjection

NOTES = TicketNotesProjection.table
_COLUMNS = ", ".join(NOTES.column_names)


class NoteQueries:
    def __init__(self, store: ReadStore) -> None:
        self.store = store

    def note(self, note_id: UUID | str) -> dict[str, Any] | None:
        rows = self.store.rows(NOTES, f"SELECT {_COLUMNS} FROM ticket_notes WHERE id = %s",
                               [str(note_id)])
        return rows[0] if rows else None

    def notes_of_ticket(self, ticket_id: UUID | str) -> list[dict[str, Any]]:
        """Oldest first (in the order recorded)."""
        return self.store.rows(
            NOTES,
            f"SELECT {_COLUMNS} FROM ticket_notes WHERE ticket_id = %s ORDER BY position",
            [str(ticket_id)],
        )
