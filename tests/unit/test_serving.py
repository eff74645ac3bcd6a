"""``api.serving.chain_exit_signals``: the streams' stop runs before the handler
that was installed, which still runs; ``restore`` puts that handler back."""

from __future__ import annotations

import signal
import threading
from types import FrameType

from api.serving import chain_exit_signals


def test_the_chained_function_runs_first_then_the_previous_handler() -> None:
    calls: list[str] = []

    def server_handler(sig: int, frame: FrameType | None) -> None:
        calls.append(f"server {signal.Signals(sig).name}")

    before = signal.signal(signal.SIGTERM, server_handler)
    try:
        restore = chain_exit_signals(lambda: calls.append("streams"))
        assert signal.getsignal(signal.SIGTERM) is not server_handler
        signal.raise_signal(signal.SIGTERM)
        assert calls == ["streams", "server SIGTERM"]
        restore()
        assert signal.getsignal(signal.SIGTERM) is server_handler
    finally:
        signal.signal(signal.SIGTERM, before)


def test_off_the_main_thread_nothing_is_installed() -> None:
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    restored: list[object] = []
    thread = threading.Thread(target=lambda: restored.append(chain_exit_signals(lambda: None)))
    thread.start()
    thread.join()
    assert {sig: signal.getsignal(sig) for sig in handlers} == handlers
    assert callable(restored[0])
