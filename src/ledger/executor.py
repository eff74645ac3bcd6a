"""Ticket commands run on one thread, their saves pipelined into group commit.

A command is: load the ticket (from the cache, else the store), run its checks
and its method, save. Run on a thread per request, each command costs the
process thread hand-offs (request -> worker thread -> committer -> worker ->
event loop), and each one contends for the GIL with every other request's
thread. Here every command of the process is a job for one thread: it loads
and runs the commands that queued up, hands the changed tickets to the group
committer and goes on with the next jobs while that transaction commits; the
committer's callback answers the job. The tickets the jobs of one round need
from the store are read in one query (``load_many``) when there are several. A
caller waits on the job's future: blocking on ``result()``, or awaiting it on an
event loop (``asyncio.wrap_future``).

Commands on one ticket still run one at a time, in arrival order: a ticket
stays busy from its command's load until its save is durable (or failed), and
jobs for a busy ticket wait for it. The rules of ``Ledger._update_ticket`` hold
here: a save that conflicts (another process changed the ticket) re-runs the
command on the stored state, up to ``retries`` times; a refusal judged on a
cached ticket is judged again on the stored one; a stale If-Match answers as
stale. The cache only ever holds committed state.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import deque
from collections.abc import Callable
from contextlib import AbstractContextManager
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Recording, RecordConflictError

from ledger.cache import AggregateCache
from ledger.errors import (
    ConcurrentUpdateError,
    LedgerError,
    StaleVersionError,
    StorageUnavailableError,
)
from ledger.queuethread import STOP, QueueThread

log = logging.getLogger("ledger.executor")

Load = Callable[[UUID], Any]
#: Several stored tickets at once: the ones found, by id.
LoadMany = Callable[[list[UUID]], dict[UUID, Any]]
#: ``submit(aggregate, *companions)``: saves them in one transaction.
Submit = Callable[..., "Future[list[Recording[Any]]]"]
#: ``answer(ticket, assignment, recordings)``: what the job's future resolves to.
Answer = Callable[[Any, Any, list[Recording[Any]]], Any]


@dataclass(eq=False)
class Job:
    """One command on one aggregate: ``command(aggregate)`` changes it and
    returns what the answer needs (a ticket command: the assignment it acted on,
    or None); ``check()`` runs once, after the aggregate is known to exist.

    A ticket by default. A job with its own ``load`` (an engineer, an API key)
    is loaded afresh each time and never cached; its own ``answer`` replaces the
    executor's."""

    aggregate_id: UUID
    command: Callable[[Any], Any]
    expected_version: int | None = None
    check: Callable[[], object] | None = None
    load: Load | None = None
    answer: Answer | None = None
    #: How messages name the aggregate (default: ``Ticket <id>``).
    label: str = ""
    future: Future[Any] = field(default_factory=Future)
    conflicts: int = 0
    #: Judge on the stored ticket, not the cached one.
    reload: bool = False
    #: Other aggregates the command changed, saved in the ticket's transaction
    #: (an engineer's capacity reservation, ``ledger.workload``); the command
    #: fills it afresh each time it runs.
    companions: list[Any] = field(default_factory=list)
    #: How often a conflicting save runs the command again (default: the
    #: executor's).
    retries: int | None = None

    def named(self) -> str:
        return self.label or f"Ticket {self.aggregate_id}"


class _Again:
    """A job that holds its busy ticket: run again after a conflict, or next in
    line for a ticket just freed."""

    __slots__ = ("job",)

    def __init__(self, job: Job) -> None:
        self.job = job


class CommandExecutor(QueueThread):
    """Runs ticket jobs on its own thread; ``submit`` returns the job's future,
    which resolves to ``answer(ticket, assignment, recordings)`` once the save is
    durable, or raises what the command or its save raised (a save's errors
    passed through ``errors``, a context manager that translates them)."""

    def __init__(
        self,
        load: Load,
        submit: Submit,
        answer: Answer,
        cache: AggregateCache[UUID],
        *,
        retries: int,
        errors: Callable[[], AbstractContextManager[None]],
        load_many: LoadMany | None = None,
        name: str = "ledger-commands",
    ) -> None:
        super().__init__(name)
        self._load = load
        self._load_many = load_many
        self._submit = submit
        self._answer = answer
        self._errors = errors
        self._cache = cache
        self._retries = retries
        # ticket -> jobs waiting for it; a key is present while the ticket is busy.
        self._waiting: dict[UUID, deque[Job]] = {}
        self._busy_lock = threading.Lock()

    def submit(self, job: Job) -> Future[Any]:
        # Running: it can no longer be cancelled (a caller that stops waiting,
        # e.g. an event loop's cancelled task, does not stop the command).
        job.future.set_running_or_notify_cancel()
        if not self._enqueue(job):
            msg = "The ledger is closed."
            raise StorageUnavailableError(msg)
        return job.future

    # ------------------------------------------------------------ the thread

    def _run(self) -> None:
        stopping = False
        while True:
            if stopping:
                # Closing: done once no ticket is busy (a conflict's retry or a
                # waiting job may still come round).
                with self._busy_lock:
                    if not self._waiting:
                        return
                try:
                    items = [self._queue.get(timeout=0.05)]
                except queue.Empty:
                    continue
            else:
                items = [self._queue.get()]
            while True:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            ready: list[Job] = []
            for item in items:
                if item is STOP:
                    stopping = True
                elif isinstance(item, _Again):
                    ready.append(item.job)
                else:
                    with self._busy_lock:
                        waiting = self._waiting.get(item.aggregate_id)
                        if waiting is None:
                            self._waiting[item.aggregate_id] = deque()
                            ready.append(item)
                        else:
                            waiting.append(item)
            loaded = self._preload(ready)
            for job in ready:
                self._step(job, loaded.pop(job.aggregate_id, None))

    def _preload(self, jobs: list[Job]) -> dict[UUID, Any]:
        """The stored tickets the jobs need (not cached, or to reload), read
        together when there are several; a failure leaves each job to load its
        own (and meet the failure itself)."""
        wanted = [
            j.aggregate_id
            for j in jobs
            if j.load is None and (j.reload or self._cache.get(j.aggregate_id) is None)
        ]
        if len(wanted) < 2 or self._load_many is None:
            return {}
        try:
            return self._load_many(wanted)
        except Exception:  # noqa: BLE001 - each job loads alone and answers what it meets
            log.debug("loading %d tickets together failed", len(wanted), exc_info=True)
            return {}

    def _step(self, job: Job, loaded: Any = None) -> None:
        """Loads and runs one job's command and hands the ticket to the committer
        (whose saves fail through the future, not here); the ticket is busy until
        ``_finish`` frees it."""
        ticket = loaded
        if ticket is None and not job.reload and job.load is None:
            ticket = self._cache.get(job.aggregate_id)
        fresh = ticket is None or ticket is loaded
        try:
            if ticket is None:
                ticket = (job.load or self._load)(job.aggregate_id)
            if job.check is not None:
                job.check()
                job.check = None
            if job.expected_version is not None and ticket.version != job.expected_version:
                msg = (
                    f"{job.named()} is at version {ticket.version}, "
                    f"not {job.expected_version}."
                )
                raise StaleVersionError(msg, ticket.version)
            job.companions.clear()
            assignment = job.command(ticket)
            # Nothing to record (an update that changes nothing): no save.
            saving = self._submit(ticket, *job.companions) if ticket.pending_events else None
        except LedgerError as e:
            self._cache.evict(job.aggregate_id)
            if fresh or isinstance(e, StorageUnavailableError):
                self._finish(job, error=e)
            else:
                # Judged on a cached copy: judge again on the stored state.
                job.reload = True
                self._step(job)
            return
        except BaseException as e:  # noqa: BLE001 - the job's caller gets it; the thread goes on
            self._cache.evict(job.aggregate_id)
            self._finish(job, error=e)
            return
        if saving is None:
            self._saved(job, ticket, assignment, None)
            return
        saving.add_done_callback(lambda f: self._saved(job, ticket, assignment, f))

    def _saved(
        self, job: Job, ticket: Any, assignment: Any, saving: Future[Any] | None
    ) -> None:
        """On the committer's thread (or this one, when nothing was saved):
        answers the job, or sends it round again."""
        try:
            with self._errors():
                recordings = saving.result() if saving is not None else []
            # Answered before the ticket is freed: the next command may change it.
            result = (job.answer or self._answer)(ticket, assignment, recordings)
        except BaseException as e:
            error = e
        else:
            if job.load is None:
                self._cache.put(job.aggregate_id, ticket)
            self._finish(job, result=result)
            return
        self._cache.evict(job.aggregate_id)
        if isinstance(error, RecordConflictError):
            job.conflicts += 1
            if job.conflicts < (job.retries or self._retries):
                job.reload = True
                self._queue.put(_Again(job))
                return
            msg = f"{job.named()} kept changing; the command was not recorded."
            error = ConcurrentUpdateError(msg)
        self._finish(job, error=error)

    def _finish(self, job: Job, *, result: Any = None, error: BaseException | None = None) -> None:
        # Free the ticket (or hand it to its next job) before answering: a caller
        # that sends its next command on the ticket as soon as it has the answer
        # finds it queued behind nothing.
        with self._busy_lock:
            waiting = self._waiting[job.aggregate_id]
            if waiting:
                self._queue.put(_Again(waiting.popleft()))
            else:
                del self._waiting[job.aggregate_id]
        if error is None:
            job.future.set_result(result)
        else:
            job.future.set_exception(error)
