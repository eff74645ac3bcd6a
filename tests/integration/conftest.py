"""Fixtures shared by the integration tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ledger.application import Ledger
from projections.backend import build_store
from projections.runner import ReadSide
from projections.store import ReadStore


@pytest.fixture
def store(ledger: Ledger) -> Iterator[ReadStore]:
    """The read store of the test's ledger (same database)."""
    s = build_store(ledger.store, pool_size=4)
    yield s
    s.close()


@pytest.fixture
def read_side(ledger: Ledger, store: ReadStore) -> Iterator[ReadSide]:
    """A read side (not started) on the test's store."""
    rs = ReadSide(ledger, store)
    rs.setup()
    yield rs
    rs.stop()
