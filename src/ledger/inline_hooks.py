"""What the read side plugs into a save to write its rows in the save's own
transaction (``Ledger.inline``; implemented by ``projections.inline``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol, TypeVar

R = TypeVar("R")


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


def save_inline(
    inline: InlineWriter, objs: Sequence[Any], kwargs: dict[str, Any],
    save: Callable[[Sequence[Any], dict[str, Any]], R],
) -> R:
    """``save(objs, kwargs)`` in the inline projection's session, with its hooks
    when it gives some (the read side's rows written in the insert's own
    transaction)."""
    events = [e for obj in objs for e in getattr(obj, "pending_events", (obj,))]
    with inline.session(events) as hook:
        if hook is None:
            return save(objs, kwargs)
        pending = [(obj, list(obj.pending_events)) for obj in objs
                   if hasattr(obj, "pending_events")]
        try:
            return save(objs, {**kwargs, **hook.kwargs()})
        except Exception as e:
            if not hook.failed_transaction(e):
                raise
            # The read side's part failed the transaction, so nothing was
            # recorded: record the events alone (the hooks stand down); the
            # runner projects them.
            for obj, events_of_obj in pending:
                if not obj.pending_events:
                    obj.pending_events.extend(events_of_obj)
            return save(objs, kwargs)
