"""The write pipeline: commands run one at a time per ticket on the command
thread (``ledger.executor``), their saves batched into shared transactions by
the group committer (``ledger.committer``), tickets kept between commands in
a version-checked cache (``ledger.cache``). Every write of the ``Ledger`` goes
through here and returns a future of what it recorded."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.persistence import RecordConflictError, Recording

from ledger.cache import AggregateCache
from ledger.committer import GroupCommitter
from ledger.executor import CommandExecutor, Job, Load, LoadMany
from ledger.results import CommandResult, recorded, ticket_result
from ledger.storage import storage_errors

A = TypeVar("A")
B = TypeVar("B")

#: How often a command on a ticket that changed underneath it is re-run.
CONFLICT_RETRIES = 3


def then(source: Future[A], answer: Callable[[A], B]) -> Future[B]:
    """A future of ``answer(result)`` once ``source`` has its result (or of
    its error, or of what ``answer`` raised)."""
    done: Future[B] = Future()

    def resolve(f: Future[A]) -> None:
        try:
            value = answer(f.result())
        except BaseException as e:  # noqa: BLE001 - handed to the caller's future
            done.set_exception(e)
            return
        done.set_result(value)

    source.add_done_callback(resolve)
    return done


class WritePipeline:
    def __init__(
        self,
        save: Callable[..., list[Recording[UUID]]],
        load_ticket: Load,
        load_tickets: LoadMany,
        *,
        cache_size: int,
        group_commit: bool,
    ) -> None:
        """``save``: the application's ``save``; ``group_commit``: concurrent
        commands share transactions; ``cache_size``: tickets kept."""
        self._save = save
        self.tickets: AggregateCache[UUID] = AggregateCache(cache_size)
        self._committer = (
            GroupCommitter(save, name="ledger-committer") if group_commit else None
        )
        self._executor = CommandExecutor(
            load_ticket,
            self.saving,
            ticket_result,
            self.tickets,
            retries=CONFLICT_RETRIES,
            errors=storage_errors,
            load_many=load_tickets,
        )

    def submit(self, job: Job) -> Future[Any]:
        """Runs a command on the command thread (see ``ledger.executor``)."""
        if self._executor.on_own_thread():
            msg = "A command cannot run inside another one."
            raise RuntimeError(msg)
        return self._executor.submit(job)

    def enqueue(self, job: Job) -> Future[Any]:
        """As ``submit``, from any thread, the command thread included (a
        callback of another command's future): it only queues the job, and
        nothing here waits for it."""
        return self._executor.submit(job)

    def saving(self, aggregate: Any, *companions: Any) -> Future[list[Recording[UUID]]]:
        """Saves one aggregate (with its ``companions``, atomically), in a
        transaction shared with concurrent commands when group commit is on; the
        future resolves once it is durable."""
        if self._committer is not None:
            return self._committer.submit(aggregate, *companions)
        saved: Future[list[Recording[UUID]]] = Future()
        try:
            saved.set_result(self._save(aggregate, *companions))
        except Exception as e:  # noqa: BLE001 - handed to the command's future
            saved.set_exception(e)
        return saved

    def create(
        self,
        aggregate: Any,
        *,
        exists: Exception,
        is_ours: Callable[[Any], bool],
        head: Callable[[], int],
    ) -> Future[CommandResult]:
        """Saves a new aggregate; ``exists`` is the error if its id is taken,
        unless the stored one ``is_ours`` (an insert whose commit was in doubt,
        retried by the recorder, met its own row)."""
        created: Future[CommandResult] = Future()

        def saved(saving: Future[list[Recording[UUID]]]) -> None:
            # On the committer's thread; the conflict's check reads the store,
            # but only an id already taken (or an in-doubt commit) comes here.
            try:
                with storage_errors():
                    try:
                        result = recorded(aggregate, saving.result())
                    except RecordConflictError:
                        if not is_ours(aggregate):
                            raise exists from None
                        result = CommandResult(aggregate.id, aggregate.version, head())
            except BaseException as e:  # noqa: BLE001 - handed to the caller's future
                created.set_exception(e)
                return
            created.set_result(result)

        self.saving(aggregate).add_done_callback(saved)
        return created

    def stats(self) -> dict[str, int] | None:
        """The group committer's counts (``GroupCommitter.stats``); None without
        group commit."""
        return self._committer.stats() if self._committer is not None else None

    def close(self) -> None:
        self._executor.close()
        if self._committer is not None:
            self._committer.close()
