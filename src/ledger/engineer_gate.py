"""Whether an engineer may take assignments: the check a command makes before
naming one, answered from memory where that is safe."""

from __future__ import annotations

import threading
from collections.abc import Callable

from ledger.engineer import Engineer
from ledger.errors import EngineerNotFoundError, InvalidReferenceError


class ActiveEngineers:
    """``require(engineer_id)`` refuses an unknown or inactive engineer. While
    ``cache(True)``, an engineer found active is remembered until
    ``changed`` says otherwise."""

    def __init__(self, load: Callable[[str], Engineer]) -> None:
        self._load = load
        #: engineer id -> active, while caching (see ``cache``).
        self._active: dict[str, bool] = {}
        self._caching = False
        self._epoch = 0  # counts deactivations seen (see changed)
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
            self._active.clear()

    def changed(self, engineer_id: str, active: bool | None) -> None:
        """An engineer's committed state: forgets a remembered flag that
        differs (``None``: forget it anyway)."""
        with self._lock:
            if active is not True:
                # A load that began before this must not fill the cache.
                self._epoch += 1
            if self._active.get(engineer_id, active) != active or active is None:
                self._active.pop(engineer_id, None)

    def require(self, engineer_id: str) -> None:
        with self._lock:
            if self._active.get(engineer_id):
                return
            caching, epoch = self._caching, self._epoch
        try:
            engineer = self._load(engineer_id)
        except EngineerNotFoundError as e:
            raise InvalidReferenceError(e.detail) from None
        if not engineer.active:
            msg = f"Engineer {engineer_id!r} is inactive and cannot take assignments."
            raise InvalidReferenceError(msg)
        if caching:
            with self._lock:
                if self._caching and self._epoch == epoch:
                    self._active[engineer_id] = True
