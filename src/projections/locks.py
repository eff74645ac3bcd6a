"""Named locks shared by every process on one store, and a shared lock for threads.

Several processes may serve one ledger (uvicorn workers, several hosts). Exactly
one of them runs the live projection runner; the others wait on stored
positions and take over when the leader goes away. On PostgreSQL the lock is a
session-level advisory lock (released by the server when the holder's
connection dies); on SQLite it is an exclusive ``flock`` on a file beside the
database (released by the kernel when the holder dies).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from typing import Any

from ledger.store import StoreConfig


def _key(name: str) -> int:
    digest = hashlib.sha256(f"assignment-ledger:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class ProcessLock:
    """A lock named ``name`` on the store of ``config``, held until ``release()``."""

    def __init__(self, config: StoreConfig, name: str) -> None:
        self.config = config
        self.name = name
        self._conn: Any = None
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        if self.config.is_postgres:
            return self._conn is not None and not self._conn.closed and not self._conn.broken
        return self._fd is not None

    def acquire(self, *, blocking: bool) -> bool:
        if self.held:
            return True
        if self.config.is_postgres:
            return self._acquire_postgres(blocking)
        return self._acquire_file(blocking)

    def check(self) -> bool:
        """Whether the lock is still held (a PostgreSQL connection may have died)."""
        if not self.config.is_postgres or self._conn is None:
            return self.held
        try:
            self._conn.execute("SELECT 1")
        except Exception:  # noqa: BLE001 - the connection, and so the lock, is gone
            self.release()
            return False
        return True

    def release(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()  # the server releases a session lock on close
            self._conn = None
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None

    def _acquire_postgres(self, blocking: bool) -> bool:
        import psycopg

        try:
            conn = psycopg.connect(self.config.conninfo(), autocommit=True, connect_timeout=5)
        except psycopg.Error:
            return False
        function = "pg_advisory_lock" if blocking else "pg_try_advisory_lock"
        try:
            row = conn.execute(f"SELECT {function}(%s)", (_key(self.name),)).fetchone()
        except psycopg.Error:
            conn.close()
            return False
        if blocking or (row and row[0]):
            self._conn = conn
            return True
        conn.close()
        return False

    def _acquire_file(self, blocking: bool) -> bool:
        import fcntl

        path = self.config.sqlite_path
        if self.config.in_memory:
            self._fd = -1  # one process only: nothing to share
            return True
        fd = os.open(f"{path}.{self.name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except OSError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def __enter__(self) -> ProcessLock:
        self.acquire(blocking=True)
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()


class SharedLock:
    """A thread lock held either by one holder alone (``acquire``) or by any
    number together (``acquire_shared``). A holder waiting to hold it alone
    goes before newcomers who would share it, so a stream of sharers cannot
    keep it out. (The standard library has none, and no maintained package
    offers one worth a dependency.)

    The read side's runner passes hold it alone; saves that project inline
    share it (the events table's lock already orders them, see
    projections.inline)."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._sharers = 0
        self._alone = False
        self._waiting_alone = 0

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        with self._cond:
            self._waiting_alone += 1
            try:
                ok = self._cond.wait_for(
                    lambda: not self._alone and not self._sharers,
                    _wait(blocking, timeout),
                )
                if ok:
                    self._alone = True
                return ok
            finally:
                self._waiting_alone -= 1
                self._cond.notify_all()

    def release(self) -> None:
        with self._cond:
            if not self._alone:
                msg = "release of a SharedLock not held alone"
                raise RuntimeError(msg)
            self._alone = False
            self._cond.notify_all()

    def acquire_shared(self, blocking: bool = True, timeout: float = -1) -> bool:
        with self._cond:
            ok = self._cond.wait_for(
                lambda: not self._alone and not self._waiting_alone,
                _wait(blocking, timeout),
            )
            if ok:
                self._sharers += 1
            return ok

    def release_shared(self) -> None:
        with self._cond:
            if not self._sharers:
                msg = "release_shared of a SharedLock not shared"
                raise RuntimeError(msg)
            self._sharers -= 1
            if not self._sharers:
                self._cond.notify_all()

    def __enter__(self) -> SharedLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _wait(blocking: bool, timeout: float) -> float | None:
    """``Condition.wait_for``'s timeout for ``Lock.acquire``'s arguments."""
    if not blocking:
        return 0
    return None if timeout < 0 else timeout
