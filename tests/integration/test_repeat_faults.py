"""The repeat-fault policy (contract: Field service, Repeat faults): raised once
per place and episode, each ticket joined and noted once, whether two runners
race (threads, and processes of their own) or one dies half-way (an exit
between fault and notes, and a kill -9); a rebuild of the read tables raises
nothing again."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from ledger.application import Ledger
from ledger.repeat_fault import RepeatFault, repeat_fault_id
from ledger.repeat_policy import parse_thresholds
from projections.repeat_fault_queries import RepeatFaultQueries
from projections.repeat_policy_runner import RepeatFaultRunner
from projections.runner import ReadSide
from projections.store import ReadStore

ACTOR = "desk"
THRESHOLDS = parse_thresholds("")  # pole=3, pon=5, zone=10, dr=3
START = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


def runner(ledger: Ledger, store: ReadStore, **options: object) -> RepeatFaultRunner:
    return RepeatFaultRunner(ledger, store, window=timedelta(days=30), thresholds=THRESHOLDS,
                             lead=False, **options)  # type: ignore[arg-type]


def open_at(ledger: Ledger, pole: str, at: datetime | None = None, **place: str) -> UUID:
    return ledger.open_ticket(title=f"LOS at {pole}", actor=ACTOR, timestamp=at,
                              location={"pole": pole, **place}).result().aggregate_id


def recorded(ledger: Ledger, topic: str) -> list:
    found = ledger.recorder.select_notifications(start=1, limit=100_000, topics=[topic])
    return [ledger.mapper.to_domain_event(n) for n in found]


def system_notes(ledger: Ledger) -> Counter:
    """(ticket, note id) -> how many times recorded."""
    return Counter((e.originator_id, e.note_id)
                   for e in recorded(ledger, "ledger.domain:Ticket.NoteAdded")
                   if e.kind == "system")


def one_note_each(notes: Counter, tickets: list[UUID]) -> bool:
    """Each ticket (on one fault) has exactly one system note: none lost, none
    recorded twice, under the same note id or another."""
    return set(notes.values()) == {1} and Counter(t for t, _n in notes) == Counter(set(tickets))


def joins(ledger: Ledger) -> Counter:
    """(fault, ticket) -> how many times the ticket went onto the fault."""
    counted: Counter = Counter()
    for e in recorded(ledger, "ledger.domain:RepeatFault.Raised"):
        counted.update((e.originator_id, t) for t in e.ticket_ids)
    for e in recorded(ledger, "ledger.domain:RepeatFault.TicketJoined"):
        counted[(e.originator_id, e.ticket_id)] += 1
    return counted


def test_a_place_reaching_its_threshold_raises_one_fault_later_tickets_join(
    ledger: Ledger, store: ReadStore,
) -> None:
    policy = runner(ledger, store)
    first = [open_at(ledger, "P-1", START + timedelta(days=i)) for i in range(2)]
    open_at(ledger, "P-2")
    assert policy.run_once() == 3
    assert recorded(ledger, "ledger.domain:RepeatFault.Raised") == []
    third = open_at(ledger, "P-1", START + timedelta(days=5))
    policy.run_once()
    fault_id = repeat_fault_id("pole", "P-1", 1)
    fault = ledger.get_repeat_fault(fault_id)
    assert (fault.scope, fault.value, fault.status) == ("pole", "P-1", "open")
    assert fault.ticket_ids == [*first, third]
    assert fault.first_opened_at == START and fault.last_opened_at == START + timedelta(days=5)
    assert {e.actor for e in recorded(ledger, "ledger.domain:RepeatFault.Raised")} == {"system"}

    fourth = open_at(ledger, "P-1", START + timedelta(days=90))  # out of the window: joins
    policy.run_once()
    assert ledger.get_repeat_fault(fault_id).ticket_ids[-1] == fourth
    assert one_note_each(system_notes(ledger), [*first, third, fourth])
    assert all(ledger.get_ticket(t).version == 2 for t in (*first, third, fourth))

    ledger.resolve_repeat_fault(fault_id, resolution="Pole replaced", actor=ACTOR).result()
    after = [open_at(ledger, "P-1", START + timedelta(days=91 + i)) for i in range(2)]
    policy.run_once()
    assert ledger.get_repeat_fault(fault_id).ticket_ids[-1] == fourth  # resolved: no joins
    after.append(open_at(ledger, "P-1", START + timedelta(days=93)))
    policy.run_once()
    second = ledger.get_repeat_fault(repeat_fault_id("pole", "P-1", 2))
    assert second.ticket_ids == after and second.status == "open"


def test_only_tickets_within_the_window_count(ledger: Ledger, store: ReadStore) -> None:
    for days in (0, 31, 62, 93):  # never three within 30 days
        open_at(ledger, "P-9", START + timedelta(days=days))
    policy = runner(ledger, store)
    policy.run_once()
    assert recorded(ledger, "ledger.domain:RepeatFault.Raised") == []
    open_at(ledger, "P-9", START + timedelta(days=100))
    open_at(ledger, "P-9", START + timedelta(days=101))  # 93, 100, 101: three
    policy.run_once()
    (raised,) = recorded(ledger, "ledger.domain:RepeatFault.Raised")
    assert raised.first_opened_at == START + timedelta(days=93)


def test_each_scope_has_its_threshold(ledger: Ledger, store: ReadStore) -> None:
    tickets = [open_at(ledger, f"P-{i}", dr="DR-7", pon="PON-1") for i in range(4)]
    policy = runner(ledger, store)
    policy.run_once()
    (raised,) = recorded(ledger, "ledger.domain:RepeatFault.Raised")
    assert (raised.scope, raised.value, raised.ticket_ids) == ("dr", "DR-7", tickets[:3])
    tickets.append(open_at(ledger, "P-5", pon="PON-1"))
    policy.run_once()
    pon = ledger.get_repeat_fault(repeat_fault_id("pon", "PON-1", 1))
    assert pon.ticket_ids == tickets
    # Ticket 4 is on both faults: the DR's (joined) and the PON's (raised), a note each.
    notes = system_notes(ledger)
    assert Counter(t for t, _n in notes)[tickets[3]] == 2


def test_two_runners_racing_record_each_fault_join_and_note_once(
    database_url: str, ledger: Ledger, store: ReadStore,
) -> None:
    other = Ledger(database_url)  # a second process's ledger: its own commands and cache
    try:
        runners = [runner(ledger, store), runner(other, store)]
        stop = threading.Event()
        errors: list[BaseException] = []

        def race(r: RepeatFaultRunner) -> None:
            while not stop.is_set():
                try:
                    r.run_once()
                except BaseException as e:  # noqa: BLE001 - the test reports it
                    errors.append(e)
                    return

        threads = [threading.Thread(target=race, args=(r,)) for r in runners]
        for t in threads:
            t.start()
        opened = [open_at(ledger if i % 2 else other, f"P-{i % 3}") for i in range(12)]
        stop.set()
        for t in threads:
            t.join(30)
        assert errors == []
        for r in runners:
            r.run_once()
        raised = recorded(ledger, "ledger.domain:RepeatFault.Raised")
        assert sorted((e.value, e.episode) for e in raised) == [("P-0", 1), ("P-1", 1),
                                                                ("P-2", 1)]
        counted = joins(ledger)
        assert set(counted.values()) == {1}
        assert {t for _f, t in counted} == set(opened)
        assert one_note_each(system_notes(ledger), opened)
    finally:
        other.close()


def test_a_runner_killed_between_the_fault_and_its_notes_finishes_on_restart(
    ledger: Ledger, store: ReadStore,
) -> None:
    tickets = [open_at(ledger, "P-4") for _ in range(3)]
    crashing = runner(ledger, store)

    def crash(*_args: object) -> None:
        raise SystemExit("killed after the fault, before its notes")

    crashing._note = crash  # type: ignore[method-assign]
    with pytest.raises(SystemExit):
        crashing.run_once()
    assert len(recorded(ledger, "ledger.domain:RepeatFault.Raised")) == 1
    assert system_notes(ledger) == Counter()

    restarted = runner(ledger, store)
    restarted.run_once()
    assert len(recorded(ledger, "ledger.domain:RepeatFault.Raised")) == 1
    assert set(joins(ledger).values()) == {1}
    assert one_note_each(system_notes(ledger), tickets)
    head = ledger.head()
    runner(ledger, store).run_once()  # a third start: nothing left to do
    assert ledger.head() == head


def test_rebuilding_the_read_tables_raises_nothing_again(
    ledger: Ledger, store: ReadStore, read_side: ReadSide,
) -> None:
    tickets = [open_at(ledger, "P-6") for _ in range(3)]
    policy = runner(ledger, store)
    policy.run_once()
    ledger.acknowledge_repeat_fault(repeat_fault_id("pole", "P-6", 1), note="crew booked",
                                    actor=ACTOR).result()
    read_side.catch_up()
    queries = RepeatFaultQueries(store)
    (before,) = queries.faults(limit=10, cursor=None).items
    assert before["ticket_ids"] == [str(t) for t in tickets]
    assert (before["count"], before["status"], before["acknowledged_by"]) == (
        3, "acknowledged", ACTOR)
    head = ledger.head()
    read_side.rebuild()
    assert queries.faults(limit=10, cursor=None).items == [before]
    runner(ledger, store).run_once()
    assert ledger.head() == head
    # Its own position lost too (a fresh read database): the whole log decided
    # again, and everything it decides is recorded already.
    forgetful = runner(ledger, store)
    forgetful.positions.get = lambda _name: 0  # type: ignore[method-assign]
    assert forgetful.run_once() > 0
    assert ledger.head() == head


def test_acknowledge_and_resolve_follow_the_status(ledger: Ledger) -> None:
    fault = RepeatFault.raise_fault(scope="pole", value="P-1", episode=1,
                                    tickets=[(repeat_fault_id("x", "y", 1), START)],
                                    actor="system")
    ledger.save(fault)
    ledger.acknowledge_repeat_fault(fault.id, actor=ACTOR).result()
    from ledger.errors import RepeatFaultStateError

    with pytest.raises(RepeatFaultStateError):
        ledger.acknowledge_repeat_fault(fault.id, actor=ACTOR).result()
    ledger.resolve_repeat_fault(fault.id, resolution="fixed", actor=ACTOR).result()
    with pytest.raises(RepeatFaultStateError):
        ledger.resolve_repeat_fault(fault.id, resolution="again", actor=ACTOR).result()
    assert ledger.get_repeat_fault(fault.id).status == "resolved"


#: A runner in a process of its own, deciding in a loop without the lock (so it
#: races every other), as a second server would if two led at once.
RACER = """
import sys, time
from datetime import timedelta
from ledger.application import Ledger
from ledger.repeat_policy import parse_thresholds
from projections.backend import build_store
from projections.repeat_policy_runner import RepeatFaultRunner

ledger = Ledger(sys.argv[1])
runner = RepeatFaultRunner(ledger, build_store(ledger.store, pool_size=2),
                           window=timedelta(days=30), thresholds=parse_thresholds(""), lead=False)
print("ready", flush=True)
while True:
    runner.run_once()
    time.sleep(0.005)
"""


def test_two_processes_racing_and_a_kill_9_record_each_fault_join_and_note_once(
    database_url: str, ledger: Ledger, store: ReadStore,
) -> None:
    runner(ledger, store).run_once()  # its tables exist before the processes race

    def racer() -> subprocess.Popen[str]:
        process = subprocess.Popen([sys.executable, "-c", RACER, database_url],
                                   stdout=subprocess.PIPE, text=True)
        assert process.stdout is not None and process.stdout.readline().strip() == "ready"
        return process

    places, per_place = 12, 3
    processes = [racer(), racer()]
    try:
        opened = []
        for round_ in range(per_place):
            for place in range(places):
                opened.append(open_at(ledger, f"K-{place}"))
                if round_ == per_place - 1 and place == places // 2:
                    # Mid-stream: faults are being raised and noted as it dies.
                    assert processes[0].poll() is None, "the racer died on its own"
                    processes[0].kill()
                    processes[0].wait(10)
                    processes.append(racer())  # the restart

        def finished() -> bool:
            return len(system_notes(ledger)) >= len(opened)

        deadline = time.monotonic() + 60
        while not finished():
            assert time.monotonic() < deadline, "the racers did not finish"
            time.sleep(0.05)
        time.sleep(0.5)  # anything recorded twice would show by now
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait(10)
    raised = recorded(ledger, "ledger.domain:RepeatFault.Raised")
    assert sorted((e.value, e.episode) for e in raised) == sorted(
        (f"K-{p}", 1) for p in range(places))
    assert {e.actor for e in raised} == {"system"}
    counted = joins(ledger)
    assert set(counted.values()) == {1} and {t for _f, t in counted} == set(opened)
    assert one_note_each(system_notes(ledger), opened)
