"""Notes on a ticket: what people (and the ledger itself) write about it, beside
the assignments' own fields.

``Ticket`` inherits ``TicketNotes`` (the command) and names ``NoteAdded`` (a
subclass of ``NoteWritten`` under its explicit topic). A note's id is chosen by
its writer; a note whose id the ticket already holds is not recorded again, so
a writer that retries (the repeat-fault policy after a crash, a client after a
lost answer) records it once. A closed ticket still takes notes: a note is
commentary on the work, not work, and what happened after closing (a customer
calling back) belongs on the ticket too.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

from ledger.errors import NotTicketHolderError

INTERNAL = "internal"
CLIENT = "client"
#: The ledger's own notes (a repeat fault joined, ...); clients cannot write them.
SYSTEM = "system"
NOTE_KINDS = (INTERNAL, CLIENT, SYSTEM)
#: The kinds a client may write.
CLIENT_KINDS = (INTERNAL, CLIENT)
#: The author of the ledger's own notes and decisions.
SYSTEM_ACTOR = "system"


def derived_note_id(source: UUID, ticket_id: UUID) -> UUID:
    """The id of the one note ``source`` (a repeat fault, ...) writes on a
    ticket: the same on every attempt, so a retried note is recorded once."""
    return uuid5(source, f"note:{ticket_id}")


class NoteWritten(Aggregate.Event):
    """A note was added to the ticket."""

    note_id: UUID
    kind: str
    text: str
    actor: str
    via: str | None = None

    def apply(self, ticket: Any) -> None:
        ticket.note_ids = {*getattr(ticket, "note_ids", ()), self.note_id}


class TicketNotes:
    """The ``add_note`` command of ``Ticket`` (a mixin: ticket.py holds the rest)."""

    NoteAdded: type[NoteWritten]

    if TYPE_CHECKING:  # Ticket's own (and Aggregate's), declared for type checkers
        id: UUID
        assignments: dict[UUID, Any]
        def trigger_event(self, event_class: Any, **kwargs: Any) -> None: ...

    def has_note(self, note_id: UUID) -> bool:
        return note_id in getattr(self, "note_ids", ())

    def check_held_by(self, engineer_id: str) -> None:
        """An engineer writes only on tickets they hold or held (an assignment
        of theirs, in any status)."""
        if not any(a.engineer_id == engineer_id for a in self.assignments.values()):
            msg = (
                f"Engineer {engineer_id!r} has never held ticket {self.id}; engineers "
                "may add notes only to tickets they hold or held."
            )
            raise NotTicketHolderError(msg)

    def add_note(
        self, *, note_id: UUID, kind: str, text: str, actor: str,
        engineer_id: str | None = None, timestamp: datetime | None = None,
        via: str | None = None, **fields: Any,
    ) -> bool:
        """Records the note unless the ticket has it already; returns whether it
        was recorded. ``engineer_id``: the author is that engineer, who must
        hold or have held the ticket."""
        if self.has_note(note_id):
            return False
        if engineer_id is not None:
            self.check_held_by(engineer_id)
        self.trigger_event(
            self.NoteAdded, note_id=note_id, kind=kind, text=text, actor=actor,
            timestamp=timestamp, via=via, **fields,
        )
        return True
