"""Fail fast while the database is down.

Without this, every request during an outage would sit in the storage layer's
own retries (eventsourcing retries a failed statement ten times, each waiting
for a pooled connection) before its 503, and enough of them would exhaust the
worker threads, so that even ``/healthz`` stopped answering.

``StorageGate`` is tripped by every storage failure (the 503 handlers call
``problems.storage_failed``). While it is tripped, requests get an immediate 503
problem+json with ``Retry-After``; after ``hold`` seconds, ONE request first
pings both stores (the probe): if they answer, the gate is cleared and that
request and all later ones proceed; if not, it is answered 503 and the gate
stays tripped. So the service recovers by itself, within about ``hold``
seconds of the database coming back. ``/healthz`` (liveness) is never gated.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import anyio
from starlette.requests import Request

from api import problems
from ledger.errors import StorageUnavailableError

log = logging.getLogger("ledger.api")

#: Paths answered even while the gate is tripped (the process itself is alive).
UNGATED = frozenset({"/healthz"})


class StorageGate:
    """Whether storage is believed reachable, and who may probe it."""

    def __init__(
        self, hold: float = 1.0, probe_limit: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.hold = hold
        self.probe_limit = probe_limit
        self.clock = clock
        self._lock = threading.Lock()
        self._tripped = False
        self._retry_at = 0.0
        self._probe_started: float | None = None

    @property
    def tripped(self) -> bool:
        return self._tripped

    def trip(self) -> None:
        with self._lock:
            if not self._tripped:
                log.warning("storage unavailable: answering 503 until it responds again")
            self._tripped = True
            self._retry_at = self.clock() + self.hold

    def admit(self) -> str:
        """``"pass"`` (healthy), ``"probe"`` (this request pings storage first) or
        ``"refuse"``."""
        with self._lock:
            if not self._tripped:
                return "pass"
            now = self.clock()
            probing = self._probe_started is not None and now - self._probe_started < (
                self.probe_limit)
            if now < self._retry_at or probing:
                return "refuse"
            self._probe_started = now
            return "probe"

    def probed(self, ok: bool) -> None:
        with self._lock:
            self._probe_started = None
            if ok:
                if self._tripped:
                    log.warning("storage reachable again")
                self._tripped = False
            else:
                self._tripped = True
                self._retry_at = self.clock() + self.hold


def ping(services: Any) -> None:
    """One cheap read from the event store and one from the read store."""
    services.ledger.head()
    services.store.catalog()


class StorageGateMiddleware:
    """Outermost middleware: applies the gate, and turns storage errors raised by
    the middlewares inside it (authentication for ``Idempotency-Key``, the key
    table) into 503 problem+json instead of 500."""

    def __init__(self, app: Any, gate: StorageGate) -> None:
        self.app = app
        self.gate = gate

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] in UNGATED:
            await self.app(scope, receive, send)
            return
        decision = self.gate.admit()
        if decision == "refuse":
            await problems.storage_unavailable()(scope, receive, send)
            return
        if decision == "probe":
            services = getattr(Request(scope).app.state, "services", None)
            try:
                if services is not None:
                    await anyio.to_thread.run_sync(ping, services)
            except Exception:  # noqa: BLE001 - any failure to answer means: still down
                self.gate.probed(ok=False)
                await problems.storage_unavailable()(scope, receive, send)
                return
            self.gate.probed(ok=True)

        started = False

        async def tracking_send(message: dict[str, Any]) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except (StorageUnavailableError, *problems.STORAGE_ERRORS):
            self.gate.trip()
            if started:
                raise
            await problems.storage_unavailable()(scope, receive, send)
