"""The ``Ledger`` commands on a ticket's details (``PATCH /tickets/{id}``): a
mixin that ``Ledger`` inherits, so application.py names it once."""

from __future__ import annotations

from concurrent.futures import Future
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from ledger.executor import Job
from ledger.results import CommandResult, ticket_result

if TYPE_CHECKING:
    from ledger.pipeline import WritePipeline


class TicketDetailCommands:
    """``update_ticket``: corrects a ticket's details (``ledger.ticket_details``)."""

    if TYPE_CHECKING:  # Ledger's own
        _pipeline: WritePipeline
        def head(self) -> int: ...

    def update_ticket(
        self, ticket_id: UUID, *, changes: dict[str, Any], actor: str,
        expected_version: int | None = None, timestamp: datetime | None = None,
        via: str | None = None, **fields: Any,
    ) -> Future[CommandResult]:
        """Records the details that change (one ``Ticket.Updated``). When none
        does, nothing is recorded and the result is the ticket as it stands
        (its version; the position is the log's head, for read-your-writes)."""

        def answer(ticket: Any, _assignment: Any, saved: Any) -> CommandResult:
            if saved:
                return ticket_result(ticket, None, saved)
            return CommandResult(ticket.id, ticket.version, self.head())

        return self._pipeline.submit(Job(
            ticket_id,
            lambda t: t.update(changes=changes, actor=actor, timestamp=timestamp, via=via,
                               **fields) and None,
            expected_version,
            answer=answer,
        ))
