"""uvicorn's httptools protocol, sending a response's head and body in one write.

uvicorn writes the status line and headers when the app sends
``http.response.start`` and the body when it sends ``http.response.body``, and
uvloop's transport writes each at once: two ``write`` system calls and, with
TCP_NODELAY, two TCP segments per response, and the client wakes twice. Here
the head waits for the body's first chunk and goes out with it in one write.

What is held is written, at the latest, on the event loop's next turn (a
streamed response whose first chunk comes later, a HEAD response with no body)
and before the connection is closed; only the head of each response is held, so
nothing is reordered. A ``100 Continue`` (the client waits for it before sending
its body) is written at once.

``ledger serve`` passes the class to uvicorn as its ``http`` protocol. It
subclasses uvicorn's own and touches one attribute of its request cycle (the
transport it writes to); if a uvicorn release changes that shape, the guard in
``on_headers_complete`` leaves the cycle as uvicorn made it and responses are
written as before (``tests/unit/test_one_write.py`` notices: it counts the writes).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["OneWriteHttpProtocol"]

#: The interim response a client may wait for before sending its body: not held.
CONTINUE = b"HTTP/1.1 100 "


class HeldHeadTransport:
    """One response's view of the connection's transport: its head (the first
    write that is not a ``100 Continue``) is held until the next write, the
    loop's next turn or ``close``, whichever comes first."""

    __slots__ = ("_first", "_held", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None
        self._first = True

    def write(self, data: bytes) -> None:
        if self._first and not data.startswith(CONTINUE):
            self._first = False
            self._held = data
            self._loop.call_soon(self.flush)
            return
        held = self._held
        if held is not None:
            self._held = None
            data = held + data
        self._transport.write(data)

    def flush(self) -> None:
        """Writes what is held, if anything (and the connection is open)."""
        held = self._held
        if held is not None:
            self._held = None
            if not self._transport.is_closing():
                self._transport.write(held)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class OneWriteHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol; each request's cycle writes through a
    ``HeldHeadTransport``."""

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        cycle = getattr(self, "cycle", None)
        # The cycle was just made for this request and its task not yet run.
        if cycle is not None and getattr(cycle, "transport", None) is self.transport:
            cycle.transport = HeldHeadTransport(self.transport, self.loop)
