"""Helpers of the webhook tests: a receiver's view of what arrived (from
``pytest-httpserver``'s log), verified with ``standardwebhooks`` and the secret
alone, and waiting for it."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from standardwebhooks import Webhook as Verifier


def received(httpserver: Any, path: str = "/hook") -> list[tuple[dict[str, str], bytes]]:
    """(headers, body) of every request that reached ``path``, in arrival order."""
    return [({k.lower(): v for k, v in request.headers.items()}, request.get_data())
            for request, _response in list(httpserver.log) if request.path == path]


def verified(secret: str, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    """The message, once its signature verifies with the secret alone (else raises)."""
    message = Verifier(secret).verify(body, headers)
    assert message == json.loads(body)
    return message  # type: ignore[no-any-return]


def wait_for(condition: Callable[[], Any], seconds: float = 15.0, what: str = "") -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        time.sleep(0.02)
