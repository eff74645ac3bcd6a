"""The repeat-fault policy as a background job: it follows the log, shows each
event to the policy (``ledger.repeat_policy``) and records its decisions
through the ``Ledger`` (actor ``system``), never on a command's path.

One process of all sharing a store runs it (a ``ProcessLock`` named
``repeat-faults``); the others stand by and take over. The lock is not what
keeps a fault single, though: the write model is. A fault's id is the place's
and the episode's, so a second raise conflicts; a join and a note are recorded
once per ticket (``RepeatFault.join``, ``Ticket.add_note`` with a note id
derived from the fault and the ticket). So two runners at once, or one that
died half-way and starts again, record each fault, join and note once.

Its position (``projections.policy_positions``) is saved after the decisions of
a page are recorded, and its state now and then (every ``STATE_EVERY`` events,
and on stop). On start it takes the saved state (if kept under the same window
and thresholds; else it starts from the log's beginning) and replays the events
from there up to the saved position without deciding, then decides from there
on: after a crash it decides the unfinished page again, and recording what is
already recorded does nothing.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta
from typing import Any

from eventsourcing.utils import get_topic

from ledger.application import Ledger
from ledger.errors import RepeatFaultExistsError
from ledger.repeat_policy import Decision, RaiseFault, RepeatPolicy, parse_thresholds
from ledger.ticket_notes import SYSTEM, SYSTEM_ACTOR, derived_note_id
from projections.locks import ProcessLock
from projections.pages import decode_page
from projections.policy_positions import PolicyPositions, SavedState

log = logging.getLogger("ledger.repeat_faults")

NAME = "repeat-faults"
#: Seconds a pass waits after the last, so a burst of commits' wake-ups makes one pass.
COALESCE = 0.1
#: Seconds between checks that the lock is still held (a PostgreSQL session may die).
LOCK_CHECK = 5.0
#: Seconds between saves of the position when nothing was decided.
SAVE_EVERY = 5.0
#: Events between saves of the policy's state (with a position save): a process
#: taking the lead replays at most about this many events to rebuild it.
STATE_EVERY = 50_000


def note_text(decision: Decision, fault_id: Any) -> str:
    place = f"{decision.scope} {decision.value}"
    if isinstance(decision, RaiseFault):
        return (f"Repeat fault raised at {place}: {len(decision.tickets)} tickets opened "
                f"there within the window (repeat fault {fault_id}).")
    return f"Joined the open repeat fault at {place} (repeat fault {fault_id})."


class RepeatFaultRunner:
    """``start()``/``stop()``: the job; ``run_once()``: one pass (tests, CLI)."""

    def __init__(
        self,
        ledger: Ledger,
        store: Any,
        *,
        window: timedelta,
        thresholds: dict[str, int],
        page_size: int = 1000,
        poll: float = 1.0,
        lead: bool = True,
    ) -> None:
        """``lead``: run only while holding the ``repeat-faults`` lock (tests
        turn it off to race two runners on purpose)."""
        self.ledger = ledger
        self.window = window
        self.thresholds = thresholds
        self.page_size = page_size
        self.poll = poll
        self.positions = PolicyPositions(store)
        self.positions.setup()
        self._topics = [get_topic(cls) for cls in RepeatPolicy.FOLLOWS]
        self._lock = ProcessLock(ledger.store, NAME) if lead else None
        self._lock_checked = 0.0
        self._policy: RepeatPolicy | None = None
        #: The policy's state is of the log up to here; its decisions up to
        #: here are recorded.
        self._seen = 0
        #: The position of the policy state saved last (or resumed from).
        self._state_at = 0
        #: Events replayed (without deciding) to rebuild the state on taking the lead.
        self.replayed = 0
        #: What ``positions`` holds, and when it was saved (monotonic seconds).
        self._saved = 0
        self._saved_at = 0.0
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._mutex = threading.Lock()
        self.error: BaseException | None = None

    # ------------------------------------------------------------------ one pass

    def run_once(self) -> int:
        """Decides and records everything after the saved position; returns how
        many events it showed the policy."""
        with self._mutex:
            try:
                return self._run()
            except BaseException:
                self._policy = None  # rebuilt from the log and the saved position
                raise

    def _run(self) -> int:
        if self._policy is None:
            saved = self.positions.get(NAME)
            policy, since = self._resumed(saved)
            self.replayed = self._follow(policy, since, saved, decide=False)
            self._policy = policy
            self._seen = self._saved = saved
            self._state_at = since
        return self._follow(self._policy, self._seen, None, decide=True)

    def _resumed(self, saved: int) -> tuple[RepeatPolicy, int]:
        """The policy as of its last saved state (under the same settings, not past
        the saved position) and that state's position; else a new one from 0."""
        fresh = RepeatPolicy(window=self.window, thresholds=self.thresholds)
        kept = self.positions.get_state(NAME)
        if kept is None or kept.settings != fresh.settings_key or kept.position > saved:
            return fresh, 0
        policy = RepeatPolicy.restore(kept.state, window=self.window, thresholds=self.thresholds)
        return policy, kept.position

    def _save_state(self) -> None:
        policy = self._policy
        if policy is not None and self._seen > self._state_at:
            self.positions.save_state(
                NAME, SavedState(self._seen, policy.settings_key, policy.snapshot()))
            self._state_at = self._seen

    def _follow(self, policy: RepeatPolicy, after: int, until: int | None, *, decide: bool) -> int:
        shown = 0
        recorder = self.ledger.recorder
        while until is None or after < until:
            head = recorder.max_notification_id() or 0
            if until is not None:
                head = min(head, until)
            notifications = recorder.select_notifications(
                start=after, limit=self.page_size, stop=until, topics=self._topics,
                inclusive_of_start=False,
            )
            decided = False
            for position, event in decode_page(self.ledger, notifications):
                decisions = policy.observe(event)
                if decide:
                    for decision in decisions:
                        self._carry_out(decision)
                        decided = True
                after = position
                shown += 1
            if len(notifications) < self.page_size:
                after = max(after, head)  # the rest up to the head was irrelevant
            if decide and after > self._seen:
                self._seen = after
                self._save(force=decided)
            if len(notifications) < self.page_size:
                break
        return shown

    def _save(self, *, force: bool) -> None:
        """Saves the position after recorded decisions, else now and then: a
        write per wake-up would contend with commands for SQLite's one writer,
        and an older saved position only means deciding again, which records
        nothing new."""
        now = time.monotonic()
        if force or now - self._saved_at >= SAVE_EVERY or self._seen - self._saved >= 10_000:
            self.positions.save(NAME, self._seen)
            self._saved, self._saved_at = self._seen, now
            if self._seen - self._state_at >= STATE_EVERY:
                self._save_state()

    def _carry_out(self, decision: Decision) -> None:
        if isinstance(decision, RaiseFault):
            fault_id = decision.fault_id
            try:
                self.ledger.raise_repeat_fault(
                    scope=decision.scope, value=decision.value, episode=decision.episode,
                    tickets=list(decision.tickets), actor=SYSTEM_ACTOR,
                ).result()
                log.info("raised repeat fault %s at %s %s", fault_id, decision.scope,
                         decision.value)
            except RepeatFaultExistsError:
                # Raised by another runner, or by this one before a crash: make
                # sure its tickets are on it (each joins once).
                for ticket_id, opened_at in decision.tickets:
                    self._join(fault_id, ticket_id, opened_at)
            tickets = [ticket_id for ticket_id, _at in decision.tickets]
        else:
            fault_id = decision.fault_id
            self._join(fault_id, decision.ticket_id, decision.opened_at)
            tickets = [decision.ticket_id]
        text = note_text(decision, fault_id)
        for ticket_id in tickets:
            self._note(fault_id, ticket_id, text)

    def _join(self, fault_id: Any, ticket_id: Any, opened_at: Any) -> None:
        self.ledger.join_repeat_fault(
            fault_id, ticket_id=ticket_id, opened_at=opened_at, actor=SYSTEM_ACTOR
        ).result()

    def _note(self, fault_id: Any, ticket_id: Any, text: str) -> None:
        self.ledger.add_note(
            ticket_id, note_id=derived_note_id(fault_id, ticket_id), kind=SYSTEM, text=text,
            actor=SYSTEM_ACTOR,
        ).result()

    @property
    def followed(self) -> int | None:
        """The position up to which this process has decided while it leads; None
        while another process leads or before its first pass."""
        if self._policy is None or (self._lock is not None and not self._lock.held):
            return None
        return self._seen

    # ------------------------------------------------------------------ the job

    def wake(self, _position: int = 0) -> None:
        self._wake.set()

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self.ledger.add_listener(self.wake)
        self._thread = threading.Thread(target=self._loop, name=NAME, daemon=True)
        self._thread.start()

    def _leads(self) -> bool:
        """Holds (or takes) the lock; on taking it, forgets its state: another
        process may have acted meanwhile, so it starts from the saved position."""
        if self._lock is None:
            return True
        now = time.monotonic()
        if self._lock.held:
            if now - self._lock_checked < LOCK_CHECK:
                return True
            self._lock_checked = now
            return self._lock.check()
        if not self._lock.acquire(blocking=False):
            return False
        self._lock_checked = now
        with self._mutex:
            self._policy = None
        log.info("this process now runs the repeat-fault policy")
        return True

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                if self._leads():
                    self.run_once()
                self.error = None
            except Exception as e:  # noqa: BLE001 - the store may be down; try again later
                self.error = e
                log.warning("repeat-fault policy error (retrying): %s: %s", type(e).__name__, e)
                if self._lock is not None:
                    self._lock.release()
            self._wake.wait(self.poll)
            self._wake.clear()
            self._stop.wait(COALESCE)

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self.ledger.remove_listener(self.wake)
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        if self._policy is not None:
            try:
                if self._seen > self._saved:
                    self._save(force=True)
                self._save_state()  # the next leader starts from here, replaying nothing
            except Exception:  # noqa: BLE001 - the store is down; the next start decides again
                log.debug("could not save the repeat-fault position on stop", exc_info=True)
        if self._lock is not None:
            self._lock.release()



def repeat_fault_job(settings: Any, ledger: Any, store: Any) -> RepeatFaultRunner | None:
    """The app's job, to be started (None when the settings turn it off), on the
    ledger and read store, with the settings' window and thresholds."""
    if not (settings.run_projections and settings.run_repeat_faults):
        return None
    return RepeatFaultRunner(
        ledger, store, window=timedelta(days=settings.repeat_fault_window_days),
        thresholds=parse_thresholds(settings.repeat_fault_thresholds),
    )
