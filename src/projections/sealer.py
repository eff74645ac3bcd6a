"""The sealer: it follows the log like a projection and, every N events and
at least every ``interval`` seconds while events arrive, records a signed
checkpoint (``projections.checkpoints``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from ledger.hashchain import GENESIS, recorded_hash, stored_event_hash
from ledger.signing import Signer
from ledger.store import StoreConfig
from projections.checkpoints import (
    Checkpoint,
    CheckpointStore,
    StoredLog,
    checkpoint_message,
    running_next,
)
from projections.locks import Leadership


#: Events read per query while following the log.
READ_PAGE = 10_000


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


class Sealer:
    """Seals signed checkpoints while following the log.

    One process of all sharing a store seals (``Leadership``); the others
    stand by and take over when it goes away. Its state -- position, count and
    running hash -- is the last checkpoint, so a restart, or a process taking
    the lead over, resumes from there.
    """

    def __init__(
        self,
        log: StoredLog,
        checkpoints: CheckpointStore,
        signer: Signer,
        *,
        every: int = 1000,
        interval: float = 60.0,
        config: StoreConfig | None = None,
        poll: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.log = log
        self.checkpoints = checkpoints
        self.signer = signer
        self.every = every
        self.interval = interval
        self.poll = poll
        self.clock = clock
        self._leadership = (
            Leadership(config, "checkpoint-sealer", retry=poll) if config is not None else None
        )
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_seal = clock()
        self._state: tuple[int, int, str, int] | None = None
        self._mutex = threading.Lock()
        self.error: BaseException | None = None

    def _seal(self, position: int, events: int, running: str) -> Checkpoint:
        sealed_at = _now()
        message = checkpoint_message(position, events, running, sealed_at)
        checkpoint = Checkpoint(
            position=position, events=events, running_hash=running, sealed_at=sealed_at,
            key_id=self.signer.key_id, signature=self.signer.sign(message),
        )
        self.checkpoints.add(checkpoint)
        self._last_seal = self.clock()
        return checkpoint

    def seal_pending(self, *, force: bool = False) -> list[Checkpoint]:
        """Folds the events after those folded so far (after the last checkpoint
        on the first call); seals every ``every`` events, and what remains if
        ``force`` or ``interval`` has passed since the last seal."""
        with self._mutex:
            return self._seal_pending(force)

    def _seal_pending(self, force: bool) -> list[Checkpoint]:
        if self._state is None:
            last = self.checkpoints.last()
            self._state = (
                (last.position, last.events, last.running_hash, 0) if last else (0, 0, GENESIS, 0)
            )
        position, events, running, pending = self._state
        sealed: list[Checkpoint] = []
        try:
            # Pages larger than a checkpoint's span: catching up on a long log
            # (a copied-in or restored store) costs a query per page.
            for page in self.log.pages(after=position, page_size=max(self.every, READ_PAGE)):
                for row in page:
                    value = recorded_hash(row[4]) or stored_event_hash(*row[1:])
                    running = running_next(running, value)
                    position, events = row[0], events + 1
                    pending += 1
                    if pending >= self.every:
                        sealed.append(self._seal(position, events, running))
                        pending = 0
            if pending and (force or self.clock() - self._last_seal >= self.interval):
                sealed.append(self._seal(position, events, running))
                pending = 0
        except Exception:
            self._state = None  # start again from the last stored checkpoint
            raise
        self._state = (position, events, running, pending)
        return sealed

    @property
    def followed(self) -> int | None:
        """The position this process has hashed the log to while it leads (sealed,
        or pending the next seal); None while another process leads."""
        if self._leadership is not None and not self._leadership.leading:
            return None
        state = self._state
        return state[0] if state is not None else None

    # ------------------------------------------------------------------ thread

    def wake(self, _position: int = 0) -> None:
        self._wake.set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="checkpoint-sealer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if self._leads():
                    self.seal_pending()
                self.error = None
            except Exception as e:  # noqa: BLE001 - the store may be down; try again later
                self.error = e
                self._state = None
                if self._leadership is not None:
                    self._leadership.release()
            self._wake.wait(self.poll)
            self._wake.clear()

    def _leads(self) -> bool:
        if self._leadership is None:
            return True
        was_leading = self._leadership.leading
        leading = self._leadership.lead()
        if leading and not was_leading:
            with self._mutex:
                self._state = None  # another process may have sealed meanwhile
        return leading

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._leadership is not None:
            self._leadership.release()
