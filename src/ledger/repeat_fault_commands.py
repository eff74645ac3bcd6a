"""The repeat-fault commands of the ``Ledger`` (a mixin: application.py holds
the rest). ``raise_repeat_fault`` and ``join_repeat_fault`` are the policy's
(``ledger.repeat_policy``), acknowledge and resolve are people's."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from ledger.errors import RepeatFaultExistsError, RepeatFaultNotFoundError
from ledger.executor import Job
from ledger.repeat_fault import RepeatFault
from ledger.results import CommandResult, recorded

if TYPE_CHECKING:
    from ledger.pipeline import WritePipeline


class RepeatFaultCommands:
    if TYPE_CHECKING:
        _pipeline: WritePipeline
        def _get(self, aggregate_id: UUID, version: int | None = None) -> Any: ...
        def _is_ours(self, aggregate: Any) -> bool: ...
        def head(self) -> int: ...

    def get_repeat_fault(self, fault_id: UUID) -> RepeatFault:
        try:
            fault = self._get(fault_id)
        except AggregateNotFoundError:
            fault = None
        if not isinstance(fault, RepeatFault):
            msg = f"Repeat fault {fault_id} does not exist."
            raise RepeatFaultNotFoundError(msg)
        return fault

    def raise_repeat_fault(
        self, *, scope: str, value: str, episode: int, tickets: list[tuple[UUID, datetime]],
        actor: str, timestamp: datetime | None = None,
    ) -> Future[CommandResult]:
        """Records a new fault; ``RepeatFaultExistsError`` when its id (the place
        and the episode) is taken: another process raised it first."""
        fault = RepeatFault.raise_fault(
            scope=scope, value=value, episode=episode, tickets=tickets, actor=actor,
            timestamp=timestamp,
        )
        return self._pipeline.create(
            fault, exists=RepeatFaultExistsError(f"Repeat fault {fault.id} is already raised."),
            is_ours=self._is_ours, head=self.head,
        )

    def join_repeat_fault(
        self, fault_id: UUID, *, ticket_id: UUID, opened_at: datetime, actor: str,
        **fields: Any,
    ) -> Future[CommandResult | None]:
        """Adds the ticket; ``None`` when it is on the fault already."""
        return self._fault_job(
            fault_id, lambda f: f.join(ticket_id=ticket_id, opened_at=opened_at, actor=actor,
                                       **fields),
        )

    def acknowledge_repeat_fault(
        self, fault_id: UUID, *, actor: str, note: str | None = None,
        expected_version: int | None = None, **fields: Any,
    ) -> Future[CommandResult | None]:
        return self._fault_job(
            fault_id, lambda f: f.acknowledge(note=note, actor=actor, **fields), expected_version,
        )

    def resolve_repeat_fault(
        self, fault_id: UUID, *, resolution: str, actor: str,
        expected_version: int | None = None, **fields: Any,
    ) -> Future[CommandResult | None]:
        return self._fault_job(
            fault_id, lambda f: f.resolve(resolution=resolution, actor=actor, **fields),
            expected_version,
        )

    def _fault_job(
        self, fault_id: UUID, command: Callable[[RepeatFault], object],
        expected_version: int | None = None,
    ) -> Future[CommandResult | None]:
        return self._pipeline.submit(Job(
            fault_id, command, expected_version, load=self.get_repeat_fault,
            answer=lambda fault, _done, saved: recorded(fault, saved) if saved else None,
            label=f"Repeat fault {fault_id}",
        ))
