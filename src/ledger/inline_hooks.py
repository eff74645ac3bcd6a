"""What the read side plugs into a save to write its rows in the save's own
transaction (``Ledger.inline``; implemented by ``projections.inline``)."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol


class InlineHooks(Protocol):
    def kwargs(self) -> dict[str, Any]:
        """The recorder's hooks (ledger.adapter), as ``save`` keyword arguments."""
        ...

    def failed_transaction(self, error: BaseException) -> bool:
        """Whether the save may be made again without the hooks (they failed it)."""
        ...


class InlineWriter(Protocol):
    """What ``Ledger.inline`` holds: around one save, hooks for the recorder's
    insert transaction, or None."""

    def session(self, events: Sequence[Any]) -> AbstractContextManager[InlineHooks | None]: ...
