"""Webhook delivery: a background job that follows the event log for every
active endpoint, from each endpoint's durable position.

- One process at a time delivers (``ProcessLock`` "webhooks"); the others wait
  to take over (within a couple of seconds of the leader's death).
- Per endpoint, events go one at a time in position order: an event is retried
  (exponential back-off with jitter) until it succeeds, and the next waits.
  Endpoints run concurrently, over one pooled HTTP client.
- At least once: the position moves only after a 2xx, and is written in batches
  (with the delivery log) every few milliseconds, so a crash re-sends what was
  delivered since the last write, under the same ``webhook-id``.
- ``LEDGER_WEBHOOK_MAX_FAILURES`` failed attempts in a row deactivate the
  endpoint, through the ``Ledger`` (a ``Webhook.Deactivated`` event, actor
  ``system``).
- Commands never wait on any of this: the job reads the log the commands wrote.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import threading
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

import orjson

from ledger.webhook import SYSTEM
from ledger.webhook_targets import Resolver
from projections.locks import ProcessLock
from projections.tables import parse_ts, ts
from projections.webhook_store import Attempt, DeliveryState, WebhookStore
from projections.webhook_transport import Sender

log = logging.getLogger("ledger.webhooks")

#: Seconds an endpoint that has caught up waits after a wake-up before reading.
IDLE_READ_GAP = 0.01

_MESSAGE_NAMESPACE = uuid5(NAMESPACE_URL, "urn:assignment-ledger:webhook-message")


@dataclass
class DeliveryConfig:
    """How deliveries behave (``LEDGER_WEBHOOK_*``); read live, so a change applies
    at the next attempt."""

    allow_private: bool = False
    max_failures: int = 50
    retry_base: float = 1.0
    retry_max: float = 3600.0
    connect_timeout: float = 5.0
    request_timeout: float = 10.0
    log_days: float = 7.0
    poll_interval: float = 0.25
    flush_interval: float = 0.05
    page: int = 500
    connections: int = 100


def _now() -> str:
    return ts(datetime.now(UTC)) or ""


def message_id(webhook_id: str, position: int) -> str:
    """The ``webhook-id`` of an event to an endpoint: the same on every retry and
    after a restart, so a receiver can drop duplicates."""
    return f"msg_{uuid5(_MESSAGE_NAMESPACE, f'{webhook_id}:{position}').hex}"


def message(event: dict[str, Any]) -> bytes:
    """The body: the event's type, its time, and the event as ``GET /events`` shows it."""
    return orjson.dumps({"type": event["type"], "timestamp": event["recorded_at"],
                         "data": event})


def backoff(failures: int, base: float, cap: float, draw: float | None = None) -> float:
    """Seconds before the next attempt after ``failures`` in a row: doubling from
    ``base`` up to ``cap``, the second half of each step random (jitter)."""
    step = min(cap, base * 2 ** min(failures - 1, 60))
    return step / 2 + (random.random() if draw is None else draw) * step / 2  # noqa: S311


class _Stopped(Exception):
    """An endpoint's worker ends (deactivated after too many failures)."""


class WebhookDelivery:
    """The job: ``start()`` in a background thread, ``stop()`` to end it."""

    def __init__(
        self, ledger: Any, store: Any, events: Any, config: DeliveryConfig, *,
        resolve: Resolver | None = None,
    ) -> None:
        """``events``: ``projections.event_queries.EventQueries`` (the log as ``GET
        /events`` shows it); ``resolve``: a resolver for tests."""
        self.ledger = ledger
        self.store = store
        self.events = events
        self.config = config
        self.table = WebhookStore(store)
        self.resolve = resolve
        self.lock = ProcessLock(ledger.store, "webhooks")
        self.leading = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        #: Whether an endpoint is being delivered to (commits' wake-ups matter).
        self._delivering = False
        self._flushed: asyncio.Lock | None = None
        self._dirty: dict[str, DeliveryState] = {}
        self._attempts: list[Attempt] = []
        self._secrets: dict[str, str] = {}
        self._retired: dict[str, int] = {}

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="webhooks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.wake()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def wake(self, _position: int | None = None) -> None:
        """Look for new events now (the ledger calls this after each commit)."""
        if not self._delivering and not self._stop.is_set():
            # No endpoint to deliver to: the loop re-reads the endpoints every
            # poll interval whatever wakes it, and each wake-up would cost the
            # committing thread a hand-off to this loop's thread.
            return
        loop, event = self._loop, self._wake
        if loop is not None and event is not None:
            with contextlib.suppress(RuntimeError):  # the loop just closed
                loop.call_soon_threadsafe(event.set)

    def _run(self) -> None:
        self.ledger.add_listener(self.wake)
        try:
            while not self._stop.is_set():
                if not self.lock.acquire(blocking=False):
                    self._stop.wait(1.0)
                    continue
                try:
                    self.leading = True
                    log.info("this process now delivers webhooks")
                    asyncio.run(self._lead())
                except Exception:
                    log.exception("webhook delivery failed; starting again")
                    self._stop.wait(1.0)
                finally:
                    self.leading = False
                    self.lock.release()
        finally:
            self.ledger.remove_listener(self.wake)

    # ------------------------------------------------------------ leading

    async def _lead(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._flushed = asyncio.Lock()
        config = self.config
        sender = Sender(
            allow_private=lambda: self.config.allow_private,
            connect_timeout=config.connect_timeout, request_timeout=config.request_timeout,
            connections=config.connections, resolve=self.resolve,
        )
        workers: dict[str, tuple[_Endpoint, asyncio.Task[None]]] = {}
        flusher = asyncio.create_task(self._flushing())
        checked = purged = followed = 0.0
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                if now - checked > 2.0:
                    checked = now
                    if not await asyncio.to_thread(self.lock.check):
                        log.warning("lost the webhook delivery lock; following again")
                        return
                if now - purged > 3600.0:
                    purged = now
                    await asyncio.to_thread(self._purge)
                # Endpoints change rarely: read them once per poll interval, not
                # on every commit's wake-up (commands would pay for the queries).
                if now - followed >= config.poll_interval:
                    followed = now
                    await self._follow(workers, sender)
                    self._delivering = bool(workers)
                for endpoint, _task in workers.values():
                    endpoint.wake.set()
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        self._wake.wait(),
                        max(0.0, followed + config.poll_interval - time.monotonic()))
        finally:
            self._delivering = False
            for _endpoint, task in workers.values():
                task.cancel()
            await asyncio.gather(*(t for _e, t in workers.values()), return_exceptions=True)
            flusher.cancel()
            await asyncio.gather(flusher, return_exceptions=True)
            await self.flush()
            await sender.aclose()
            self._loop = self._wake = None

    async def _follow(
        self, workers: dict[str, tuple[_Endpoint, asyncio.Task[None]]], sender: Sender
    ) -> None:
        """Starts a worker per active endpoint, stops those of inactive ones, and
        hands the running ones their endpoint's latest configuration and secret."""
        rows, states, secrets = await asyncio.to_thread(self._endpoints)
        self._secrets = secrets
        active = {r["id"]: r for r in rows if r["active"]
                  and self._retired.get(r["id"], 0) < r["version"]}
        for webhook_id in [w for w in workers if w not in active]:
            _endpoint, task = workers.pop(webhook_id)
            task.cancel()
        for webhook_id, row in active.items():
            if webhook_id in workers:
                workers[webhook_id][0].row = row
                continue
            state = states.get(webhook_id) or DeliveryState(webhook_id, row["created_position"])
            if state.failures >= self.config.max_failures:  # activated again: a fresh start
                state.failures = 0
                state.next_attempt_at = None
            self.mark(state)
            endpoint = _Endpoint(self, row, state, sender)
            workers[webhook_id] = (endpoint, asyncio.create_task(endpoint.run()))

    def _endpoints(self) -> tuple[list[dict[str, Any]], dict[str, DeliveryState], dict[str, str]]:
        from projections.webhooks import WebhooksProjection

        rows = self.store.rows(
            WebhooksProjection.table,
            "SELECT id, url, event_types, active, version, created_position FROM webhooks")
        ids = [r["id"] for r in rows if r["active"]]
        return rows, self.table.states(ids), self.table.secrets(ids)

    def secret(self, webhook_id: str) -> str | None:
        return self._secrets.get(webhook_id)

    # ------------------------------------------------------------ state

    def mark(self, state: DeliveryState, attempt: Attempt | None = None) -> None:
        self._dirty[state.webhook_id] = state
        if attempt is not None:
            self._attempts.append(attempt)

    async def _flushing(self) -> None:
        while True:
            await asyncio.sleep(self.config.flush_interval)
            # Shielded: cancelling a save cannot stop its thread, which would go on
            # writing older positions and could land after the final flush, moving
            # an endpoint back (a takeover would then send an event twice). The
            # shielded save keeps the flush lock until written, so the final flush
            # waits for it.
            await asyncio.shield(self._flush_or_keep())

    async def _flush_or_keep(self) -> None:
        try:
            await self.flush()
        except Exception:  # noqa: BLE001 - kept for the next flush
            log.warning("could not record webhook deliveries; retrying", exc_info=True)

    async def flush(self) -> None:
        """Writes the positions and log entries gathered since the last flush
        (one flush at a time, so a position is never overwritten by an older one)."""
        if not self._dirty and not self._attempts:
            return
        async with self._flushed:
            states = [replace(s) for s in self._dirty.values()]
            attempts, self._attempts, self._dirty = self._attempts, [], {}
            try:
                await asyncio.to_thread(self.table.save, states, attempts)
            except BaseException:
                self._attempts[:0] = attempts
                for state in states:
                    self._dirty.setdefault(state.webhook_id, state)
                raise

    def _purge(self) -> None:
        before = ts(datetime.now(UTC) - timedelta(days=self.config.log_days))
        self.table.purge(before or "")

    async def give_up(self, endpoint: _Endpoint, error: str) -> None:
        """Deactivates an endpoint that failed too often, as an event."""
        await self.flush()
        webhook_id = endpoint.row["id"]
        reason = (f"{endpoint.state.failures} failed attempts in a row; the last: {error}")
        self._retired[webhook_id] = endpoint.row["version"]
        await asyncio.wrap_future(self.ledger.deactivate_webhook(
            UUID(webhook_id), reason=reason, actor=SYSTEM))
        log.warning("webhook %s deactivated: %s", webhook_id, reason)


class _Endpoint:
    """One endpoint's deliveries, one event at a time in position order."""

    def __init__(
        self, job: WebhookDelivery, row: dict[str, Any], state: DeliveryState, sender: Sender
    ) -> None:
        self.job = job
        self.row = row
        self.state = state
        self.sender = sender
        self.wake = asyncio.Event()

    async def run(self) -> None:
        job, state = self.job, self.state
        try:
            await self._wait_until(state.next_attempt_at)
            while True:
                try:
                    await self._step()
                except (_Stopped, asyncio.CancelledError):
                    raise
                except Exception:  # the store, most likely: the same events again later
                    log.warning("webhook %s: delivery interrupted; retrying",
                                state.webhook_id, exc_info=True)
                    await asyncio.sleep(job.config.poll_interval * 4)
        except _Stopped:
            return

    async def _step(self) -> None:
        """Delivers the next page of events, or waits for some."""
        job, state = self.job, self.state
        self.wake.clear()
        items, last, _more = await asyncio.to_thread(
            job.events.feed, after=state.position, limit=job.config.page,
            types=self.row["event_types"] or ())
        for event in items:
            await self._deliver(event)
        if last > state.position:
            state.position = last
            job.mark(state)
        elif not items:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), job.config.poll_interval * 4)
            # Commits come in bursts: one read for the burst, not one per commit.
            await asyncio.sleep(IDLE_READ_GAP)

    async def _wait_until(self, at: str | None) -> None:
        if at is None:
            return
        delay = (parse_ts(at) - datetime.now(UTC)).total_seconds()
        if delay > 0:
            await asyncio.sleep(min(delay, self.job.config.retry_max))

    async def _deliver(self, event: dict[str, Any]) -> None:
        job, state, config = self.job, self.state, self.job.config
        webhook_id = state.webhook_id
        body = message(event)
        mid = message_id(webhook_id, event["position"])
        # The failures in a row are all this event's (the position moves only on
        # a success, which clears them): a job started again, after a restart or
        # a takeover, numbers its attempts on from the saved count.
        attempt = state.failures
        while True:
            attempt += 1
            secret = job.secret(webhook_id)
            if secret is None:  # not read yet (the endpoint was registered just now)
                attempt -= 1
                await asyncio.sleep(config.poll_interval)
                continue
            outcome = await self.sender.send(self.row["url"], secret, mid, body)
            now = _now()
            if outcome.ok:
                state.position = event["position"]
                state.failures = 0
                state.last_success_at = now
                state.last_error = state.next_attempt_at = None
                job.mark(state, Attempt(webhook_id, event["position"], attempt,
                                         outcome.status_code, None, outcome.duration_ms, now))
                return
            state.failures += 1
            state.last_failure_at, state.last_error = now, outcome.error
            if state.failures >= config.max_failures:
                state.next_attempt_at = None
                job.mark(state, Attempt(webhook_id, event["position"], attempt,
                                         outcome.status_code, outcome.error,
                                         outcome.duration_ms, now))
                await job.give_up(self, outcome.error or "")
                raise _Stopped
            delay = backoff(state.failures, config.retry_base, config.retry_max)
            state.next_attempt_at = ts(datetime.now(UTC) + timedelta(seconds=delay))
            job.mark(state, Attempt(webhook_id, event["position"], attempt,
                                     outcome.status_code, outcome.error, outcome.duration_ms,
                                     now, state.next_attempt_at))
            await asyncio.sleep(delay)
