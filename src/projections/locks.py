"""Named locks shared by every process on one store, and a shared lock for threads.

Several processes may serve one ledger (API processes, workers, several hosts).
Each background job (the live projection runner, the checkpoint sealer, ...)
runs in exactly one of them at a time: the process that holds the job's
``ProcessLock``; the others stand by and take over when the leader goes away
(``Leadership``). On PostgreSQL the lock is a session-level advisory lock
(released by the server when the holder's connection dies); on SQLite it is an
exclusive ``flock`` on a file beside the database (released by the kernel when
the holder dies).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import time
from collections.abc import Callable
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
        self._spare: Any = None  # a standby's connection, kept between attempts
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
        if self._spare is not None:
            with contextlib.suppress(Exception):
                self._spare.close()
            self._spare = None
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

        # A standby keeps its connection between attempts (a new connection a
        # second per job and standby would cost the server a backend each).
        conn, self._spare = self._spare, None
        try:
            if conn is None or conn.closed or conn.broken:
                # Named, so that pg_stat_activity (joined with pg_locks) shows
                # which process leads which job.
                conn = psycopg.connect(
                    self.config.conninfo(), autocommit=True, connect_timeout=5,
                    application_name=f"ledger {self.name} pid {os.getpid()}"[:63],
                )
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
        self._spare = conn
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


class Leadership:
    """Leadership of one background job: keeps or takes the job's ``ProcessLock``,
    cheaply enough to be asked on every turn of the job's loop (``lead()``).

    A leader re-checks its lock's connection every ``check_every`` seconds (a
    server restart drops it); a follower tries to take the lock at most every
    ``retry`` seconds, so a job whose leader died is taken over within about
    ``retry`` seconds of the server noticing (at once for a process that is
    killed: its socket closes). Jobs that lead this way keep their own state
    where another leader may change it (the stored positions, the last
    checkpoint) and re-read it when they take over (``lead()`` says so)."""

    def __init__(
        self,
        config: StoreConfig,
        name: str,
        *,
        retry: float = 1.0,
        check_every: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.lock = ProcessLock(config, name)
        self.retry = retry
        self.check_every = check_every
        self.clock = clock
        self.leading = False
        self._checked = 0.0
        self._next_attempt = 0.0

    @property
    def name(self) -> str:
        return self.lock.name

    def lead(self) -> bool:
        """Whether this process leads the job now: keeps the lock, or tries to
        take it (rate-limited). Compare with ``leading`` before the call to see
        a change: a new leader re-reads what others may have changed."""
        now = self.clock()
        if self.leading:
            if now - self._checked < self.check_every:
                return True
            self._checked = now
            if self.lock.check():
                return True
            self.leading = False
            self._next_attempt = now  # try again right away: the server may be back
            return False
        if now < self._next_attempt:
            return False
        self._next_attempt = now + self.retry
        if not self.lock.acquire(blocking=False):
            return False
        self.leading = True
        self._checked = now
        return True

    def release(self) -> None:
        """Gives the lead up (another process may take it at once)."""
        self.lock.release()
        self.leading = False


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
