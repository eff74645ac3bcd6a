"""A process taking the lead of the repeat-fault policy resumes from its saved
state: it replays only the events after that state, not the whole log, and
decides exactly as if it had replayed everything (the unit tests check the
state itself; here, through the store, on SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

from ledger.application import Ledger
from ledger.repeat_fault import repeat_fault_id
from ledger.repeat_policy import parse_thresholds
from projections.repeat_policy_runner import RepeatFaultRunner
from projections.store import ReadStore

ACTOR = "desk"


def runner(ledger: Ledger, store: ReadStore, thresholds: str = "") -> RepeatFaultRunner:
    return RepeatFaultRunner(ledger, store, window=timedelta(days=30),
                             thresholds=parse_thresholds(thresholds), lead=False)


def open_at(ledger: Ledger, pole: str) -> None:
    ledger.open_ticket(title=f"LOS at {pole}", actor=ACTOR, location={"pole": pole}).result()


def test_the_next_leader_replays_only_what_follows_the_saved_state(
    ledger: Ledger, store: ReadStore,
) -> None:
    for pole in ("P-1", "P-1", "P-2", "P-1"):  # the third at P-1 raises its fault
        open_at(ledger, pole)
    first = runner(ledger, store)
    assert first.run_once() > 0
    fault_id = repeat_fault_id("pole", "P-1", 1)
    assert len(ledger.get_repeat_fault(fault_id).ticket_ids) == 3
    first.stop()  # saves its state at the position it decided to

    second = runner(ledger, store)
    open_at(ledger, "P-1")  # after the state: must join the open fault, not start a count
    second.run_once()
    assert second.replayed == 0
    assert len(ledger.get_repeat_fault(fault_id).ticket_ids) == 4

    # No state saved since (second was not stopped): the next one replays just
    # the policy's events after the state (the state was of the tickets: the
    # fault they raised was recorded after them, then the new ticket), and then
    # decides nothing new.
    head = ledger.head()
    third = runner(ledger, store)
    third.run_once()
    assert third.replayed == 2
    assert ledger.head() == head


def test_a_state_kept_under_other_thresholds_is_not_used(
    ledger: Ledger, store: ReadStore,
) -> None:
    for pole in ("P-1", "P-1", "P-1"):
        open_at(ledger, pole)
    first = runner(ledger, store)
    first.run_once()
    first.stop()
    other = runner(ledger, store, thresholds="pole=2")
    other.run_once()
    # From the log's beginning up to the saved position: the three tickets (the
    # fault they raised was recorded after them).
    assert other.replayed == 3
