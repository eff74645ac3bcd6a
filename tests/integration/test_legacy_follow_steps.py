"""``projections.legacy_follow`` step by step, in one process: each step is one
legacy transaction that moves the stored position over at most ``step_events``
events; a step that fails writes nothing (the position stays); two followers of
one table take turns; the table always ends equal to a one-shot export."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from api.app import Services, build_services
from api.settings import Settings
from projections.legacy_export import legacy_rows, write_legacy_rows
from projections.legacy_follow import LegacyFollower

pytestmark = pytest.mark.postgres  # the legacy database is PostgreSQL

ACTOR = "t"


@pytest.fixture
def services(database_url: str) -> Iterator[Services]:
    built = build_services(Settings(  # type: ignore[call-arg]
        _env_file=None, database_url=database_url, demo_on_empty=False))
    yield built
    built.close()


def follower(services: Services, target: str, step_events: int = 1000) -> LegacyFollower:
    return LegacyFollower(services.ledger, services.read_side, services.queries,
                          lambda: psycopg.connect(target, autocommit=True), "service_tickets",
                          step_events=step_events)


def table(url: str) -> dict[str, dict[str, Any]]:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        return {r["id"]: r for r in conn.execute("SELECT * FROM service_tickets")}


def oneshot(services: Services, url: str) -> dict[str, dict[str, Any]]:
    services.read_side.catch_up()
    with psycopg.connect(url) as conn:
        write_legacy_rows(conn, "service_tickets", legacy_rows(services.queries))
    return table(url)


def record(services: Services, tickets: int) -> None:
    ledger = services.ledger
    ledger.register_engineer(engineer_id="ada", name="Ada", skills=["x"], tier=2, capacity=50,
                             availability=1.0, actor=ACTOR).result()
    for n in range(tickets):
        opened = ledger.open_ticket(title=f"T{n}", actor=ACTOR).result()
        if n % 2:
            ledger.assign(opened.aggregate_id, engineer_id="ada", tier=1, actor=ACTOR).result()


def test_steps_move_the_position_in_bounded_batches(
    services: Services, postgres_url_factory: Callable[[], str]
) -> None:
    target = postgres_url_factory()
    record(services, 2)
    f = follower(services, target, step_events=3)
    assert f.setup() is None
    first = f.step()  # no position yet: every ticket, at the head
    assert first is not None and (first.position, first.tickets) == (services.ledger.head(), 2)
    start = first.position
    ledger = services.ledger
    for n in range(4):  # 4 tickets, 2 of them assigned: 6 events
        opened = ledger.open_ticket(title=f"U{n}", actor=ACTOR).result()
        if n < 2:
            ledger.assign(opened.aggregate_id, engineer_id="ada", tier=1, actor=ACTOR).result()
    positions = []
    while (step := f.step()) is not None:
        positions.append(step.position)
    assert positions == [start + 3, start + 6]
    assert f.setup() == services.ledger.head()
    assert table(target) == oneshot(services, postgres_url_factory())
    f.close()


def test_a_failed_step_writes_nothing_and_two_followers_take_turns(
    services: Services, postgres_url_factory: Callable[[], str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    target = postgres_url_factory()
    record(services, 3)
    a, b = follower(services, target), follower(services, target)
    a.setup()
    assert a.step() is not None
    before = (table(target), a.setup())
    services.ledger.open_ticket(title="late", actor=ACTOR).result()

    def broken(*_args: Any, **_kw: Any) -> Any:
        raise RuntimeError("the read tables are unreachable")

    with monkeypatch.context() as m:
        m.setattr("projections.legacy_follow.legacy_rows_of", broken)
        with pytest.raises(RuntimeError):
            a.step()
    assert (table(target), a.setup()) == before  # rolled back whole

    b.setup()
    assert b.step() is not None  # the other follower carries on from the stored position
    assert a.step() is None  # and this one finds nothing left, not a position to go back to
    assert a.setup() == services.ledger.head()
    assert table(target) == oneshot(services, postgres_url_factory())
    a.close()
    b.close()


def test_a_passive_follower_projects_the_read_tables_itself_when_no_one_does(
    database_url: str, postgres_url_factory: Callable[[], str]
) -> None:
    """The CLI's follower waits for ``ledger serve``'s runner (passive); with no
    server running, a step still completes: it catches the read tables up itself."""
    passive = build_services(Settings(  # type: ignore[call-arg]
        _env_file=None, database_url=database_url, demo_on_empty=False, run_projections=False))
    try:
        target = postgres_url_factory()
        f = follower(passive, target)
        f.setup()
        assert f.step() is not None  # nothing recorded yet: an empty first export
        record(passive, 3)
        step = f.step()
        assert step is not None and (step.position, step.tickets) == (passive.ledger.head(), 3)
        assert len(table(target)) == 3
        f.close()
    finally:
        passive.close()
