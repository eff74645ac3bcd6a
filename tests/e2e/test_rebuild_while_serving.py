"""A full rebuild of every projection while the API keeps serving reads and
commands: no request ever fails, nothing known ever disappears or shrinks, no
row is ever partial; afterwards the answers equal a fresh rebuild's.

The commands issued meanwhile only add (open, assign, accept, register), so
every count the reads see may only grow: tickets, a ticket's assignments and
history, the active assignments, the engineers and their open assignments.
"""

from __future__ import annotations

import logging
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from api.demo import ENGINEERS, seed_demo
from api.schemas import Engineer, EngineerAssignment, HistoryRow, Ticket
from projections import bulk

TICKETS = 200
#: The admin token the test app accepts (ignored by an app without authentication).
ADMIN_TOKEN = "rebuild-while-serving-admin-token-0123456789abcdef"
ACTIVE = {"assigned", "accepted", "in_progress"}
TICKET_FIELDS = set(Ticket.model_fields)
ASSIGNMENT_FIELDS = set(EngineerAssignment.model_fields)
ENGINEER_FIELDS = set(Engineer.model_fields)
HISTORY_FIELDS = set(HistoryRow.model_fields)
# Fields the read tables declare NOT NULL: a partial row would show a null here.
TICKET_REQUIRED = ("id", "title", "priority", "status", "version", "assignment_count",
                   "created_at", "updated_at")
ASSIGNMENT_REQUIRED = ("id", "ticket_id", "engineer_id", "assignment_sequence",
                       "assignment_tier", "assignment_type", "status", "assigned_at",
                       "created_at", "updated_at")
ENGINEER_REQUIRED = ("id", "name", "skills", "tier", "capacity", "availability", "active",
                     "open_assignments", "created_at", "updated_at")


@contextmanager
def running(database_url: str) -> Iterator[Any]:
    from api.app import create_app
    from api.settings import Settings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, database_url=database_url, actor="rebuild-e2e", demo_on_empty=False,
        run_projections=True, read_your_writes_timeout=10.0, min_position_timeout=10.0,
        admin_token=ADMIN_TOKEN,
    )
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with TestClient(create_app(settings), headers=auth) as client:
        yield client


class RunnerErrors(logging.Handler):
    """Collects the live runner's "error (retrying)" warnings."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, (
        f"{response.request.method} {response.request.url} -> {response.status_code}, "
        f"expected {status}: {response.text}"
    )
    return response.json()


def complete(row: dict[str, Any], fields: set[str], required: tuple[str, ...]) -> None:
    assert set(row) == fields, f"row with other fields: {sorted(row)}"
    missing = [f for f in required if row[f] is None]
    assert not missing, f"partial row, {missing} null: {row}"


def paged(client: Any, path: str, limit: int, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    query = {"limit": limit, **params}
    for _ in range(1000):
        page = ok(client.get(path, params=query))
        items.extend(page["items"])
        if page["next_cursor"] is None:
            return items
        query["cursor"] = page["next_cursor"]
    raise AssertionError(f"{path}: paging did not end")


class Watcher:
    """Remembers every answer and checks each new one against the last."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.tickets: dict[str, dict[str, Any]] = {}  # id -> last seen row
        self.assignments: dict[str, list[str]] = {}  # ticket id -> assignment ids in order
        self.history: dict[str, list[int]] = {}  # ticket id -> history ids
        self.active: set[str] = set()
        self.engineers: dict[str, int] = {}  # id -> open assignments
        self.requests = 0

    def get(self, path: str, **params: Any) -> Any:
        self.requests += 1
        return ok(self.client.get(path, params=params or None))

    # ------------------------------------------------------------ checks

    def ticket_seen(self, row: dict[str, Any]) -> None:
        complete(row, TICKET_FIELDS, TICKET_REQUIRED)
        if row["current_assignment"] is not None:
            complete(row["current_assignment"], ASSIGNMENT_FIELDS, ASSIGNMENT_REQUIRED)
            assert row["current_assignment"]["ticket_id"] == row["id"]
        last = self.tickets.get(row["id"])
        if last is not None:
            assert row["version"] >= last["version"], (last, row)
            assert row["assignment_count"] >= last["assignment_count"], (last, row)
        self.tickets[row["id"]] = row

    def check_ticket_list(self) -> None:
        self.requests += 1
        rows = paged(self.client, "/tickets", 50)
        ids = [r["id"] for r in rows]
        assert len(ids) == len(set(ids)), "a ticket listed twice"
        missing = set(self.tickets) - set(ids)
        assert not missing, f"{len(missing)} known tickets vanished from GET /tickets"
        for row in rows:
            self.ticket_seen(row)

    def check_ticket(self, ticket_id: str) -> None:
        self.ticket_seen(self.get(f"/tickets/{ticket_id}"))

    def check_assignments_of(self, ticket_id: str) -> None:
        rows = self.get(f"/tickets/{ticket_id}/assignments")
        for row in rows:
            complete(row, ASSIGNMENT_FIELDS, ASSIGNMENT_REQUIRED)
            assert row["ticket_id"] == ticket_id
        ids = [r["id"] for r in rows]
        assert [r["assignment_sequence"] for r in rows] == list(range(1, len(rows) + 1))
        before = self.assignments.get(ticket_id, [])
        assert ids[: len(before)] == before, f"{ticket_id}: assignments went from {before} to {ids}"
        self.assignments[ticket_id] = ids

    def check_history_of(self, ticket_id: str) -> None:
        rows = self.get(f"/tickets/{ticket_id}/history")
        for row in rows:
            complete(row, HISTORY_FIELDS, ("id", "assignment_id", "ticket_id", "action",
                                            "changed_at"))
        ids = [r["id"] for r in rows]
        before = self.history.get(ticket_id, [])
        assert ids[: len(before)] == before, f"{ticket_id}: history went from {before} to {ids}"
        self.history[ticket_id] = ids

    def check_active(self) -> None:
        self.requests += 1
        rows = paged(self.client, "/assignments", 100, status="active")
        for row in rows:
            complete(row, ASSIGNMENT_FIELDS, ASSIGNMENT_REQUIRED)
            assert row["status"] in ACTIVE
        ids = {r["id"] for r in rows}
        lost = self.active - ids
        assert not lost, f"{len(lost)} active assignments vanished"
        self.active = ids

    def check_engineers(self) -> None:
        self.requests += 1
        rows = paged(self.client, "/engineers", 100)
        for row in rows:
            complete(row, ENGINEER_FIELDS, ENGINEER_REQUIRED)
        load = {r["id"]: r["open_assignments"] for r in rows}
        lost = set(self.engineers) - set(load)
        assert not lost, f"engineers vanished: {lost}"
        for engineer_id, count in self.engineers.items():
            assert load[engineer_id] >= count, (engineer_id, count, load[engineer_id])
        self.engineers = load

    # ------------------------------------------------------------ commands

    def add_work(self, n: int, engineer_id: str) -> None:
        """Opens a ticket, assigns and accepts it; every answer must show it."""
        created = self.client.post("/tickets", json={"title": f"During the rebuild #{n}"})
        ticket = ok(created, 201)
        self.ticket_seen(ticket)
        assigned = ok(self.client.post("/assignments", json={
            "ticket_id": ticket["id"], "engineer_id": engineer_id, "tier": 1,
        }), 201)
        complete(assigned, ASSIGNMENT_FIELDS, ASSIGNMENT_REQUIRED)
        accepted = ok(self.client.post(f"/assignments/{assigned['id']}/accept"))
        assert accepted["status"] == "accepted" and accepted["id"] == assigned["id"]
        self.check_ticket(ticket["id"])
        assert self.tickets[ticket["id"]]["current_assignment"]["id"] == assigned["id"]
        self.check_assignments_of(ticket["id"])
        assert self.assignments[ticket["id"]] == [assigned["id"]]
        self.check_history_of(ticket["id"])
        assert len(self.history[ticket["id"]]) == 2  # created, accepted
        self.active.add(assigned["id"])
        self.engineers[engineer_id] = self.engineers.get(engineer_id, 0) + 1

    def add_engineer(self, n: int) -> None:
        engineer_id = f"rebuild.e2e.{n}"
        row = ok(self.client.post("/engineers", json={
            "id": engineer_id, "name": f"Hired mid-rebuild {n}", "skills": ["fibre"],
        }), 201)
        complete(row, ENGINEER_FIELDS, ENGINEER_REQUIRED)
        self.engineers[engineer_id] = 0


def answers(client: Any, head: int) -> dict[str, Any]:
    """Everything the read API says, read once the live tables include ``head``."""
    tickets = paged(client, "/tickets", 100, min_position=head)
    return {
        "tickets": tickets,
        "active": paged(client, "/assignments", 100, status="active"),
        "assignments": paged(client, "/assignments", 200),
        "engineers": paged(client, "/engineers", 100),
        "per_ticket": {
            t["id"]: (
                ok(client.get(f"/tickets/{t['id']}")),
                ok(client.get(f"/tickets/{t['id']}/assignments")),
                ok(client.get(f"/tickets/{t['id']}/history")),
            )
            for t in tickets
        },
    }


@pytest.mark.slow
def test_rebuild_while_serving(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with running(database_url) as client:
        services = client.app.state.services
        read_side = services.read_side
        seed_demo(services.ledger, tickets=TICKETS, seed=21)
        head = services.ledger.head()
        watcher = Watcher(client)
        ok(client.get("/tickets", params={"min_position": head, "limit": 1}))
        watcher.check_ticket_list()
        assert len(watcher.tickets) == TICKETS
        ticket_ids = list(watcher.tickets)
        for ticket_id in ticket_ids:
            watcher.check_assignments_of(ticket_id)
        watcher.check_active()
        watcher.check_engineers()
        assert watcher.active and len(watcher.engineers) == len(ENGINEERS)
        before = {(e.name, e.generation) for e in read_side.live_entries()}
        assert before == {(name, 1) for name in read_side.projections}

        # A slow rebuild: small pages, a pause after each one (each one written).
        read_side.page_size = 25
        monkeypatch.setattr(bulk, "FLUSH_PAGES", 1)
        pages: list[int] = []
        outcome: dict[str, Any] = {}

        def progress(position: int, _head: int) -> None:
            pages.append(position)
            time.sleep(0.05)

        def rebuild() -> None:
            try:
                outcome["switched"] = read_side.rebuild(progress=progress)
            except BaseException as e:  # noqa: BLE001 - reported by the main thread
                outcome["error"] = e

        thread = threading.Thread(target=rebuild, name="test-rebuild", daemon=True)
        thread.start()
        rounds = 0
        n = 0
        deadline = time.monotonic() + 120
        while thread.is_alive():
            assert time.monotonic() < deadline, "the rebuild did not finish"
            rounds += 1
            if rounds % 2 == 1:
                n += 1
                watcher.add_work(n, ENGINEERS[n % 4][0])  # a tier-1 demo engineer
            if rounds % 5 == 0:
                watcher.add_engineer(rounds)
            watcher.check_ticket_list()
            sample = ticket_ids[(rounds * 13) % TICKETS:][:12]
            for ticket_id in sample:
                watcher.check_ticket(ticket_id)
                watcher.check_assignments_of(ticket_id)
                watcher.check_history_of(ticket_id)
            watcher.check_active()
            watcher.check_engineers()
        thread.join()
        assert "error" not in outcome, repr(outcome.get("error"))
        assert len(pages) > 20, "the rebuild was too quick to overlap anything"
        assert rounds >= 2, f"only {rounds} rounds of reads overlapped the rebuild"

        after = {(e.name, e.generation) for e in read_side.live_entries()}
        assert after == {(name, 2) for name in read_side.projections}
        assert {e.name for e in outcome["switched"]} == set(read_side.projections)

        # One more round after the switch, then the final answers.
        watcher.add_work(n + 1, ENGINEERS[0][0])
        watcher.check_ticket_list()
        watcher.check_active()
        watcher.check_engineers()
        for ticket_id in watcher.tickets:
            watcher.check_assignments_of(ticket_id)
        head = services.ledger.head()
        final = answers(client, head)
        assert len(final["tickets"]) == TICKETS + n + 1
        assert {a["id"] for a in final["active"]} == watcher.active

        read_side.page_size = 5000
        read_side.rebuild()
        assert services.ledger.head() == head
        assert answers(client, head) == final
        statuses = ok(client.get("/projections"))
        assert {(s["generation"], s["status"], s["lag"]) for s in statuses} == {(3, "live", 0)}


@pytest.mark.parametrize("keep", [True, False], ids=["keep-old", "drop-old"])
def test_command_between_switches_is_answered_from_the_new_build(
    database_url: str, keep: bool, request: pytest.FixtureRequest
) -> None:
    """Deterministic probe of the window between the first projection's switch and
    the end of a rebuild: a command issued then must be readable in its own answer,
    and the live runner must not fail."""
    errors = RunnerErrors()
    logging.getLogger("ledger.projections").addHandler(errors)
    try:
        with running(database_url) as client:
            services = client.app.state.services
            read_side = services.read_side
            seed_demo(services.ledger, tickets=10, seed=2)
            ok(client.get("/tickets", params={"min_position": services.ledger.head()}))
            # The runner also re-reads the catalog once per poll interval; a command
            # that lands within a second of a switch sees what this pins down.
            read_side.poll_interval = 3600
            store = read_side.store
            hook_name = "switch" if keep else "drop_tables"
            real = getattr(store, hook_name)
            seen: list[tuple[str, int, str]] = []

            def hooked(entry: Any, *args: Any) -> None:
                real(entry, *args)
                if entry.name == "tickets" and not seen:
                    created = client.post("/tickets", json={"title": "between the switches"})
                    seen.append(("POST /tickets", created.status_code, created.text[:300]))
                    if created.status_code == 201:
                        got = client.get(f"/tickets/{created.json()['id']}")
                        seen.append(("GET /tickets/{id}", got.status_code, got.text[:300]))

            setattr(store, hook_name, hooked)
            try:
                read_side.rebuild(keep=keep)
            finally:
                setattr(store, hook_name, real)
            assert seen, "the hook never ran"
            assert [(what, status) for what, status, _ in seen] == [
                ("POST /tickets", 201), ("GET /tickets/{id}", 200)
            ], seen
            assert errors.messages == [], errors.messages
    finally:
        logging.getLogger("ledger.projections").removeHandler(errors)


def test_what_was_listed_before_a_switch_is_listed_after_it(database_url: str) -> None:
    """Deterministic probe of the window between a build's last catch-up and its
    switch: a command answered in that window must stay visible after the switch."""
    with running(database_url) as client:
        services = client.app.state.services
        read_side = services.read_side
        seed_demo(services.ledger, tickets=10, seed=2)
        ok(client.get("/tickets", params={"min_position": services.ledger.head()}))
        read_side.poll_interval = 3600  # as above: within a poll interval of the switch
        store = read_side.store
        real = store.switch
        created: list[dict[str, Any]] = []
        after_switch: list[list[str]] = []

        def hooked(new: Any, old: Any, projection: Any) -> None:
            if new.name == "tickets" and not created:
                created.append(ok(client.post("/tickets", json={"title": "just in time"}), 201))
                assert created[0]["id"] in {t["id"] for t in paged(client, "/tickets", 100)}
            real(new, old, projection)  # may refuse: the new build is now behind
            if new.name == "tickets":
                after_switch.append([t["id"] for t in paged(client, "/tickets", 100)])

        store.switch = hooked  # type: ignore[method-assign]
        try:
            read_side.rebuild()
        finally:
            store.switch = real  # type: ignore[method-assign]
        assert created and after_switch
        assert created[0]["id"] in after_switch[0], "listed before the switch, gone after it"
