"""The ``Ledger``'s handover command (``ledger.handover`` holds its rules)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from datetime import datetime
from typing import Any
from uuid import UUID

from ledger.results import CommandResult


class HandoverCommands:
    """Mixed into ``Ledger``: commands on a ticket's owning team."""

    _update_ticket: Callable[..., Future[CommandResult]]

    def hand_over(
        self, ticket_id: UUID, *, handover_id: UUID, to_team: str,
        snapshot: dict[str, Any], snapshot_version: int, actor: str,
        expected_version: int | None = None, timestamp: datetime | None = None,
        via: str | None = None, **fields: Any,
    ) -> Future[CommandResult]:
        """Hands the ticket to ``to_team`` with ``snapshot``, the ticket as it
        stood at ``snapshot_version``; if the ticket has moved on by the time the
        command runs, ``SnapshotOutdatedError`` (take the snapshot again)."""
        return self._update_ticket(
            ticket_id,
            lambda t: t.hand_over(
                handover_id=handover_id, to_team=to_team, snapshot=snapshot,
                snapshot_version=snapshot_version, actor=actor, timestamp=timestamp,
                via=via, **fields,
            ),
            expected_version,
        )
