"""Sending one webhook message: signed as Standard Webhooks says, over a pooled
``httpx`` client whose every connection goes to an address checked against the
SSRF rule (``ledger.webhook_targets``).

The check sits in the network backend (httpcore's documented extension point):
the name is resolved once, each address checked, and the connection made to the
checked address, so a name that resolves elsewhere between a check and the
connection cannot slip through. TLS still verifies the URL's host name."""

from __future__ import annotations

import asyncio
import functools
import select
import socket
import ssl
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpcore
import httpx
from standardwebhooks import Webhook as Signer

from ledger.errors import WebhookTargetError
from ledger.webhook_targets import Resolver, check_addresses

#: A receiver's answer is read up to this much (then the connection is dropped).
MAX_ANSWER_BYTES = 64 * 1024
USER_AGENT = "assignment-ledger-webhooks/1"


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Connects only to addresses the SSRF rule allows (``allow_private()`` is
    read at each connection, so a change of setting applies at once)."""

    def __init__(self, allow_private: Callable[[], bool], resolve: Resolver | None = None) -> None:
        self._inner = httpcore.AnyIOBackend()
        self._allow_private = allow_private
        self._resolve = resolve

    async def _addresses(self, host: str, port: int) -> list[str]:
        if self._resolve is not None:
            return self._resolve(host, port)
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=1)
        return list(dict.fromkeys(str(info[4][0]) for info in infos))

    async def connect_tcp(
        self, host: str, port: int, timeout: float | None = None,
        local_address: str | None = None, socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self._addresses(host, port)
        if not addresses:
            raise httpcore.ConnectError(f"{host} does not resolve")
        if not self._allow_private():
            check_addresses(host, addresses)
        return _Stream(await self._inner.connect_tcp(
            addresses[0], port, timeout=timeout, local_address=local_address,
            socket_options=socket_options))

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise WebhookTargetError("Webhooks are sent over TCP only.")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def _readable(sock: socket.socket | None) -> bool:
    """Whether the pool should drop a kept connection: it has something to read
    (the server closed it, or sent what was not asked for)."""
    if sock is None or sock.fileno() == -1:
        return True
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))


class _Stream(httpcore.AsyncNetworkStream):
    """anyio's stream, but ``is_readable`` answered from the socket kept at
    connect: anyio builds its table of attributes on every lookup (a system call
    among them), and the pool asks several times per request."""

    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner
        self._socket = inner.get_extra_info("socket")

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return _Stream(await self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            return _readable(self._socket)
        if info == "socket":
            return self._socket
        return self._inner.get_extra_info(info)


class _Body(httpx.AsyncByteStream):
    def __init__(self, stream: Any) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for part in self._stream:
            yield part

    async def aclose(self) -> None:
        await self._stream.aclose()


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The client TLS settings of every delivery pool in this process (the
    system's CA certificates, hostnames checked), made on first use. Loading
    the certificates takes a noticeable moment of CPU, and a pool is made
    each time a process starts leading the deliveries (a test suite's every
    app). Shared by every pool: each connection sets the same ALPN list on it
    (HTTP/1.1 only, the pools never speak HTTP/2) and nothing else changes it."""
    return ssl.create_default_context()


class GuardedTransport(httpx.AsyncBaseTransport):
    """httpx's transport contract over an httpcore pool with a ``GuardedBackend``."""

    def __init__(self, backend: GuardedBackend, *, connections: int) -> None:
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=tls_context(), max_connections=connections,
            max_keepalive_connections=connections, keepalive_expiry=30.0,
            network_backend=backend,
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        answer = await self._pool.handle_async_request(httpcore.Request(
            method=request.method,
            url=httpcore.URL(scheme=url.raw_scheme, host=url.raw_host, port=url.port,
                             target=url.raw_path),
            headers=request.headers.raw, content=request.stream,
            extensions=request.extensions,
        ))
        return httpx.Response(status_code=answer.status, headers=answer.headers,
                              stream=_Body(answer.stream), extensions=answer.extensions)

    async def aclose(self) -> None:
        await self._pool.aclose()


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    error: str | None
    duration_ms: float

    @property
    def ok(self) -> bool:
        return self.error is None


class Sender:
    """Signs and posts messages; one pooled client for all endpoints."""

    def __init__(
        self, *, allow_private: Callable[[], bool], connect_timeout: float,
        request_timeout: float, connections: int = 100, resolve: Resolver | None = None,
    ) -> None:
        self.request_timeout = request_timeout
        self._client = httpx.AsyncClient(
            transport=GuardedTransport(GuardedBackend(allow_private, resolve),
                                       connections=connections),
            timeout=httpx.Timeout(request_timeout, connect=connect_timeout),
            follow_redirects=False,
        )
        self._signers: dict[str, Signer] = {}

    def _signer(self, secret: str) -> Signer:
        signer = self._signers.get(secret)
        if signer is None:
            if len(self._signers) > 10_000:
                self._signers.clear()
            signer = self._signers[secret] = Signer(secret)
        return signer

    def headers(self, secret: str, message_id: str, body: bytes) -> dict[str, str]:
        now = datetime.now(UTC)
        return {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": message_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": self._signer(secret).sign(message_id, now, body),
        }

    async def send(self, url: str, secret: str, message_id: str, body: bytes) -> Outcome:
        """One attempt: a 2xx is success; anything else is an error, described."""
        started = time.perf_counter()
        status: int | None = None
        error: str | None = None
        try:
            async with asyncio.timeout(self.request_timeout):
                async with self._client.stream(
                    "POST", url, content=body, headers=self.headers(secret, message_id, body)
                ) as answer:
                    status = answer.status_code
                    read = 0
                    async for part in answer.aiter_raw():
                        read += len(part)
                        if read > MAX_ANSWER_BYTES:
                            break
            if not 200 <= status < 300:
                error = f"HTTP {status}"
        except WebhookTargetError as e:
            error = f"refused: {e}"
        except (TimeoutError, httpx.TimeoutException, httpcore.TimeoutException):
            error = f"timed out after {time.perf_counter() - started:.1f} s"
        except Exception as e:  # noqa: BLE001 - every failure is an attempt's error
            error = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
        return Outcome(status, error, round((time.perf_counter() - started) * 1000, 3))

    async def aclose(self) -> None:
        await self._client.aclose()
