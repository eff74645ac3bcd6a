"""The ``Ledger`` commands that assign an engineer the ledger chose, each with a
capacity reservation saved in the ticket's transaction (``ledger.workload``):
auto-assign here, an approved proposal in ``ledger.proposal_commands``."""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from ledger.autoassign import Pick
from ledger.errors import InvalidReferenceError, PickOutdatedError
from ledger.executor import Job
from ledger.ids import new_id
from ledger.results import CommandResult
from ledger.workload import Workload, workload_id

if TYPE_CHECKING:
    from ledger.assignment import Assignment
    from ledger.engineer import Engineer
    from ledger.pipeline import WritePipeline
    from ledger.qualification import EngineerFacts
    from ledger.ticket import Ticket


#: How often a command that reserves runs again after a conflicting save. A
#: reservation conflicts when another one on the same engineer was stored
#: first, so each conflict is a slot taken: at capacity the command is refused
#: instead (409 ``capacity-reached``), never starved by conflicts.
RESERVING_RETRIES = 32

T = TypeVar("T")
_LINES_LOCK = threading.Lock()


class EngineerLines:
    """This process's reserving commands for one engineer, one after another.

    Not for correctness (the event store's optimistic concurrency decides,
    across processes too) but for cost: reserving commands for one engineer
    submitted together would each load the same workload version, and all but
    one would conflict and run again, round after round. In line, each finds
    the one before it saved."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        #: engineer id -> the future of the last reserving command queued for them.
        self._last: dict[str, Future[Any]] = {}

    def run(self, engineer_id: str, submit: Callable[[], Future[T]]) -> Future[T]:
        """``submit()``'s future, once the engineer's earlier reserving
        commands of this process are answered (``submit`` may then run on the
        thread that answered the last of them)."""
        mine: Future[T] = Future()
        mine.set_running_or_notify_cancel()  # a caller that stops waiting does not stop it
        with self._lock:
            before = self._last.get(engineer_id)
            self._last[engineer_id] = mine

        def answered(done: Future[T]) -> None:
            with self._lock:
                if self._last.get(engineer_id) is mine:
                    del self._last[engineer_id]
            error = done.exception()
            if error is None:
                mine.set_result(done.result())
            else:
                mine.set_exception(error)

        def go(_before: object = None) -> None:
            try:
                submitted = submit()
            except BaseException as e:  # noqa: BLE001 - handed to the caller's future
                failed: Future[T] = Future()
                failed.set_exception(e)
                answered(failed)
                return
            submitted.add_done_callback(answered)

        if before is None:
            go()
        else:
            before.add_done_callback(go)
        return mine


class Reservations:
    """``auto_assign``, and the reservation every ledger-chosen assignment makes."""

    if TYPE_CHECKING:  # Ledger's own
        _pipeline: WritePipeline

        def _get(self, aggregate_id: UUID, version: int | None = None) -> Any: ...
        def _load_tickets(self, ticket_ids: list[UUID]) -> dict[UUID, Ticket]: ...
        def get_ticket(self, ticket_id: UUID, version: int | None = None) -> Ticket: ...
        def get_engineer(self, engineer_id: str) -> Engineer: ...
        def require_active_engineer(self, engineer_id: str) -> EngineerFacts: ...

    @property
    def engineer_lines(self) -> EngineerLines:
        """The process's lines of reserving commands (one object per Ledger)."""
        with _LINES_LOCK:
            return self.__dict__.setdefault("_engineer_lines", EngineerLines())  # type: ignore[no-any-return]

    def reserving(self, engineer_id: str, job: Job) -> Future[Any]:
        """Runs ``job`` (which reserves a slot of ``engineer_id``'s capacity)
        after this process's earlier reserving commands for that engineer."""
        return self.engineer_lines.run(engineer_id, lambda: self._pipeline.enqueue(job))

    def reserve(
        self, job: Job, ticket: Ticket, *, engineer_id: str, assignment_id: UUID, actor: str,
        open_assignment_ids: Collection[UUID] = (),
    ) -> None:
        """On the command thread: takes a slot of ``engineer_id``'s capacity
        for ``assignment_id`` (``CapacityReachedError`` when none is free),
        the workload joining ``job``'s save. ``open_assignment_ids``: the
        engineer's open assignments as the read side shows them (the ones made
        by hand count toward load through it)."""
        capacity = self.get_engineer(engineer_id).capacity
        try:
            workload = self._get(workload_id(engineer_id))
        except AggregateNotFoundError:
            workload = Workload.start(engineer_id, actor=actor)
        held: dict[UUID, UUID] = workload.held
        unreserved = sum(1 for a in open_assignment_ids if UUID(str(a)) not in held)
        # Which reservations have ended is read (their tickets' streams) only
        # when it matters: while the slots held fit, none needs releasing yet.
        full = len(held) + unreserved >= capacity
        workload.reserve(
            ticket_id=ticket.id, assignment_id=assignment_id, capacity=capacity,
            ended=self._ended(held, ticket) if full else (), unreserved_open=unreserved,
            actor=actor,
        )
        job.companions.append(workload)

    def _ended(self, held: dict[UUID, UUID], current: Ticket) -> set[UUID]:
        """The reserved assignments that have ended, as their tickets' stored
        streams show them (``current``: the ticket in hand, as it stands)."""
        wanted = sorted({t for t in held.values() if t != current.id})
        tickets: dict[UUID, Any] = {current.id: current}
        if wanted:
            tickets.update(self._load_tickets(wanted))
            for ticket_id in wanted:
                if ticket_id not in tickets:
                    tickets[ticket_id] = self.get_ticket(ticket_id)
        ended = set()
        for assignment_id, ticket_id in held.items():
            assignment = tickets[ticket_id].assignments.get(assignment_id)
            if assignment is not None and not assignment.is_active:
                ended.add(assignment_id)
        return ended

    def auto_assign(
        self, ticket_id: UUID, *, pick: Pick, picked_at_version: int, actor: str,
        expected_version: int | None = None, open_assignment_ids: Collection[UUID] = (),
        **fields: Any,
    ) -> Future[CommandResult]:
        """Assigns the engineer of ``pick`` (type ``auto``, the pick's reason
        recorded; ``fields``: ``Assigned``'s others, such as ``tier_name``). The
        pick was made beforehand, off the command thread, on the ticket at
        ``picked_at_version`` and the read side's roster. The job checks the
        ticket's rules (closed, resolved, active assignment: 409), then that the
        pick still stands: the ticket is still at that version and the engineer
        still active, else ``PickOutdatedError`` (409; the caller may choose
        again); then reserves a slot of the engineer's capacity, else
        ``CapacityReachedError`` (409; the caller may choose again)."""
        assignment_id = new_id()

        def command(t: Ticket) -> Assignment:
            t.check_assignable()
            if t.version != picked_at_version:
                msg = (
                    f"Ticket {ticket_id} changed (version {picked_at_version} -> "
                    f"{t.version}) while its engineer was being chosen."
                )
                raise PickOutdatedError(msg)
            try:
                self.require_active_engineer(pick.engineer_id)
            except InvalidReferenceError as e:
                msg = f"The engineer picked is no longer eligible: {e.detail}"
                raise PickOutdatedError(msg) from None
            self.reserve(
                job, t, engineer_id=pick.engineer_id, assignment_id=assignment_id,
                actor=actor, open_assignment_ids=open_assignment_ids,
            )
            return t.assign(
                assignment_id=assignment_id, engineer_id=pick.engineer_id, tier=pick.tier,
                reason=pick.reason, assignment_type="auto", actor=actor, **fields,
            )

        job = Job(ticket_id, command, expected_version, retries=RESERVING_RETRIES)
        return self.reserving(pick.engineer_id, job)
