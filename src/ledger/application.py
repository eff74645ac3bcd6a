"""The service layer: one eventsourcing ``Application`` for tickets, engineers
and API keys. Each write command is one method that returns a future of what it
recorded (``CommandResult``): a route awaits it (``asyncio.wrap_future``), the
CLI and tests call ``.result()``. The commands run through the write pipeline
(``ledger.pipeline``)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import Recording, Transcoder
from eventsourcing.utils import get_topic

from ledger import appendonly
from ledger.assignment import Assignment
from ledger.autoassign import Pick
from ledger.cache import DEFAULT_SIZE
from ledger.dispatch_commands import DispatchCommands
from ledger.engineer import Engineer, engineer_aggregate_id
from ledger.engineer_gate import ActiveEngineers
from ledger.errors import (
    ApiKeyNotFoundError,
    EngineerExistsError,
    EngineerNotFoundError,
    InvalidReferenceError,
    PickOutdatedError,
    TicketExistsError,
    TicketNotFoundError,
)
from ledger.executor import Job
from ledger.hashchain import ChainingMapper, recorded_hash, stored_event_hash
from ledger.ids import new_id
from ledger.inline_hooks import InlineHooks, InlineWriter, save_inline
from ledger.keys import ApiKey, new_token
from ledger.pipeline import WritePipeline, then
from ledger.qualification import EngineerFacts
from ledger.results import CommandResult, recorded
from ledger.storage import project, start, storage_errors
from ledger.store import StoreConfig, parse_database_url
from ledger.ticket import Ticket
from ledger.ticket_commands import TicketDetailCommands
from ledger.transcoder import OrjsonTranscoder
from ledger.webhook_commands import WebhookCommands

__all__ = ["CommandResult", "InlineHooks", "InlineWriter", "Ledger"]


class Ledger(DispatchCommands, TicketDetailCommands, WebhookCommands, Application[UUID]):
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
        self._listeners_lock = threading.Lock()
        #: Writes the read side's rows inside each save's own transaction, while
        #: set (by the read side of this process, on PostgreSQL; see
        #: ledger.adapter and projections.inline).
        self.inline: InlineWriter | None = None
        self._engineers = ActiveEngineers(self.get_engineer)
        self._pipeline = WritePipeline(
            self.save, self.get_ticket, self._load_tickets,
            cache_size=cache_size, group_commit=group_commit,
        )
        start(lambda: super(Ledger, self).__init__(env=merged))
        if merged.get("CREATE_TABLE", "y").lower() not in ("n", "no", "false", "0", "off"):
            with storage_errors():
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
        with storage_errors():
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

    def close(self) -> None:
        self._pipeline.close()
        super().close()

    # ------------------------------------------------------------ saving

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
            recordings = save_inline(inline, objs, kwargs, self._save_once)
        for obj in objs:
            if isinstance(obj, Engineer):
                self._engineers.changed(obj.engineer_id, None)
        if recordings:
            position = recordings[-1].notification.id
            for listener in list(self._listeners):
                listener(position)
        return recordings

    def _save_once(self, objs: Sequence[Any], kwargs: dict[str, Any]) -> list[Recording[UUID]]:
        # The chain's new heads are kept only if the insert commits.
        with storage_errors(), self.mapper.batch():
            return super().save(*objs, **kwargs)

    def commit_stats(self) -> dict[str, int] | None:
        """The group committer's counts; None without group commit."""
        return self._pipeline.stats()

    def head(self) -> int:
        """The position of the last recorded event (0 when empty)."""
        with storage_errors():
            return self.recorder.max_notification_id() or 0

    # ------------------------------------------------------------ loading

    def _get(self, aggregate_id: UUID, version: int | None = None) -> Any:
        with storage_errors():
            return self.repository.get(aggregate_id, version=version, projector_func=project)

    def get_ticket(self, ticket_id: UUID, version: int | None = None) -> Ticket:
        try:
            ticket = self._get(ticket_id, version)
        except AggregateNotFoundError:
            ticket = None
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
        with storage_errors():
            streams = select(ticket_ids)
        tickets = {}
        for ticket_id, stored in streams.items():
            ticket = project(None, map(self.mapper.to_domain_event, stored))
            if isinstance(ticket, Ticket):
                tickets[ticket_id] = ticket
        return tickets

    def get_engineer(self, engineer_id: str) -> Engineer:
        try:
            return self._get(engineer_aggregate_id(engineer_id))  # type: ignore[no-any-return]
        except AggregateNotFoundError:
            msg = f"Engineer {engineer_id!r} is not registered."
            raise EngineerNotFoundError(msg) from None

    def get_api_key(self, key_id: UUID) -> ApiKey:
        try:
            key = self._get(key_id)
        except AggregateNotFoundError:
            key = None
        if not isinstance(key, ApiKey):
            raise ApiKeyNotFoundError(f"API key {key_id} does not exist.")
        return key

    def has_api_keys(self) -> bool:
        """Whether any API key was ever created (revoked ones count), from the
        event store itself, so it needs no read tables."""
        with storage_errors():
            found = self.recorder.select_notifications(
                start=None, limit=1, topics=[get_topic(ApiKey.Issued)]
            )
        return bool(found)

    # ------------------------------------------------------------ engineer checks

    def cache_engineers(self, enabled: bool) -> None:
        """Whether ``require_active_engineer`` may answer from memory (see
        ``ActiveEngineers.cache``: only the process whose runner leads)."""
        self._engineers.cache(enabled)

    def engineer_changed(self, engineer_id: str, facts: EngineerFacts | None) -> None:
        """An engineer's committed facts, as the leading runner folded them."""
        self._engineers.changed(engineer_id, facts)

    def require_active_engineer(self, engineer_id: str) -> EngineerFacts:
        """Refuses (``InvalidReferenceError``) an unknown or inactive engineer;
        else their facts, from the Engineer aggregate (``ledger.engineer_gate``)."""
        return self._engineers.require(engineer_id)

    # ------------------------------------------------------------ writing

    def _record_new(self, aggregate: Ticket | Engineer, exists: Exception) -> Future[CommandResult]:
        return self._pipeline.create(aggregate, exists=exists, is_ours=self._is_ours,
                                     head=self.head)

    def _is_ours(self, aggregate: Ticket | Engineer) -> bool:
        """Whether the stored aggregate of this id is the one just created here:
        same type and version, created at the same microsecond with the same name."""
        try:
            stored = self._get(aggregate.id)
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
        """Loads (or takes from the cache), runs the command, saves, on the
        command thread (ledger.executor). A concurrent write re-runs the command
        on the fresh state (its rules decide again), unless the client pinned a
        version with If-Match, which then answers as stale. ``check`` runs
        once, after the ticket is known to exist and before the version check:
        an unknown ticket answers 404 before an unknown engineer's 422."""
        return self._pipeline.submit(Job(ticket_id, command, expected_version, check))

    # ------------------------------------------------------------ API keys

    def create_api_key(
        self, *, name: str, role: str, actor: str
    ) -> Future[tuple[CommandResult, str]]:
        """Records a new key; its future holds the result and the raw token
        (shown once, never stored: the ``Issued`` event holds only its SHA-256)."""
        token = new_token()
        key = ApiKey.create(key_id=new_id(), name=name, role=role, token=token, actor=actor)
        return then(self._pipeline.saving(key), lambda saved: (recorded(key, saved), token))

    def revoke_api_key(
        self, key_id: UUID, *, reason: str | None, actor: str
    ) -> Future[CommandResult]:
        return self._pipeline.submit(Job(
            key_id, lambda key: key.revoke(reason=reason, actor=actor),
            load=self.get_api_key, answer=lambda key, _none, saved: recorded(key, saved),
            label=f"API key {key_id}",
        ))

    # ------------------------------------------------------------ engineers
    # ``fields``, here and below: the event's own fields beyond what the command
    # names (name, tier, reason, completion_status, ...), declared once on the
    # event class; the aggregate method passes them to it unchanged.

    def register_engineer(
        self, *, engineer_id: str, actor: str, timestamp: datetime | None = None,
        via: str | None = None, **fields: Any,
    ) -> Future[CommandResult]:
        engineer = Engineer.register(
            engineer_id=engineer_id, actor=actor, timestamp=timestamp, via=via, **fields
        )
        return self._record_new(
            engineer, EngineerExistsError(f"Engineer id {engineer_id!r} is already taken.")
        )

    def update_engineer(
        self, engineer_id: str, *, changes: dict[str, Any], actor: str,
        expected_version: int | None = None, timestamp: datetime | None = None,
        via: str | None = None, **fields: Any,
    ) -> Future[CommandResult | None]:
        """Records an update; ``None`` when nothing actually changed. A stale
        ``expected_version`` (If-Match) fails as a ticket command's does (412)."""
        return self._pipeline.submit(Job(
            engineer_aggregate_id(engineer_id),
            lambda engineer: engineer.update(
                changes=changes, actor=actor, timestamp=timestamp, via=via, **fields
            ),
            expected_version,
            load=lambda _id: self.get_engineer(engineer_id),
            answer=lambda engineer, _changed, saved: recorded(engineer, saved) if saved else None,
            label=f"Engineer {engineer_id!r}",
        ))

    # ------------------------------------------------------------ tickets

    def open_ticket(
        self, *, actor: str, ticket_id: UUID | None = None, timestamp: datetime | None = None,
        via: str | None = None, **fields: Any,
    ) -> Future[CommandResult]:
        ticket = Ticket.open(
            ticket_id=ticket_id or new_id(), actor=actor, timestamp=timestamp, via=via, **fields
        )
        return self._record_new(
            ticket, TicketExistsError(f"Ticket id {ticket.id} is already taken.")
        )

    def close_ticket(
        self, ticket_id: UUID, *, actor: str, expected_version: int | None = None,
        timestamp: datetime | None = None, via: str | None = None, **fields: Any,
    ) -> Future[CommandResult]:
        return self._update_ticket(
            ticket_id,
            lambda t: t.close(actor=actor, timestamp=timestamp, via=via, **fields),
            expected_version,
        )

    def reopen_ticket(
        self, ticket_id: UUID, *, actor: str, expected_version: int | None = None,
        timestamp: datetime | None = None, via: str | None = None, **fields: Any,
    ) -> Future[CommandResult]:
        return self._update_ticket(
            ticket_id,
            lambda t: t.reopen(actor=actor, timestamp=timestamp, via=via, **fields),
            expected_version,
        )

    # ------------------------------------------------------------ assignments

    def accept(
        self, ticket_id: UUID, assignment_id: UUID, *, actor: str,
        expected_version: int | None = None, timestamp: datetime | None = None,
        via: str | None = None, **fields: Any,
    ) -> Future[CommandResult]:
        return self._update_ticket(
            ticket_id,
            lambda t: t.accept(assignment_id, actor=actor, timestamp=timestamp, via=via, **fields),
            expected_version,
        )

    def reject(
        self, ticket_id: UUID, assignment_id: UUID, *, actor: str,
        expected_version: int | None = None, timestamp: datetime | None = None,
        via: str | None = None, **fields: Any,
    ) -> Future[CommandResult]:
        return self._update_ticket(
            ticket_id,
            lambda t: t.reject(assignment_id, actor=actor, timestamp=timestamp, via=via, **fields),
            expected_version,
        )

    def start(
        self, ticket_id: UUID, assignment_id: UUID, *, actor: str,
        expected_version: int | None = None, timestamp: datetime | None = None,
        via: str | None = None, **fields: Any,
    ) -> Future[CommandResult]:
        return self._update_ticket(
            ticket_id,
            lambda t: t.start(assignment_id, actor=actor, timestamp=timestamp, via=via, **fields),
            expected_version,
        )

    def complete(
        self, ticket_id: UUID, assignment_id: UUID, *, actor: str,
        expected_version: int | None = None, timestamp: datetime | None = None,
        via: str | None = None, **fields: Any,
    ) -> Future[CommandResult]:
        return self._update_ticket(
            ticket_id,
            lambda t: t.complete(
                assignment_id, actor=actor, timestamp=timestamp, via=via, **fields
            ),
            expected_version,
        )

    def remove(
        self, ticket_id: UUID, assignment_id: UUID, *, actor: str,
        expected_version: int | None = None, timestamp: datetime | None = None,
        via: str | None = None, **fields: Any,
    ) -> Future[CommandResult]:
        return self._update_ticket(
            ticket_id,
            lambda t: t.remove(assignment_id, actor=actor, timestamp=timestamp, via=via, **fields),
            expected_version,
        )

    def auto_assign(
        self, ticket_id: UUID, *, pick: Pick, picked_at_version: int, actor: str,
        expected_version: int | None = None, **fields: Any,
    ) -> Future[CommandResult]:
        """Assigns the engineer of ``pick`` (type ``auto``, the pick's reason
        recorded; ``fields``: ``Assigned``'s others, such as ``tier_name``). The
        pick was made beforehand, off the command thread, on the ticket at
        ``picked_at_version`` and the read side's roster. The job checks the
        ticket's rules (closed, resolved, active assignment: 409), then that the
        pick still stands: the ticket is still at that version and the engineer
        still active, else ``PickOutdatedError`` (409; the caller may choose again)."""
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
            return t.assign(
                assignment_id=assignment_id, engineer_id=pick.engineer_id, tier=pick.tier,
                reason=pick.reason, assignment_type="auto", actor=actor, **fields,
            )

        return self._update_ticket(ticket_id, command, expected_version)
