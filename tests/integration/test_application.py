"""The ``Ledger`` application against a real store: runs on SQLite and PostgreSQL.
The commands' happy paths, engineers, refusals and If-Match.

Each test gets a fresh, empty store (see ``tests/conftest.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID, uuid4

import pytest

from ledger.application import CommandResult, Ledger
from ledger.domain import (
    ACCEPTED,
    ASSIGNED,
    COMPLETED,
    ESCALATED,
    IN_PROGRESS,
    REASSIGNED,
    REJECTED,
    REMOVED,
    Engineer,
    Ticket,
    engineer_aggregate_id,
)
from ledger.errors import (
    ActiveAssignmentExistsError,
    EngineerExistsError,
    EngineerNotFoundError,
    InvalidReferenceError,
    InvalidTransitionError,
    SameEngineerError,
    StaleVersionError,
    TicketClosedError,
    TicketExistsError,
    TicketNotFoundError,
)

from application_helpers import ACTOR, T0, assert_nothing_recorded, engineer, open_ticket

# ------------------------------------------------------------------ happy path


def test_empty_store_has_head_zero(ledger: Ledger) -> None:
    assert ledger.head() == 0


def test_open_ticket(ledger: Ledger) -> None:
    # when
    tid = uuid4()
    result = ledger.open_ticket(
        ticket_id=tid,
        title="Boiler leaks",
        actor="alice",
        description="Basement",
        priority="critical",
        required_skill="plumbing",
        equipment_id="EQ-1",
        reference="EXT-1",
        timestamp=T0,
    ).result()
    # then
    assert isinstance(result, CommandResult)
    assert (result.aggregate_id, result.version, result.assignment_id) == (tid, 1, None)
    assert result.position >= 1
    assert ledger.head() == result.position
    ticket = ledger.get_ticket(tid)
    assert isinstance(ticket, Ticket)
    assert (ticket.title, ticket.priority, ticket.status, ticket.opened_by) == (
        "Boiler leaks",
        "critical",
        "open",
        "alice",
    )
    assert ticket.created_on == T0, "the explicit timestamp survives the store"


def test_open_ticket_generates_an_id(ledger: Ledger) -> None:
    a = ledger.open_ticket(title="a", actor=ACTOR).result()
    b = ledger.open_ticket(title="b", actor=ACTOR).result()
    assert isinstance(a.aggregate_id, UUID)
    assert a.aggregate_id != b.aggregate_id
    assert b.position > a.position


def test_full_lifecycle(ledger: Ledger) -> None:
    # given three engineers and a ticket
    e1, e2, e3 = engineer(ledger), engineer(ledger, tier=2), engineer(ledger)
    opened = ledger.open_ticket(title="Server down", actor=ACTOR, equipment_id="SRV-1").result()
    tid = opened.aggregate_id
    results = [opened]

    # when the ticket goes through assign / accept / start / complete ...
    r = ledger.assign(tid, engineer_id=e1, tier=1, actor=ACTOR, reason="on call").result()
    results.append(r)
    a1 = r.assignment_id
    assert a1 is not None
    results.append(ledger.accept(tid, a1, actor=e1).result())
    assert results[-1].assignment_id == a1
    results.append(ledger.start(tid, a1, actor=e1).result())
    assert ledger.get_ticket(tid).status == "in_progress"
    results.append(
        ledger.complete(
            tid,
            a1,
            actor=e1,
            completion_status="success",
            time_spent_hours=1.25,
            diagnosis="fan",
            parts_used=[{"sku": "FAN-9", "qty": 2}],
            customer_rating=4,
        ).result()
    )
    assert ledger.get_ticket(tid).status == "resolved"
    # ... is reopened, escalated, reassigned, removed and closed
    results.append(ledger.reopen_ticket(tid, reason="back again", actor=ACTOR).result())
    r = ledger.assign(tid, engineer_id=e1, tier=1, actor=ACTOR).result()
    results.append(r)
    a2 = r.assignment_id
    r = ledger.escalate(tid, next_engineer_id=e2, reason="needs L2", actor=ACTOR).result()
    results.append(r)
    a3 = r.assignment_id
    r = ledger.reassign(tid, a3, new_engineer_id=e3, reason="e2 is out", actor=ACTOR).result()
    results.append(r)
    a4 = r.assignment_id
    results.append(ledger.accept(tid, a4, actor=e3).result())
    results.append(ledger.remove(tid, a4, reason="customer cancelled", actor=ACTOR).result())
    results.append(ledger.close_ticket(tid, reason="cancelled", actor=ACTOR).result())

    # then positions strictly increase, versions count up by one
    positions = [r.position for r in results]
    assert positions == sorted(set(positions)), positions
    assert [r.version for r in results] == list(range(1, len(results) + 1))
    assert all(r.aggregate_id == tid for r in results)
    assert ledger.head() == positions[-1]
    assert len({a1, a2, a3, a4}) == 4

    ticket = ledger.get_ticket(tid)
    assert ticket.status == "closed"
    assert ticket.version == len(results)
    by_seq = sorted(ticket.assignments.values(), key=lambda a: a.sequence)
    assert [(a.id, a.sequence, a.engineer_id, a.tier, a.status) for a in by_seq] == [
        (a1, 1, e1, 1, COMPLETED),
        (a2, 2, e1, 1, ESCALATED),
        (a3, 3, e2, 2, REASSIGNED),
        (a4, 4, e3, 2, REMOVED),
    ]

    # and the stored events carry their actors and payloads
    events = list(ledger.events.get(tid))
    assert [type(e).__name__ for e in events] == [
        "Opened", "Assigned", "Accepted", "Started", "Completed", "Reopened",
        "Assigned", "Escalated", "Reassigned", "Accepted", "Removed", "Closed",
    ]  # fmt: skip
    assert [e.actor for e in events][:4] == [ACTOR, ACTOR, e1, e1]
    completed = events[4]
    assert completed.parts_used == [{"sku": "FAN-9", "qty": 2}]
    assert completed.time_spent_hours == 1.25
    assert completed.assignment_id == a1
    assert isinstance(completed.assignment_id, UUID)
    assert events[1].equipment_id == "SRV-1"


def test_historical_version(ledger: Ledger) -> None:
    e1 = engineer(ledger)
    tid = open_ticket(ledger)
    a = ledger.assign(tid, engineer_id=e1, tier=1, actor=ACTOR).result().assignment_id
    ledger.accept(tid, a, actor=e1).result()
    ledger.start(tid, a, actor=e1).result()
    at_2 = ledger.get_ticket(tid, version=2)
    assert at_2.version == 2
    assert at_2.assignments[a].status == ASSIGNED
    assert ledger.get_ticket(tid, version=3).assignments[a].status == ACCEPTED
    assert ledger.get_ticket(tid).assignments[a].status == IN_PROGRESS


def test_reject_then_assign_again(ledger: Ledger) -> None:
    e1, e2 = engineer(ledger), engineer(ledger)
    tid = open_ticket(ledger)
    a1 = ledger.assign(tid, engineer_id=e1, tier=1, actor=ACTOR).result().assignment_id
    ledger.reject(tid, a1, reason="on leave", actor=e1).result()
    a2 = ledger.assign(tid, engineer_id=e2, tier=1, actor=ACTOR).result().assignment_id
    ticket = ledger.get_ticket(tid)
    assert ticket.assignments[a1].status == REJECTED
    assert ticket.assignments[a2].sequence == 2
    assert ticket.active_assignment.id == a2


def test_listeners_hear_each_commit(ledger: Ledger) -> None:
    heard: list[int] = []
    ledger.add_listener(heard.append)
    r1 = ledger.open_ticket(title="a", actor=ACTOR).result()
    r2 = ledger.open_ticket(title="b", actor=ACTOR).result()
    ledger.remove_listener(heard.append)
    ledger.open_ticket(title="c", actor=ACTOR).result()
    assert heard == [r1.position, r2.position]


# ------------------------------------------------------------------ engineers


def test_register_and_update_engineer(ledger: Ledger) -> None:
    # when
    result = ledger.register_engineer(
        engineer_id="eng-x", name="Grace", actor="hr", skills=["hvac"], tier=2, capacity=3, availability=0.5
    ).result()
    # then
    assert (result.aggregate_id, result.version) == (engineer_aggregate_id("eng-x"), 1)
    eng = ledger.get_engineer("eng-x")
    assert isinstance(eng, Engineer)
    assert (eng.name, eng.skills, eng.tier, eng.capacity, eng.availability, eng.active) == (
        "Grace",
        ["hvac"],
        2,
        3,
        0.5,
        True,
    )
    # an update that changes nothing records nothing
    head = ledger.head()
    assert ledger.update_engineer("eng-x", changes={"name": "Grace", "tier": 2}, actor="lead").result() is None
    assert ledger.head() == head
    # a real change is recorded
    updated = ledger.update_engineer("eng-x", changes={"tier": 3, "name": "Grace"}, actor="lead").result()
    assert updated is not None
    assert updated.version == 2
    assert updated.position > result.position
    assert ledger.get_engineer("eng-x").tier == 3
    (_, event) = list(ledger.events.get(engineer_aggregate_id("eng-x")))
    assert event.changes == {"tier": 3}
    assert event.actor == "lead"


def test_duplicate_engineer(ledger: Ledger) -> None:
    eid = engineer(ledger)
    head = ledger.head()
    assert_nothing_recorded(
        ledger, head, lambda: ledger.register_engineer(engineer_id=eid, name="Other", actor="hr").result(), EngineerExistsError
    )
    assert ledger.get_engineer(eid).name == "Ada"


def test_unknown_engineer_lookup(ledger: Ledger) -> None:
    with pytest.raises(EngineerNotFoundError):
        ledger.get_engineer("nobody")
    with pytest.raises(EngineerNotFoundError):
        ledger.update_engineer("nobody", changes={"name": "x"}, actor="x").result()


# ------------------------------------------------------------------ refusals


def test_duplicate_ticket_id(ledger: Ledger) -> None:
    tid = open_ticket(ledger, title="first")
    head = ledger.head()
    assert_nothing_recorded(
        ledger, head, lambda: ledger.open_ticket(ticket_id=tid, title="second", actor=ACTOR).result(), TicketExistsError
    )
    assert ledger.get_ticket(tid).title == "first"


@pytest.mark.parametrize(
    "command",
    [
        lambda l, t, e: l.get_ticket(t),
        lambda l, t, e: l.assign(t, engineer_id=e, tier=1, actor=ACTOR).result(),
        lambda l, t, e: l.escalate(t, next_engineer_id=e, reason="r", actor=ACTOR).result(),
        lambda l, t, e: l.reassign(t, uuid4(), new_engineer_id=e, reason=None, actor=ACTOR).result(),
        lambda l, t, e: l.accept(t, uuid4(), actor=ACTOR).result(),
        lambda l, t, e: l.reject(t, uuid4(), reason=None, actor=ACTOR).result(),
        lambda l, t, e: l.start(t, uuid4(), actor=ACTOR).result(),
        lambda l, t, e: l.complete(t, uuid4(), actor=ACTOR, completion_status="success", time_spent_hours=1).result(),
        lambda l, t, e: l.remove(t, uuid4(), reason=None, actor=ACTOR).result(),
        lambda l, t, e: l.close_ticket(t, reason=None, actor=ACTOR).result(),
        lambda l, t, e: l.reopen_ticket(t, reason=None, actor=ACTOR).result(),
    ],
    ids=[
        "get", "assign", "escalate", "reassign", "accept", "reject", "start",
        "complete", "remove", "close", "reopen",
    ],
)  # fmt: skip
def test_unknown_ticket(ledger: Ledger, command: Callable[[Ledger, UUID, str], object]) -> None:
    eid = engineer(ledger)
    head = ledger.head()
    assert_nothing_recorded(ledger, head, lambda: command(ledger, uuid4(), eid), TicketNotFoundError)


def test_an_engineer_id_is_not_a_ticket(ledger: Ledger) -> None:
    eid = engineer(ledger)
    with pytest.raises(TicketNotFoundError):
        ledger.get_ticket(engineer_aggregate_id(eid))


@pytest.mark.parametrize(
    "command",
    [
        lambda l, t, e: l.assign(t, engineer_id=e, tier=1, actor=ACTOR).result(),
        lambda l, t, e: l.escalate(t, next_engineer_id=e, reason="r", actor=ACTOR).result(),
        lambda l, t, e: l.reassign(t, uuid4(), new_engineer_id=e, reason=None, actor=ACTOR).result(),
    ],
    ids=["assign", "escalate", "reassign"],
)
def test_unknown_ticket_is_reported_before_unknown_engineer(
    ledger: Ledger, command: Callable[[Ledger, UUID, str], object]
) -> None:
    with pytest.raises(TicketNotFoundError):
        command(ledger, uuid4(), "nobody")


@pytest.mark.parametrize("inactive", [False, True], ids=["unknown", "inactive"])
@pytest.mark.parametrize("command", ["assign", "escalate", "reassign"])
def test_unknown_or_inactive_engineer(ledger: Ledger, command: str, inactive: bool) -> None:
    # given a ticket with an active assignment (so escalate/reassign would be allowed)
    e1 = engineer(ledger)
    tid = open_ticket(ledger)
    a1 = ledger.assign(tid, engineer_id=e1, tier=1, actor=ACTOR).result().assignment_id
    if command == "assign":
        ledger.reject(tid, a1, reason=None, actor=e1).result()
    target = "nobody"
    if inactive:
        target = engineer(ledger)
        ledger.update_engineer(target, changes={"active": False}, actor="hr").result()
    head = ledger.head()
    version = ledger.get_ticket(tid).version
    # when / then
    run: dict[str, Callable[[], object]] = {
        "assign": lambda: ledger.assign(tid, engineer_id=target, tier=1, actor=ACTOR).result(),
        "escalate": lambda: ledger.escalate(tid, next_engineer_id=target, reason="r", actor=ACTOR).result(),
        "reassign": lambda: ledger.reassign(tid, a1, new_engineer_id=target, reason=None, actor=ACTOR).result(),
    }
    err = assert_nothing_recorded(ledger, head, run[command], InvalidReferenceError)
    assert target in str(err)
    assert ledger.get_ticket(tid).version == version


def test_domain_refusals_pass_through_and_record_nothing(ledger: Ledger) -> None:
    e1, e2 = engineer(ledger), engineer(ledger)
    tid = open_ticket(ledger)
    a1 = ledger.assign(tid, engineer_id=e1, tier=1, actor=ACTOR).result().assignment_id
    head = ledger.head()
    assert_nothing_recorded(
        ledger, head, lambda: ledger.assign(tid, engineer_id=e2, tier=1, actor=ACTOR).result(), ActiveAssignmentExistsError
    )
    assert_nothing_recorded(ledger, head, lambda: ledger.start(tid, a1, actor=e1).result(), InvalidTransitionError)
    assert_nothing_recorded(
        ledger,
        head,
        lambda: ledger.reassign(tid, a1, new_engineer_id=e1, reason=None, actor=ACTOR).result(),
        SameEngineerError,
    )
    ledger.remove(tid, a1, reason=None, actor=ACTOR).result()
    ledger.close_ticket(tid, reason=None, actor=ACTOR).result()
    head = ledger.head()
    assert_nothing_recorded(
        ledger, head, lambda: ledger.assign(tid, engineer_id=e2, tier=1, actor=ACTOR).result(), TicketClosedError
    )
    assert ledger.get_ticket(tid).status == "closed"


# ------------------------------------------------------------------ If-Match


def test_if_match(ledger: Ledger) -> None:
    # given a ticket at version 2
    e1 = engineer(ledger)
    tid = open_ticket(ledger)
    a1 = ledger.assign(tid, engineer_id=e1, tier=1, actor=ACTOR, expected_version=1).result().assignment_id
    head = ledger.head()
    # when the client's version is stale
    err = assert_nothing_recorded(
        ledger, head, lambda: ledger.accept(tid, a1, actor=e1, expected_version=1).result(), StaleVersionError
    )
    # then the error names the current version
    assert isinstance(err, StaleVersionError)
    assert err.current_version == 2
    # and the matching version goes through
    assert ledger.accept(tid, a1, actor=e1, expected_version=2).result().version == 3
    with pytest.raises(StaleVersionError):
        ledger.close_ticket(tid, reason=None, actor=ACTOR, expected_version=99).result()


