"""A projection version bump reaches the views.

* A projection whose code version is bumped (a table with one more column) is
  rebuilt beside the old one and switched in: the column appears in the public
  view only after the switch, filled by the new fold; old tables are dropped (or
  kept with ``keep=True``); ``status()`` tells the story throughout.
* The same, through the API: an app started with the new code rebuilds the
  pending projection in the background and its answers stay the same.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

import projections.bulk
import projections.registry
import projections.runner
from api.demo import seed_demo
from ledger.application import Ledger
from projections.assignments import (
    ASSIGNMENT_COLUMNS,
    EngineerAssignmentsProjection,
)
from projections.base import Projection, Rows
from projections.registry import ALL_PROJECTIONS
from projections.runner import ReadSide
from projections.store import BUILDING, LIVE, RETIRED
from projections.tables import Column, Table, physical_name, sid

from rebuild_checks import (
    ADMIN_TOKEN,
    NAMES,
    PUBLIC_TABLES,
    VERSION,
    entries_of,
    opened,
    projection_tables,
    snapshot,
    view_columns,
)

# ---------------------------------------------------------------------- version bump


#: ``engineer_assignments``' version today, and the one the bump below makes.
OLD = EngineerAssignmentsProjection.version
NEW = OLD + 1
OLD_TABLE = physical_name("engineer_assignments", OLD, 1)
NEW_TABLE = physical_name("engineer_assignments", NEW, 1)


class EngineerAssignmentsV2(EngineerAssignmentsProjection):
    """The next version of ``engineer_assignments``: one more column,
    ``last_changed_position`` (the position of the last event that changed the row)."""

    version = NEW
    table = Table(
        "engineer_assignments",
        (*ASSIGNMENT_COLUMNS, Column("last_changed_position", "int", True)),
        key=("id",),
        indexes=(*EngineerAssignmentsProjection.table.indexes, ("last_changed_position",)),
    )
    tables = (table,)

    def handlers(self) -> dict[type, Any]:
        def stamped(handler: Any) -> Any:
            def fold(e: Any, position: int, rows: Rows) -> None:
                handler(e, position, rows)
                for attribute in ("assignment_id", "new_assignment_id"):
                    value = getattr(e, attribute, None)
                    if value is not None:
                        rows.patch(self.table, (sid(value),), last_changed_position=position)

            return fold

        return {cls: stamped(h) for cls, h in super().handlers().items()}


NEW_COLUMN = "last_changed_position"


def upgraded_projections() -> tuple[type[Projection], ...]:
    """Today's projections, with ``engineer_assignments`` at v2."""
    return tuple(
        EngineerAssignmentsV2 if cls is EngineerAssignmentsProjection else cls
        for cls in ALL_PROJECTIONS
    )


def v2_projections() -> list[Projection]:
    return [cls() for cls in upgraded_projections()]


def expected_last_changed(ledger: Ledger) -> dict[str, int]:
    """From the event store itself: assignment id -> position of its last event."""
    out: dict[str, int] = {}
    start = 0
    while True:
        page = ledger.recorder.select_notifications(
            start=start, limit=1000, inclusive_of_start=False
        )
        if not page:
            return out
        for n in page:
            event = ledger.mapper.to_domain_event(n)
            for attribute in ("assignment_id", "new_assignment_id"):
                value = getattr(event, attribute, None)
                if value is not None:
                    out[str(value)] = n.id
        start = page[-1].id


ASSIGNMENTS_V1 = EngineerAssignmentsProjection.table
ASSIGNMENT_COLUMNS_NAMES = list(ASSIGNMENTS_V1.column_names)
#: The upgrade's physical tables: today's version and the test's next one.


@pytest.mark.parametrize("keep", [False, True], ids=["drop-old", "keep-old"])
def test_version_bump_adds_a_column_at_the_switch(
    database_url: str, keep: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A write (and its progress report) every page: several reports while the build fills.
    monkeypatch.setattr(projections.bulk, "FLUSH_PAGES", 1)
    with opened(database_url) as (ledger, store):
        v1 = ReadSide(ledger, store)
        v1.setup()
        assert v1.pending_builds == []
        seed_demo(ledger, tickets=60, seed=3)
        v1.catch_up()
        before = snapshot(store)
        assert before["engineer_assignments"]
        assert NEW_COLUMN not in view_columns(store, "engineer_assignments")

        side = ReadSide(ledger, store, projections=v2_projections(), page_size=40)
        side.setup()
        assert side.pending_builds == ["engineer_assignments"]
        statuses = {s["name"]: s for s in side.status()}
        assert statuses["engineer_assignments"]["version"] == OLD
        assert statuses["engineer_assignments"]["status"] == "stale_version"
        assert {s["status"] for n, s in statuses.items() if n != "engineer_assignments"} == {
            "live"
        }
        # Pending: nothing changed in the public views yet.
        assert NEW_COLUMN not in view_columns(store, "engineer_assignments")
        assert side.catch_up() == 0
        assert snapshot(store) == before

        seen_during: list[dict[str, dict[str, Any]]] = []

        def progress(position: int, head: int) -> None:
            if len(seen_during) < 3:
                seen_during.append({
                    f"{s['name']}:v{s['version']}": s for s in side.status()
                })
                # Still the v1 view while the v2 build fills.
                assert NEW_COLUMN not in view_columns(store, "engineer_assignments")

        switched = side.rebuild(["engineer_assignments"], keep=keep, progress=progress)

        head = ledger.head()
        assert [(e.name, e.version, e.generation) for e in switched] == [
            ("engineer_assignments", NEW, 1)
        ]
        assert len(seen_during) >= 2, "the rebuild reported no progress"
        during = seen_during[1]
        assert during[f"engineer_assignments:v{NEW}"]["state"] == BUILDING
        assert during[f"engineer_assignments:v{NEW}"]["status"] == "building"
        assert during[f"engineer_assignments:v{OLD}"]["state"] == LIVE
        assert during[f"engineer_assignments:v{OLD}"]["status"] == "stale_version"
        assert during[f"engineer_assignments:v{NEW}"]["head"] == head

        # Switched: the view has the column, filled from the events.
        cols = view_columns(store, "engineer_assignments")
        assert cols == [*ASSIGNMENT_COLUMNS_NAMES, NEW_COLUMN]
        after = snapshot(store, (EngineerAssignmentsV2.table,))["engineer_assignments"]
        expected = expected_last_changed(ledger)
        assert {r["id"]: r[NEW_COLUMN] for r in after} == expected
        old_cols = [{c: r[c] for c in ASSIGNMENT_COLUMNS_NAMES} for r in after]
        assert old_cols == before["engineer_assignments"]
        # The other projections were not touched.
        now = snapshot(store)
        for table in PUBLIC_TABLES:
            if table.name != "engineer_assignments":
                assert now[table.name] == before[table.name]

        entries = {
            (e.version, e.generation): e.state for e in entries_of(store, "engineer_assignments")
        }
        assert entries == {(OLD, 1): RETIRED, (NEW, 1): LIVE}
        tables = projection_tables(store)
        assert NEW_TABLE in tables
        if keep:
            assert OLD_TABLE in tables
            kept = store.rows(
                ASSIGNMENTS_V1,
                f"SELECT {', '.join(ASSIGNMENT_COLUMNS_NAMES)} FROM {OLD_TABLE} "
                "ORDER BY id",
            )
            assert kept == before["engineer_assignments"]
        else:
            assert OLD_TABLE not in tables

        assert side.pending_builds == []
        statuses = {s["name"]: s for s in side.status()}
        assert len(statuses) == len(NAMES), side.status()  # retired builds are not listed
        assert statuses["engineer_assignments"]["version"] == NEW
        assert {(s["status"], s["lag"]) for s in statuses.values()} == {("live", 0)}

        # The live runner maintains v2 from now on, new column included.
        seed_demo(ledger, tickets=8, seed=4)
        assert side.catch_up() > 0
        rows = snapshot(store, (EngineerAssignmentsV2.table,))["engineer_assignments"]
        assert len(rows) > len(after)
        assert {r["id"]: r[NEW_COLUMN] for r in rows} == expected_last_changed(ledger)

        # A process with the new code starting now has nothing pending.
        again = ReadSide(ledger, store, projections=v2_projections())
        again.setup()
        assert again.pending_builds == []


# ---------------------------------------------------------------------- through the API


def _settings(database_url: str, **overrides: Any) -> Any:
    from api.settings import Settings

    values: dict[str, Any] = {
        "database_url": database_url, "actor": "rebuild-tester", "demo_on_empty": False,
        "admin_token": ADMIN_TOKEN,
        "run_projections": True, "read_your_writes_timeout": 10.0,
        "min_position_timeout": 10.0, "pool_size": 4,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@contextmanager
def running(database_url: str, **overrides: Any) -> Iterator[Any]:
    from api.app import create_app

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from fastapi.testclient import TestClient

    app = create_app(_settings(database_url, **overrides))
    with TestClient(app, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as client:
        yield client


def _ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, (
        f"{response.request.method} {response.request.url} -> {response.status_code}: "
        f"{response.text}"
    )
    return response.json()


def _all(client: Any, path: str, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    query = {"limit": 100, **params}
    while True:
        page = _ok(client.get(path, params=query))
        items.extend(page["items"])
        if page["next_cursor"] is None:
            return items
        query["cursor"] = page["next_cursor"]


def api_answers(client: Any, min_position: int) -> dict[str, Any]:
    tickets = _all(client, "/tickets", min_position=min_position)
    return {
        "tickets": tickets,
        "assignments": _all(client, "/assignments"),
        "active": _all(client, "/assignments", status="active"),
        "engineers": _all(client, "/engineers"),
        "per_ticket": {
            t["id"]: _ok(client.get(f"/tickets/{t['id']}/assignments")) for t in tickets
        },
        "one": {t["id"]: _ok(client.get(f"/tickets/{t['id']}")) for t in tickets[::7]},
    }


def _status_of(client: Any, name: str) -> list[dict[str, Any]]:
    return [s for s in _ok(client.get("/projections")) if s["name"] == name]


def test_app_with_new_projection_version_rebuilds_on_start(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with running(database_url) as client:
        services = client.app.state.services
        seed_demo(services.ledger, tickets=50, seed=5)
        engineer = _ok(client.post("/engineers", json={
            "id": "api.v1", "name": "Api One", "skills": ["fibre"], "tier": 1, "capacity": 3,
        }), 201)
        ticket = _ok(client.post("/tickets", json={"title": "Before the upgrade"}), 201)
        assigned = client.post("/assignments", json={
            "ticket_id": ticket["id"], "engineer_id": engineer["id"], "tier": 1,
        })
        first_assignment = _ok(assigned, 201)
        head = int(assigned.headers["x-ledger-position"])
        v1_answers = api_answers(client, head)
        statuses = _status_of(client, "engineer_assignments")
        assert [(s["version"], s["status"]) for s in statuses] == [(OLD, "live")]

    with opened(database_url) as (_ledger, store):
        assert NEW_COLUMN not in view_columns(store, "engineer_assignments")

    # The runner's default and the app's list (registry.with_plugins) alike.
    monkeypatch.setattr(projections.runner, "ALL_PROJECTIONS", upgraded_projections())
    monkeypatch.setattr(projections.registry, "ALL_PROJECTIONS", upgraded_projections())

    with running(database_url, page_size=25) as client:
        read_side = client.app.state.services.read_side
        assert isinstance(read_side.projections["engineer_assignments"], EngineerAssignmentsV2)
        observed = set()
        deadline = time.monotonic() + 60
        while True:
            statuses = _status_of(client, "engineer_assignments")
            observed.update((s["version"], s["state"], s["status"]) for s in statuses)
            # Before, during and after the switch the API answers the same.
            assert api_answers(client, head) == v1_answers
            if (
                [(s["version"], s["state"], s["status"]) for s in statuses]
                == [(NEW, LIVE, "live")]
                and not read_side.pending_builds
            ):
                break
            assert time.monotonic() < deadline, f"the background rebuild did not finish: {statuses}"
            time.sleep(0.05)
        assert (NEW, LIVE, "live") in observed
        assert read_side.last_error is None
        assert {(s["version"], s["status"]) for s in _ok(client.get("/projections"))} <= {
            (v, "live") for v in {*VERSION.values(), NEW}
        }

        with opened(database_url) as (ledger, store):
            assert view_columns(store, "engineer_assignments")[-1] == NEW_COLUMN
            rows = snapshot(store, (EngineerAssignmentsV2.table,))["engineer_assignments"]
            assert {r["id"]: r[NEW_COLUMN] for r in rows} == expected_last_changed(ledger)
            assert projection_tables(store) >= {NEW_TABLE}
            assert OLD_TABLE not in projection_tables(store)

        # New commands are answered from (and maintained in) the v2 build.
        accepted = client.post(f"/assignments/{first_assignment['id']}/accept")
        assert _ok(accepted)["status"] == "accepted"
        later = _ok(client.post("/tickets", json={"title": "After the upgrade"}), 201)
        created = client.post("/assignments", json={
            "ticket_id": later["id"], "engineer_id": "thandi.n", "tier": 1,
        })
        new_assignment = _ok(created, 201)
        position = int(created.headers["x-ledger-position"])
        listed = _ok(client.get(f"/tickets/{later['id']}/assignments",
                                params={"min_position": position}))
        assert [a["id"] for a in listed] == [new_assignment["id"]]
        with opened(database_url) as (ledger, store):
            rows = snapshot(store, (EngineerAssignmentsV2.table,))["engineer_assignments"]
            by_id = {r["id"]: r for r in rows}
            assert by_id[new_assignment["id"]][NEW_COLUMN] == position
            assert by_id[first_assignment["id"]]["status"] == "accepted"
            assert {r["id"]: r[NEW_COLUMN] for r in rows} == expected_last_changed(ledger)
