"""The receiver docs/webhooks.md shows, run as written: it accepts what the
ledger sends (signed with the secret alone), drops a retry by its webhook-id,
and refuses a forged message."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.webhook_service import new_secret
from projections.webhook_delivery import message, message_id
from projections.webhook_transport import Sender

DOC = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"


def receiver(secret: str, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, list[str]]:
    [code] = [c for c in re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
              if "standardwebhooks" in c]
    monkeypatch.setenv("LEDGER_WEBHOOK_SECRET", secret)
    printed: list[str] = []
    namespace: dict[str, Any] = {"print": lambda *a: printed.append(" ".join(map(str, a)))}
    exec(compile(code, str(DOC), "exec"), namespace)  # noqa: S102 - our own document
    assert len(code.strip().splitlines()) <= 25
    return namespace["app"], printed


def test_the_documented_receiver_verifies_and_deduplicates(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret = new_secret()
    app, printed = receiver(secret, monkeypatch)
    sender = Sender(allow_private=lambda: True, connect_timeout=1, request_timeout=1)
    event = {"position": 9, "type": "Ticket.Opened", "recorded_at": "2026-12-07T09:00:00Z",
             "data": {}}
    body = message(event)
    headers = sender.headers(secret, message_id("w", 9), body)
    with TestClient(app) as client:
        assert client.post("/ledger", content=body, headers=headers).status_code == 204
        assert client.post("/ledger", content=body,
                           headers=sender.headers(secret, message_id("w", 9), body)
                           ).status_code == 204
        forged = sender.headers(new_secret(), message_id("w", 10), body)
        assert client.post("/ledger", content=body, headers=forged).status_code == 401
    assert printed == ["Ticket.Opened 9"]
