"""``Idempotency-Key``: a retried command returns its first response.

Keys live in the ledger's own database (table ``ledger_idempotency``, created on
first start on SQLite and PostgreSQL alike), scoped per principal, with the
response they produced. A request first *reserves* its key with an insert that
conflicts on (principal, key): only one of several concurrent requests with the
same key executes; the others wait briefly for its stored response and replay
it, or get 409 "in progress". 2xx and 4xx responses are stored and replayed
(same status, body, ETag, X-Ledger-Position, Location); 5xx responses (503
storage unavailable included) release the key, so a retry really retries.
Keys expire after 24 hours: expired ones are ignored (and purged now and then).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anyio
import orjson
from starlette.requests import Request
from starlette.responses import Response

from api import problems
from api.auth import AuthenticationError, bearer_token, principal_of
from projections.side_tables import SideTables

log = logging.getLogger("ledger.api")

TABLE = "ledger_idempotency"
HEADER = "idempotency-key"
COMMAND_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_KEY_LENGTH = 255
#: How long a stored response is replayed.
TTL_SECONDS = 24 * 3600
#: A reservation without a response this old is taken over (its request died).
ABANDONED_SECONDS = 120.0
#: Response headers stored and replayed (besides the body and status).
REPLAYED_HEADERS = frozenset({
    "content-type", "etag", "location", "x-ledger-position", "x-ledger-consistency",
    "retry-after", "www-authenticate",
})
#: How often expired keys are purged (seconds), at most.
PURGE_EVERY = 3600.0


@dataclass(frozen=True)
class Stored:
    """A key's record: its request's hash and, once finished, its response."""

    request_hash: str
    created_at: float
    status: int | None
    headers: list[tuple[str, str]]
    body: bytes


class IdempotencyStore(SideTables):
    """The ``ledger_idempotency`` table, on the read store's datastore."""

    def __init__(
        self,
        store: Any,
        *,
        ttl: float = TTL_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(store)
        self.ttl = ttl
        self.clock = clock
        self._last_purge = 0.0

    def setup(self) -> None:
        real, blob = ("double precision", "bytea") if self.postgres else ("REAL", "BLOB")
        statements = [
            f"CREATE TABLE IF NOT EXISTS {TABLE} ("
            "principal TEXT NOT NULL, idem_key TEXT NOT NULL, request_hash TEXT NOT NULL, "
            f"created_at {real} NOT NULL, status INTEGER, headers TEXT, body {blob}, "
            "PRIMARY KEY (principal, idem_key))",
            f"CREATE INDEX IF NOT EXISTS {TABLE}_created_at_idx ON {TABLE} (created_at)",
        ]
        self.create(statements)
        self.purge()

    def purge(self) -> int:
        """Deletes expired keys; returns how many."""
        self._last_purge = self.clock()
        with self.datastore.transaction(commit=True) as c:
            c.execute(self._sql(f"DELETE FROM {TABLE} WHERE created_at < %s RETURNING 1"),
                      (self.clock() - self.ttl,))
            return len(c.fetchall())

    def get(self, principal: str, key: str) -> Stored | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                self._sql(
                    f"SELECT request_hash, created_at, status, headers, body FROM {TABLE} "
                    "WHERE principal = %s AND idem_key = %s"
                ),
                (principal, key),
            )
            row = c.fetchone()
        if row is None:
            return None
        row = dict(row)
        headers = orjson.loads(row["headers"]) if row["headers"] else []
        return Stored(
            request_hash=row["request_hash"],
            created_at=float(row["created_at"]),
            status=row["status"],
            headers=[(str(k), str(v)) for k, v in headers],
            body=bytes(row["body"]) if row["body"] is not None else b"",
        )

    def reserve(self, principal: str, key: str, request_hash: str) -> Stored | None:
        """Reserves the key for this request (None), or returns the live record
        that holds it. Expired and abandoned records are replaced."""
        if self.clock() - self._last_purge > PURGE_EVERY:
            try:
                self.purge()
            except Exception:  # purging is housekeeping; never fail a request on it
                log.warning("purging expired idempotency keys failed", exc_info=True)
        for _attempt in range(5):
            now = self.clock()
            with self.datastore.transaction(commit=True) as c:
                c.execute(
                    self._sql(
                        f"INSERT INTO {TABLE} (principal, idem_key, request_hash, created_at) "
                        "VALUES (%s, %s, %s, %s) ON CONFLICT (principal, idem_key) DO NOTHING "
                        "RETURNING 1"
                    ),
                    (principal, key, request_hash, now),
                )
                if c.fetchone() is not None:
                    return None
            existing = self.get(principal, key)
            if existing is None:
                continue  # deleted meanwhile: try again
            expired = existing.created_at < now - self.ttl
            abandoned = existing.status is None and existing.created_at < now - ABANDONED_SECONDS
            if not (expired or abandoned):
                return existing
            with self.datastore.transaction(commit=True) as c:
                c.execute(
                    self._sql(
                        f"DELETE FROM {TABLE} WHERE principal = %s AND idem_key = %s "
                        "AND created_at = %s"
                    ),
                    (principal, key, existing.created_at),
                )
        msg = f"Idempotency key {key!r} kept changing"
        raise RuntimeError(msg)

    def complete(
        self, principal: str, key: str, status: int, headers: list[tuple[str, str]], body: bytes
    ) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute(
                self._sql(
                    f"UPDATE {TABLE} SET status = %s, headers = %s, body = %s "
                    "WHERE principal = %s AND idem_key = %s"
                ),
                (status, orjson.dumps(headers).decode(), body, principal, key),
            )

    def release(self, principal: str, key: str) -> None:
        """Forgets a reservation whose request failed (5xx), so a retry runs again."""
        with self.datastore.transaction(commit=True) as c:
            c.execute(
                self._sql(
                    f"DELETE FROM {TABLE} WHERE principal = %s AND idem_key = %s "
                    "AND status IS NULL"
                ),
                (principal, key),
            )


def request_fingerprint(method: str, path: str, query: bytes, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode("utf-8"), query, body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


async def _release(store: IdempotencyStore, principal: str, key: str) -> None:
    """Frees a key after a failed request. If that fails too (the database is down),
    the response still goes out; the reservation is taken over once abandoned."""
    try:
        await anyio.to_thread.run_sync(store.release, principal, key)
    except Exception:  # noqa: BLE001 - never turn the original answer into a 500
        log.warning("releasing idempotency key %r failed", key, exc_info=True)


class IdempotencyMiddleware:
    """Applies ``Idempotency-Key`` to commands (POST, PUT, PATCH, DELETE).

    Requests without the header, or without a valid bearer token (they end in a
    401 anyway), pass straight through."""

    def __init__(self, app: Any, wait_seconds: float = 5.0) -> None:
        self.app = app
        self.wait_seconds = wait_seconds

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] not in COMMAND_METHODS:
            await self.app(scope, receive, send)
            return
        key = _header(scope, HEADER.encode())
        services = getattr(Request(scope).app.state, "services", None)
        if key is None or services is None:
            await self.app(scope, receive, send)
            return
        token = bearer_token(_header(scope, b"authorization"))
        if token is None:
            await self.app(scope, receive, send)
            return
        try:
            principal = await principal_of(services.auth, token)
        except AuthenticationError:
            await self.app(scope, receive, send)
            return
        if not 1 <= len(key) <= MAX_KEY_LENGTH or not key.isprintable():
            response = problems.problem(
                400, "Bad Idempotency-Key",
                f"Idempotency-Key must be 1..{MAX_KEY_LENGTH} printable characters.",
                "bad-idempotency-key",
            )
            await response(scope, receive, send)
            return

        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body.extend(message.get("body", b""))
            if not message.get("more_body", False):
                break
        fingerprint = request_fingerprint(
            scope["method"], scope["path"], scope.get("query_string", b""), bytes(body)
        )
        store: IdempotencyStore = services.idempotency
        deadline = time.monotonic() + self.wait_seconds
        while True:
            existing = await anyio.to_thread.run_sync(
                store.reserve, principal.name, key, fingerprint
            )
            if existing is None:
                break
            if existing.request_hash != fingerprint:
                response = problems.problem(
                    422, "Idempotency-Key reused",
                    "This Idempotency-Key was already used with a different request "
                    "(another body or endpoint); use a new key for a new request.",
                    "idempotency-key-reused",
                )
                await response(scope, receive, send)
                return
            if existing.status is not None:
                await self._replay(existing, scope, receive, send)
                return
            if time.monotonic() >= deadline:
                response = problems.problem(
                    409, "Request in progress",
                    "A request with this Idempotency-Key is still being processed; "
                    "retry shortly.", "idempotency-in-progress", {"Retry-After": "1"},
                )
                await response(scope, receive, send)
                return
            await anyio.sleep(0.05)

        await self._execute(scope, receive, send, bytes(body), store, principal.name, key)

    async def _execute(
        self, scope: Any, receive: Any, send: Any, body: bytes, store: IdempotencyStore,
        principal: str, key: str,
    ) -> None:
        delivered = False

        async def replay_body() -> dict[str, Any]:
            nonlocal delivered
            if delivered:  # the body was read here already: only a disconnect is left
                return await receive()
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def capture(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        try:
            await self.app(scope, replay_body, capture)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await _release(store, principal, key)
            raise
        status = int(start.get("status", 500))
        raw_headers = [
            (k.decode("latin-1"), v.decode("latin-1")) for k, v in start.get("headers", [])
        ]
        content = b"".join(chunks)
        if status >= 500:
            await _release(store, principal, key)
        else:
            kept = [(k, v) for k, v in raw_headers if k.lower() in REPLAYED_HEADERS]
            try:
                await anyio.to_thread.run_sync(store.complete, principal, key, status, kept,
                                               content)
            except Exception:
                log.warning("storing the response of idempotency key %r failed", key,
                            exc_info=True)
                await _release(store, principal, key)
        await send(start)
        await send({"type": "http.response.body", "body": content, "more_body": False})

    @staticmethod
    async def _replay(stored: Stored, scope: Any, receive: Any, send: Any) -> None:
        response = Response(content=stored.body, status_code=stored.status or 200)
        for name, value in stored.headers:
            response.headers.append(name, value)
        response.headers["Idempotent-Replayed"] = "true"
        await response(scope, receive, send)
