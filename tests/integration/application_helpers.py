"""Helpers of the ``Ledger`` application's integration tests.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any
from uuid import UUID, uuid4

import pytest

from ledger.application import Ledger


ACTOR = "dispatcher@example.com"
T0 = datetime(2024, 3, 1, 9, 30, 15, 123456, tzinfo=timezone.utc)


def engineer(ledger: Ledger, **kw: Any) -> str:
    """Registers an engineer with a random id; returns the id."""
    engineer_id = f"eng-{uuid4().hex[:12]}"
    ledger.register_engineer(engineer_id=engineer_id, name=kw.pop("name", "Ada"), actor="hr", **kw).result()
    return engineer_id


def open_ticket(ledger: Ledger, **kw: Any) -> UUID:
    return ledger.open_ticket(title=kw.pop("title", "Printer jams"), actor=ACTOR, **kw).result().aggregate_id


def assert_nothing_recorded(ledger: Ledger, head: int, command: Callable[[], object], error: type[Exception]) -> Exception:
    with pytest.raises(error) as info:
        command()
    assert ledger.head() == head, "a refused command recorded an event"
    return info.value


