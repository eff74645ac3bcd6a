"""What ``ledger serve`` runs: the app, with its open event streams ended as soon
as the server is asked to stop.

uvicorn waits up to ``timeout_graceful_shutdown`` for responses in progress, and
an ``/events/stream`` response never ends by itself. So while the server runs,
SIGINT and SIGTERM first end the streams, then reach the handler that was there
before (the server's own). Only the standard library's ``signal`` is used: the
handler is chained once the server serves (its lifespan has begun, in the main
thread, where the server installed its handlers) and restored when it stops.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from fastapi import FastAPI

from api.app import create_app
from api.routers.feed import stop_streams

EXIT_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def chain_exit_signals(first: Callable[[], None]) -> Callable[[], None]:
    """Runs ``first`` before the current SIGINT / SIGTERM handlers; returns the
    function that puts them back. Off the main thread (where Python refuses
    handlers), it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = {sig: signal.getsignal(sig) for sig in EXIT_SIGNALS}

    def on_exit_signal(sig: int, frame: FrameType | None) -> None:
        first()
        handler = previous[sig]
        if callable(handler):
            handler(sig, frame)
        elif handler == signal.SIG_DFL:  # the process would have ended: let it
            signal.signal(sig, signal.SIG_DFL)
            signal.raise_signal(sig)

    for sig in EXIT_SIGNALS:
        signal.signal(sig, on_exit_signal)

    def restore() -> None:
        for sig, handler in previous.items():
            if signal.getsignal(sig) is on_exit_signal:
                signal.signal(sig, handler)

    return restore


class EndStreamsOnExit:
    """An ASGI wrapper of the app: its lifespan chains ``stop_streams`` before
    the server's exit handlers; every other message passes straight through."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        restore = chain_exit_signals(lambda: stop_streams(self.app))
        try:
            await self.app(scope, receive, send)
        finally:
            restore()


def create_serving_app() -> EndStreamsOnExit:
    """The app of each of uvicorn's worker processes (``ledger serve --workers``),
    its settings from the environment."""
    return EndStreamsOnExit(create_app())
