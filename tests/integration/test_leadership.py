"""Several processes serving one store: exactly one runs the projections, the
others follow (their read-your-writes waits on stored positions) and one takes
over when the runner goes away. Two read sides in one process contend the same
way, because the locks are per connection (PostgreSQL) and per open file (SQLite)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from api.demo import seed_demo
from ledger.application import Ledger
from projections.backend import build_store
from projections.runner import ReadSide
from projections.store import ReadStore

ACTOR = "it-dispatcher"
TABLES = {
    "tickets": "id", "engineer_assignments": "id", "current_ticket_assignments": "ticket_id",
    "assignment_history": "id", "engineers": "id",
}


def rows(store: ReadStore) -> dict[str, list[dict]]:
    return {t: store.select(f"SELECT * FROM {t} ORDER BY {k}") for t, k in TABLES.items()}


@pytest.fixture
def stores(ledger: Ledger) -> Iterator[tuple[ReadStore, ReadStore]]:
    a, b = build_store(ledger.store, pool_size=2), build_store(ledger.store, pool_size=2)
    yield a, b
    a.close()
    b.close()


def wait_until(predicate, timeout: float = 10.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


def test_one_runner_leads_the_other_follows_and_takes_over(
    ledger: Ledger, stores: tuple[ReadStore, ReadStore]
) -> None:
    first = ReadSide(ledger, stores[0], poll_interval=0.1)
    first.setup()
    second = ReadSide(ledger, stores[1], poll_interval=0.1)
    second.setup()
    first.start()
    assert first.wait_until_led(timeout=5)
    second.start()
    time.sleep(0.3)
    assert first.leading and not second.leading

    # The follower's read-your-writes is satisfied by the leader's runner.
    seed_demo(ledger, tickets=5)
    result = ledger.open_ticket(title="follower waits", actor=ACTOR).result()
    assert second.wait_for(result.position, timeout=5)
    assert stores[1].select("SELECT id FROM tickets WHERE id = %s", [str(result.aggregate_id)])

    # The leader goes away: the follower takes over and keeps the tables current.
    first.stop()
    wait_until(lambda: second.leading)
    result = ledger.open_ticket(title="after the takeover", actor=ACTOR).result()
    assert second.wait_for(result.position, timeout=5)
    assert stores[1].select("SELECT id FROM tickets WHERE id = %s", [str(result.aggregate_id)])
    second.stop()

    served = rows(stores[0])
    ReadSide(ledger, stores[0]).rebuild()
    assert rows(stores[0]) == served


def test_concurrent_first_starts_create_each_build_once(
    ledger: Ledger, stores: tuple[ReadStore, ReadStore]
) -> None:
    import threading

    errors: list[BaseException] = []

    def setup(store: ReadStore) -> None:
        try:
            ReadSide(ledger, store).setup()
        except BaseException as e:  # noqa: BLE001 - collected and asserted below
            errors.append(e)

    threads = [threading.Thread(target=setup, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    live = [e for e in stores[0].catalog() if e.state == "live"]
    assert sorted(e.name for e in live) == sorted({e.name for e in live})
    assert {e.generation for e in live} == {1}
