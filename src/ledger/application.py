"""The service layer: one eventsourcing ``Application`` for tickets and engineers."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import (
    InterfaceError,
    OperationalError,
    RecordConflictError,
    Recording,
    Transcoder,
)
from eventsourcing.persistence import (
    InternalError as PersistenceInternalError,
)

from ledger import appendonly
from ledger.autoassign import Pick
from ledger.cache import DEFAULT_SIZE, AggregateCache
from ledger.committer import GroupCommitter
from ledger.domain import Assignment, Engineer, Ticket, engineer_aggregate_id
from ledger.errors import (
    ApiKeyNotFoundError,
    EngineerExistsError,
    EngineerNotFoundError,
    InvalidReferenceError,
    PickOutdatedError,
    StorageUnavailableError,
    TicketExistsError,
    TicketNotFoundError,
)
from ledger.executor import CommandExecutor, Job
from ledger.hashchain import ChainingMapper, recorded_hash, stored_event_hash
from ledger.ids import new_id
from ledger.keys import ApiKey, new_token
from ledger.store import StoreConfig, parse_database_url
from ledger.transcoder import OrjsonTranscoder

T = TypeVar("T")


class InlineHooks(Protocol):
    def kwargs(self) -> dict[str, Any]:
        """The recorder's hooks (ledger.adapter), as ``save`` keyword arguments."""
        ...

    def failed_transaction(self, error: BaseException) -> bool:
        """Whether the save may be made again without the hooks (they failed it)."""
        ...


class InlineWriter(Protocol):
    """What ``Ledger.inline`` holds: around one save, hooks for the recorder's
    insert transaction, or None."""

    def session(self, events: Sequence[Any]) -> AbstractContextManager[InlineHooks | None]: ...

#: How often a command on a ticket that changed underneath it is re-run.
CONFLICT_RETRIES = 3


@dataclass(frozen=True)
class CommandResult:
    """What a command recorded: the ticket (or engineer), its new version and the
    global position of its last event."""

    aggregate_id: UUID
    version: int
    position: int
    assignment_id: UUID | None = None


def _recorded(aggregate: Any, recordings: Sequence[Recording[UUID]]) -> CommandResult:
    """What saving a new or changed aggregate recorded."""
    return CommandResult(aggregate.id, aggregate.version, recordings[-1].notification.id)


def _ticket_result(
    ticket: Ticket, assignment: Assignment | None, recordings: Sequence[Recording[UUID]]
) -> CommandResult:
    """What a ticket command recorded, with the assignment it acted on."""
    return CommandResult(
        ticket.id,
        ticket.version,
        recordings[-1].notification.id,
        assignment.id if assignment else None,
    )


def _project(aggregate: Any, events: Iterable[Any]) -> Any:
    """eventsourcing's ``project_aggregate`` without its per-event
    ``isinstance`` check against a runtime-checkable Protocol, which costs more
    than applying the event (every event of ours is an eventsourcing Event)."""
    for event in events:
        aggregate = event.mutate(aggregate)
    return aggregate


@contextmanager
def _storage_errors() -> Iterator[None]:
    try:
        yield
    except (OperationalError, InterfaceError) as e:
        msg = f"The event store is unavailable: {e}"
        raise StorageUnavailableError(msg) from e


class Ledger(Application[UUID]):
    """Records ticket assignments as events; every command goes through here."""

    name = "Ledger"
    # Not eventsourcing's aggregate cache (9.5.6 deep-copies a cached aggregate
    # outside its fast-forward lock: torn copies); our own, see ledger.cache.

    def __init__(
        self,
        database_url: str | StoreConfig,
        env: dict[str, str] | None = None,
        pool_size: int = 10,
        *,
        group_commit: bool = True,
        cache_size: int = DEFAULT_SIZE,
    ) -> None:
        """``group_commit``: concurrent commands share transactions (see
        ledger.committer); ``cache_size``: tickets kept between commands."""
        self.store = (
            database_url
            if isinstance(database_url, StoreConfig)
            else parse_database_url(database_url)
        )
        merged = self.store.eventsourcing_env(pool_size=pool_size)
        merged.update(env or {})
        self._listeners: list[Callable[[int], None]] = []
        #: Writes the read side's rows inside each save's own transaction, while
        #: set (by the read side of this process, on PostgreSQL; see
        #: ledger.adapter and projections.inline).
        self.inline: InlineWriter | None = None
        self._listeners_lock = threading.Lock()
        self._tickets: AggregateCache[UUID] = AggregateCache(cache_size)
        #: engineer id -> active, while ``cache_engineers(True)`` (see there).
        self._engineers: dict[str, bool] = {}
        self._engineers_cached = False
        self._engineers_epoch = 0  # counts deactivations seen (see engineer_changed)
        self._engineers_lock = threading.Lock()
        self._committer = (
            GroupCommitter(self.save, name="ledger-committer") if group_commit else None
        )
        #: Runs ticket commands on one thread, pipelined into group commit.
        self._executor = CommandExecutor(
            self.get_ticket,
            self._saving,
            _ticket_result,
            self._tickets,
            retries=CONFLICT_RETRIES,
            errors=_storage_errors,
            load_many=self._load_tickets,
        )
        for attempt in range(5):
            try:
                with _storage_errors():
                    super().__init__(env=merged)
                break
            except PersistenceInternalError:
                # Several processes starting at once race in eventsourcing's
                # CREATE OR REPLACE FUNCTION ("tuple concurrently updated").
                if attempt == 4:
                    raise
                time.sleep(0.05 * (attempt + 1))
        if merged.get("CREATE_TABLE", "y").lower() not in ("n", "no", "false", "0", "off"):
            with _storage_errors():
                appendonly.install(self.recorder, postgres=self.store.is_postgres)

    def construct_transcoder(self) -> Transcoder:
        transcoder = OrjsonTranscoder()
        self.register_transcodings(transcoder)
        return transcoder

    def construct_mapper(self) -> ChainingMapper:
        """Chains every event to its stream's previous one as it is stored."""
        return ChainingMapper(self.construct_transcoder(), lookup=self._stored_hash)

    def _stored_hash(self, originator_id: UUID, version: int) -> str | None:
        """The hash of a stored event (its content hash if it was stored unchained)."""
        with _storage_errors():
            found = self.recorder.select_events(
                originator_id, gt=version - 1, lte=version, limit=1
            )
        if not found:
            return None
        stored = found[0]
        # An event stored before chaining stands in by its content hash.
        return recorded_hash(stored.state) or stored_event_hash(
            originator_id, version, stored.topic, stored.state
        )

    # ------------------------------------------------------------ notifications

    def add_listener(self, listener: Callable[[int], None]) -> None:
        """Calls ``listener(position)`` after each commit made by this process."""
        with self._listeners_lock:
            self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[int], None]) -> None:
        with self._listeners_lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def save(self, *objs: Any, **kwargs: Any) -> list[Recording[UUID]]:
        """``Application.save``, in the inline projection's session when one is
        set (the read side's rows written in the insert's own transaction), then
        this process's listeners told the new position."""
        inline = self.inline
        if inline is None:
            recordings = self._save_once(objs, kwargs)
        else:
            events = [e for obj in objs for e in getattr(obj, "pending_events", (obj,))]
            with inline.session(events) as hook:
                if hook is None:
                    recordings = self._save_once(objs, kwargs)
                else:
                    pending = [(obj, list(obj.pending_events)) for obj in objs]
                    try:
                        recordings = self._save_once(objs, {**kwargs, **hook.kwargs()})
                    except Exception as e:
                        if not hook.failed_transaction(e):
                            raise
                        # The read side's part failed the transaction, so nothing
                        # was recorded: record the events alone (the hooks stand
                        # down); the runner projects them.
                        for obj, events in pending:
                            if not obj.pending_events:
                                obj.pending_events.extend(events)
                        recordings = self._save_once(objs, kwargs)
        for obj in objs:
            if isinstance(obj, Engineer):
                self.engineer_changed(obj.engineer_id, None)
        if recordings:
            position = recordings[-1].notification.id
            for listener in list(self._listeners):
                listener(position)
        return recordings

    def _save_once(self, objs: Sequence[Any], kwargs: dict[str, Any]) -> list[Recording[UUID]]:
        # The chain's new heads are kept only if the insert commits.
        with _storage_errors(), self.mapper.batch():
            return super().save(*objs, **kwargs)

    def close(self) -> None:
        self._executor.close()
        if self._committer is not None:
            self._committer.close()
        super().close()

    def _saving(self, aggregate: Ticket | Engineer | ApiKey) -> Future[list[Recording[UUID]]]:
        """Saves one aggregate (``Application.save``), in a transaction shared
        with concurrent commands when group commit is on; the future resolves
        once it is durable."""
        if self._committer is None:
            return self._save_now(aggregate)
        return self._committer.submit(aggregate)

    def _save_now(self, aggregate: Ticket | Engineer | ApiKey) -> Future[list[Recording[UUID]]]:
        """Without group commit: the save, in its own transaction, done."""
        saved: Future[list[Recording[UUID]]] = Future()
        try:
            saved.set_result(self.save(aggregate))
        except Exception as e:  # noqa: BLE001 - handed to the command's future
            saved.set_exception(e)
        return saved

    def commit_stats(self) -> dict[str, int] | None:
        """The group committer's counts (``GroupCommitter.stats``); None without
        group commit."""
        return self._committer.stats() if self._committer is not None else None

    def head(self) -> int:
        """The position of the last recorded event (0 when empty)."""
        with _storage_errors():
            return self.recorder.max_notification_id() or 0

    # ------------------------------------------------------------ loading

    def get_ticket(self, ticket_id: UUID, version: int | None = None) -> Ticket:
        try:
            with _storage_errors():
                ticket = self.repository.get(ticket_id, version=version, projector_func=_project)
        except AggregateNotFoundError:
            msg = f"Ticket {ticket_id} does not exist."
            raise TicketNotFoundError(msg) from None
        if not isinstance(ticket, Ticket):
            msg = f"Ticket {ticket_id} does not exist."
            raise TicketNotFoundError(msg)
        return ticket

    def _load_tickets(self, ticket_ids: list[UUID]) -> dict[UUID, Ticket]:
        """The stored tickets of these ids, the streams read in one query where
        the recorder can (ledger.adapter); rebuilt as ``get_ticket`` rebuilds
        one (``Repository.get`` without snapshots: we take none). Ids that are
        not tickets are left out."""
        select = getattr(self.recorder, "select_streams", None)
        if select is None:
            return {}
        with _storage_errors():
            streams = select(ticket_ids)
        tickets = {}
        for ticket_id, stored in streams.items():
            ticket = _project(None, map(self.mapper.to_domain_event, stored))
            if isinstance(ticket, Ticket):
                tickets[ticket_id] = ticket
        return tickets

    def get_engineer(self, engineer_id: str) -> Engineer:
        try:
            with _storage_errors():
                engineer = self.repository.get(
                    engineer_aggregate_id(engineer_id), projector_func=_project
                )
        except AggregateNotFoundError:
            msg = f"Engineer {engineer_id!r} is not registered."
            raise EngineerNotFoundError(msg) from None
        return engineer

    # ------------------------------------------------------------ API keys

    def create_api_key(
        self, *, name: str, role: str, actor: str
    ) -> Future[tuple[CommandResult, str]]:
        """Records a new key; its future holds the result and the raw token
        (shown once, never stored: the ``Issued`` event holds only its SHA-256)."""
        token = new_token()
        key = ApiKey.create(key_id=new_id(), name=name, role=role, token=token, actor=actor)
        created: Future[tuple[CommandResult, str]] = Future()

        def saved(saving: Future[list[Recording[UUID]]]) -> None:
            try:
                with _storage_errors():
                    recordings = saving.result()
            except BaseException as e:  # noqa: BLE001 - handed to the caller's future
                created.set_exception(e)
                return
            created.set_result((_recorded(key, recordings), token))

        self._saving(key).add_done_callback(saved)
        return created

    def get_api_key(self, key_id: UUID) -> ApiKey:
        try:
            with _storage_errors():
                key = self.repository.get(key_id, projector_func=_project)
        except AggregateNotFoundError:
            raise ApiKeyNotFoundError(f"API key {key_id} does not exist.") from None
        if not isinstance(key, ApiKey):
            raise ApiKeyNotFoundError(f"API key {key_id} does not exist.")
        return key

    def revoke_api_key(
        self, key_id: UUID, *, reason: str | None, actor: str
    ) -> Future[CommandResult]:
        return self._executor.submit(Job(
            key_id,
            lambda key: key.revoke(reason=reason, actor=actor),
            load=self.get_api_key,
            answer=lambda key, _none, recordings: _recorded(key, recordings),
            label=f"API key {key_id}",
        ))

    def has_api_keys(self) -> bool:
        """Whether any API key was ever created (revoked ones count), from the
        event store itself, so it needs no read tables."""
        from eventsourcing.utils import get_topic

        with _storage_errors():
            found = self.recorder.select_notifications(
                start=None, limit=1, topics=[get_topic(ApiKey.Issued)]
            )
        return bool(found)

    def cache_engineers(self, enabled: bool) -> None:
        """Whether ``require_active_engineer`` may answer from memory. Only a
        process that sees every Engineer change turns it on: the one whose
        projection runner leads (it calls ``engineer_changed`` for each committed
        engineer row, whoever recorded the event; this process's own saves
        evict at once). An engineer changed by another process is thus seen
        once the runner has folded it (milliseconds with PostgreSQL's
        LISTEN/NOTIFY; within the runner's poll interval on SQLite), the same
        kind of window as between a check and the save that follows it."""
        with self._engineers_lock:
            self._engineers_cached = enabled
            self._engineers.clear()

    def engineer_changed(self, engineer_id: str, active: bool | None) -> None:
        """An engineer's committed state: forgets a cached flag that differs
        (``None``: forget it anyway)."""
        with self._engineers_lock:
            if active is not True:
                # A load that began before this must not fill the cache.
                self._engineers_epoch += 1
            if self._engineers.get(engineer_id, active) != active or active is None:
                self._engineers.pop(engineer_id, None)

    def require_active_engineer(self, engineer_id: str) -> None:
        with self._engineers_lock:
            if self._engineers.get(engineer_id):
                return
            cached, epoch = self._engineers_cached, self._engineers_epoch
        try:
            engineer = self.get_engineer(engineer_id)
        except EngineerNotFoundError as e:
            raise InvalidReferenceError(e.detail) from None
        if not engineer.active:
            msg = f"Engineer {engineer_id!r} is inactive and cannot take assignments."
            raise InvalidReferenceError(msg)
        if cached:
            with self._engineers_lock:
                if self._engineers_cached and self._engineers_epoch == epoch:
                    self._engineers[engineer_id] = True

    # ------------------------------------------------------------ saving

    def _create(self, aggregate: Ticket | Engineer, exists: Exception) -> Future[CommandResult]:
        """Saves a new aggregate; ``exists`` is the error if its id is taken."""
        created: Future[CommandResult] = Future()

        def saved(saving: Future[list[Recording[UUID]]]) -> None:
            # On the committer's thread; the conflict's check reads the store,
            # but only an id already taken (or an in-doubt commit) comes here.
            try:
                with _storage_errors():
                    try:
                        result = _recorded(aggregate, saving.result())
                    except RecordConflictError:
                        if not self._is_ours(aggregate):
                            raise exists from None
                        # An insert whose commit was in doubt (the connection broke
                        # after COMMIT) was retried by the recorder and met its own row.
                        result = CommandResult(aggregate.id, aggregate.version, self.head())
            except BaseException as e:  # noqa: BLE001 - handed to the caller's future
                created.set_exception(e)
                return
            created.set_result(result)

        self._saving(aggregate).add_done_callback(saved)
        return created

    def _is_ours(self, aggregate: Ticket | Engineer) -> bool:
        """Whether the stored aggregate of this id is the one just created here:
        same type and version, created at the same microsecond with the same name."""
        try:
            with _storage_errors():
                stored = self.repository.get(aggregate.id, projector_func=_project)
        except AggregateNotFoundError:
            return False
        return (
            type(stored) is type(aggregate)
            and stored.version == aggregate.version
            and stored.created_on == aggregate.created_on
            and getattr(stored, "title", None) == getattr(aggregate, "title", None)
            and getattr(stored, "name", None) == getattr(aggregate, "name", None)
        )

    def _update_ticket(
        self,
        ticket_id: UUID,
        command: Callable[[Ticket], Assignment | None],
        expected_version: int | None,
        check: Callable[[], object] | None = None,
    ) -> Future[CommandResult]:
        """Loads (or takes from the cache), runs the command, saves. A concurrent
        write re-runs the command on the fresh state (its rules decide again),
        unless the client pinned a version with If-Match, which then answers as
        stale.

        Runs on the command thread (ledger.executor): commands on one ticket run
        one at a time in this process, until the save is durable. Only the stored
        state answers a refusal:
        a refusal (or a stale If-Match) judged on a cached ticket is judged again
        on a fresh load, in case another process changed the ticket.

        ``check`` runs once, after the ticket is known to exist and before the
        version check: an unknown ticket answers 404 before an unknown engineer's
        422, without the ticket being read twice."""
        if self._executor.on_own_thread():
            msg = "A ticket command cannot run inside another one."
            raise RuntimeError(msg)
        return self._executor.submit(Job(ticket_id, command, expected_version, check))

    # ------------------------------------------------------------ engineers

    def register_engineer(
        self,
        *,
        engineer_id: str,
        name: str,
        actor: str,
        skills: list[str] | None = None,
        tier: int = 1,
        capacity: int = 1,
        availability: float = 1.0,
        timestamp: datetime | None = None,
    ) -> Future[CommandResult]:
        engineer = Engineer.register(
            engineer_id=engineer_id,
            name=name,
            skills=skills,
            tier=tier,
            capacity=capacity,
            availability=availability,
            actor=actor,
            timestamp=timestamp,
        )
        exists = EngineerExistsError(f"Engineer id {engineer_id!r} is already taken.")
        return self._create(engineer, exists)

    def update_engineer(
        self, engineer_id: str, *, changes: dict[str, Any], actor: str
    ) -> Future[CommandResult | None]:
        """Records an update; ``None`` when nothing actually changed."""
        return self._executor.submit(Job(
            engineer_aggregate_id(engineer_id),
            lambda engineer: engineer.update(changes=changes, actor=actor),
            load=lambda _id: self.get_engineer(engineer_id),
            answer=lambda engineer, _changed, recordings: (
                _recorded(engineer, recordings) if recordings else None
            ),
            label=f"Engineer {engineer_id!r}",
        ))

    # ------------------------------------------------------------ tickets

    def open_ticket(
        self,
        *,
        title: str,
        actor: str,
        ticket_id: UUID | None = None,
        description: str | None = None,
        priority: str = "medium",
        required_skill: str | None = None,
        equipment_id: str | None = None,
        reference: str | None = None,
        timestamp: datetime | None = None,
    ) -> Future[CommandResult]:
        ticket = Ticket.open(
            ticket_id=ticket_id or new_id(),
            title=title,
            description=description,
            priority=priority,
            required_skill=required_skill,
            equipment_id=equipment_id,
            reference=reference,
            actor=actor,
            timestamp=timestamp,
        )
        exists = TicketExistsError(f"Ticket id {ticket.id} is already taken.")
        return self._create(ticket, exists)

    def close_ticket(
        self,
        ticket_id: UUID,
        *,
        reason: str | None,
        actor: str,
        expected_version: int | None = None,
    ) -> Future[CommandResult]:
        return self._update_ticket(
            ticket_id,
            lambda t: t.close(reason=reason, actor=actor),
            expected_version,
        )

    def reopen_ticket(
        self,
        ticket_id: UUID,
        *,
        reason: str | None,
        actor: str,
        expected_version: int | None = None,
    ) -> Future[CommandResult]:
        return self._update_ticket(
            ticket_id,
            lambda t: t.reopen(reason=reason, actor=actor),
            expected_version,
        )

    # ------------------------------------------------------------ assignments

    def assign(
        self,
        ticket_id: UUID,
        *,
        engineer_id: str,
        tier: int,
        actor: str,
        tier_name: str | None = None,
        reason: str | None = None,
        assignment_type: str = "manual",
        equipment_id: str | None = None,
        expected_version: int | None = None,
    ) -> Future[CommandResult]:
        assignment_id = new_id()
        return self._update_ticket(
            ticket_id,
            lambda t: t.assign(
                assignment_id=assignment_id,
                engineer_id=engineer_id,
                tier=tier,
                tier_name=tier_name,
                reason=reason,
                assignment_type=assignment_type,
                equipment_id=equipment_id,
                actor=actor,
            ),
            expected_version,
            check=lambda: self.require_active_engineer(engineer_id),
        )

    def escalate(
        self,
        ticket_id: UUID,
        *,
        next_engineer_id: str,
        reason: str,
        actor: str,
        next_tier_name: str | None = None,
        expected_version: int | None = None,
    ) -> Future[CommandResult]:
        new_assignment = new_id()
        return self._update_ticket(
            ticket_id,
            lambda t: t.escalate(
                new_assignment_id=new_assignment,
                next_engineer_id=next_engineer_id,
                reason=reason,
                next_tier_name=next_tier_name,
                actor=actor,
            ),
            expected_version,
            check=lambda: self.require_active_engineer(next_engineer_id),
        )

    def reassign(
        self,
        ticket_id: UUID,
        assignment_id: UUID,
        *,
        new_engineer_id: str,
        reason: str | None,
        actor: str,
        expected_version: int | None = None,
    ) -> Future[CommandResult]:
        new_assignment = new_id()
        return self._update_ticket(
            ticket_id,
            lambda t: t.reassign(
                assignment_id,
                new_assignment_id=new_assignment,
                new_engineer_id=new_engineer_id,
                reason=reason,
                actor=actor,
            ),
            expected_version,
            check=lambda: self.require_active_engineer(new_engineer_id),
        )

    def accept(
        self,
        ticket_id: UUID,
        assignment_id: UUID,
        *,
        actor: str,
        expected_version: int | None = None,
    ) -> Future[CommandResult]:
        return self._update_ticket(
            ticket_id, lambda t: t.accept(assignment_id, actor=actor), expected_version
        )

    def reject(
        self,
        ticket_id: UUID,
        assignment_id: UUID,
        *,
        reason: str | None,
        actor: str,
        expected_version: int | None = None,
    ) -> Future[CommandResult]:
        return self._update_ticket(
            ticket_id,
            lambda t: t.reject(assignment_id, reason=reason, actor=actor),
            expected_version,
        )

    def start(
        self,
        ticket_id: UUID,
        assignment_id: UUID,
        *,
        actor: str,
        expected_version: int | None = None,
    ) -> Future[CommandResult]:
        return self._update_ticket(
            ticket_id, lambda t: t.start(assignment_id, actor=actor), expected_version
        )

    def complete(
        self,
        ticket_id: UUID,
        assignment_id: UUID,
        *,
        actor: str,
        expected_version: int | None = None,
        **outcome: Any,
    ) -> Future[CommandResult]:
        """``outcome``: the fields of ``Ticket.Completed`` (completion_status,
        time_spent_hours, diagnosis, ...), declared there once."""
        return self._update_ticket(
            ticket_id,
            lambda t: t.complete(assignment_id, actor=actor, **outcome),
            expected_version,
        )

    def remove(
        self,
        ticket_id: UUID,
        assignment_id: UUID,
        *,
        reason: str | None,
        actor: str,
        expected_version: int | None = None,
    ) -> Future[CommandResult]:
        return self._update_ticket(
            ticket_id,
            lambda t: t.remove(assignment_id, reason=reason, actor=actor),
            expected_version,
        )

    def auto_assign(
        self,
        ticket_id: UUID,
        *,
        pick: Pick,
        picked_at_version: int,
        actor: str,
        tier_name: str | None = None,
        expected_version: int | None = None,
    ) -> Future[CommandResult]:
        """Assigns the engineer of ``pick`` (type ``auto``, the pick's reason
        recorded). The pick was made beforehand, off the command thread, on the
        ticket at ``picked_at_version`` and the read side's roster. The job
        checks the ticket's rules (closed, resolved, active assignment: 409),
        then that the pick still stands: the ticket is still at that version and
        the engineer still active, else ``PickOutdatedError`` (409; the caller
        may choose again)."""
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
                raise PickOutdatedError(f"The engineer picked is no longer eligible: {e.detail}") from None
            return t.assign(
                assignment_id=assignment_id,
                engineer_id=pick.engineer_id,
                tier=pick.tier,
                tier_name=tier_name,
                reason=pick.reason,
                assignment_type="auto",
                actor=actor,
            )

        return self._update_ticket(ticket_id, command, expected_version)
