"""What a command that names an engineer knows of them: refuses an unknown or
inactive one, and gives the facts the qualification rule reads
(``ledger.qualification.EngineerFacts``), taken from the write model (the
Engineer aggregate) and answered from memory where that is safe."""

from __future__ import annotations

import threading
from collections.abc import Callable

from ledger.engineer import Engineer
from ledger.errors import EngineerNotFoundError, InvalidReferenceError
from ledger.qualification import EngineerFacts


class ActiveEngineers:
    """``require(engineer_id)`` refuses an unknown or inactive engineer and
    returns their facts. While ``cache(True)``, an active engineer's facts are
    remembered until ``changed`` says they differ."""

    def __init__(self, load: Callable[[str], Engineer]) -> None:
        self._load = load
        #: engineer id -> facts, while caching (see ``cache``).
        self._known: dict[str, EngineerFacts] = {}
        self._caching = False
        #: engineer id -> how many changes of theirs were seen (see ``require``).
        self._changes: dict[str, int] = {}
        self._lock = threading.Lock()

    def cache(self, enabled: bool) -> None:
        """Whether ``require`` may answer from memory. Only a process that sees
        every Engineer change turns it on: the one whose projection runner
        leads (it calls ``changed`` for each committed engineer row, whoever
        recorded the event; this process's own saves forget at once). An
        engineer changed by another process is thus seen once the runner has
        folded it (milliseconds with PostgreSQL's LISTEN/NOTIFY; within the
        runner's poll interval on SQLite), the same kind of window as between
        a check and the save that follows it."""
        with self._lock:
            self._caching = enabled
            self._known.clear()

    def changed(self, engineer_id: str, facts: EngineerFacts | None) -> None:
        """An engineer's committed facts: forgets remembered ones that differ
        (``None``: forget them anyway). A change to what the rule does not read
        (their count of open assignments) keeps them."""
        with self._lock:
            if facts is not None and self._known.get(engineer_id) == facts:
                return
            self._known.pop(engineer_id, None)
            # A load of this engineer that began before this must not fill the cache.
            self._changes[engineer_id] = self._changes.get(engineer_id, 0) + 1

    def require(self, engineer_id: str) -> EngineerFacts:
        with self._lock:
            known = self._known.get(engineer_id)
            if known is not None:
                return known
            caching, seen = self._caching, self._changes.get(engineer_id, 0)
        try:
            engineer = self._load(engineer_id)
        except EngineerNotFoundError as e:
            raise InvalidReferenceError(e.detail) from None
        if not engineer.active:
            msg = f"Engineer {engineer_id!r} is inactive and cannot take assignments."
            raise InvalidReferenceError(msg)
        facts = EngineerFacts.of(engineer)
        if caching:
            with self._lock:
                if self._caching and self._changes.get(engineer_id, 0) == seen:
                    self._known[engineer_id] = facts
        return facts
