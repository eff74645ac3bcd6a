"""Old ``Engineer.Registered`` events (v1: ``skills`` as one comma-separated text,
no ``class_version`` in the stored state) are upcast wherever they are read: the
aggregate, the projections (live catch-up and rebuild), the API. New events are
stored as v2. The stored v1 events are never rewritten.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from uuid import UUID

import orjson
import pytest
from eventsourcing.persistence import StoredEvent

from ledger.application import Ledger
from ledger.domain import Engineer, engineer_aggregate_id
from projections.backend import build_store
from projections.engineers import EngineersProjection
from projections.runner import ReadSide

REGISTERED_TOPIC = "ledger.domain:Engineer.Registered"
UPDATED_TOPIC = "ledger.domain:Engineer.Updated"
ENGINEERS = EngineersProjection.table

#: engineer id -> (skills as v1 stored them, skills as v2 reads them)
LEGACY: dict[str, tuple[Any, list[str]]] = {
    "legacy.thandi": ("fibre, splicing", ["fibre", "splicing"]),
    "legacy.aisha": (" copper ,, dsl , ", ["copper", "dsl"]),
    "legacy.single": ("otdr", ["otdr"]),
    "legacy.blank": ("", []),
    "legacy.null": (None, []),
}
REGISTERED_AT = "2021-05-04T08:30:00+00:00"
REGISTERED_TS = "2021-05-04T08:30:00.000000Z"
UPDATED_AT = "2021-06-01T12:00:00+00:00"
#: The admin token the test apps accept (ignored by an app without authentication).
ADMIN_TOKEN = "upcasting-admin-token-0123456789abcdef"


def _dt(text: str) -> dict[str, str]:
    return {"_type_": "datetime_iso", "_data_": text}


def v1_registered(engineer_id: str, skills: Any, n: int) -> StoredEvent:
    """Exactly what v1 of the code stored: no ``class_version``, text skills."""
    state = {
        "timestamp": _dt(REGISTERED_AT),
        "originator_topic": "ledger.domain:Engineer",
        "engineer_id": engineer_id,
        "name": f"Legacy Engineer {n}",
        "skills": skills,
        "tier": 1 + n % 3,
        "capacity": 2 + n,
        "availability": 0.5,
        "actor": "legacy-import",
    }
    return StoredEvent(
        originator_id=engineer_aggregate_id(engineer_id),
        originator_version=1,
        topic=REGISTERED_TOPIC,
        state=orjson.dumps(state),
    )


def v1_updated(engineer_id: str, version: int, changes: dict[str, Any]) -> StoredEvent:
    state = {
        "timestamp": _dt(UPDATED_AT),
        "engineer_id": engineer_id,
        "changes": changes,
        "actor": "legacy-import",
    }
    return StoredEvent(
        originator_id=engineer_aggregate_id(engineer_id),
        originator_version=version,
        topic=UPDATED_TOPIC,
        state=orjson.dumps(state),
    )


def insert_legacy(ledger: Ledger) -> None:
    events = [v1_registered(eid, skills, n) for n, (eid, (skills, _)) in enumerate(LEGACY.items())]
    # A later v1 change that does not touch skills: the upcast one must survive it.
    events.append(v1_updated("legacy.thandi", 2, {"tier": 3, "name": "Thandi (L3)"}))
    ledger.recorder.insert_events(events)


def stored_states(ledger: Ledger, engineer_id: str) -> list[dict[str, Any]]:
    return [
        orjson.loads(e.state)
        for e in ledger.recorder.select_events(engineer_aggregate_id(engineer_id))
    ]


@pytest.fixture
def legacy_ledger(database_url: str) -> Iterator[Ledger]:
    ledger = Ledger(database_url, pool_size=4)
    insert_legacy(ledger)
    yield ledger
    ledger.close()


def test_the_legacy_events_really_are_v1(legacy_ledger: Ledger) -> None:
    for engineer_id, (skills, _) in LEGACY.items():
        first = stored_states(legacy_ledger, engineer_id)[0]
        assert "class_version" not in first
        assert first["skills"] == skills
    assert Engineer.Registered.class_version == 2


def test_aggregate_loads_v1_registered_with_a_skills_list(legacy_ledger: Ledger) -> None:
    for engineer_id, (_, skills) in LEGACY.items():
        engineer = legacy_ledger.get_engineer(engineer_id)
        assert engineer.skills == skills, engineer_id
        assert isinstance(engineer.skills, list)
        assert engineer.engineer_id == engineer_id
        assert engineer.active is True
    thandi = legacy_ledger.get_engineer("legacy.thandi")
    assert thandi.version == 2
    assert (thandi.tier, thandi.name) == (3, "Thandi (L3)")
    assert thandi.skills == ["fibre", "splicing"]

    # The upcast value is a real list: "changing" to the same list records nothing,
    # a real change records an Updated event.
    assert legacy_ledger.update_engineer(
        "legacy.thandi", changes={"skills": ["fibre", "splicing"]}, actor="ops"
    ).result() is None
    result = legacy_ledger.update_engineer(
        "legacy.aisha", changes={"skills": ["copper", "dsl", "vdsl"]}, actor="ops"
    ).result()
    assert result is not None and result.version == 2
    assert legacy_ledger.get_engineer("legacy.aisha").skills == ["copper", "dsl", "vdsl"]

    # Loading never rewrites history: the stored v1 events are as they were.
    for engineer_id, (skills, _) in LEGACY.items():
        first = stored_states(legacy_ledger, engineer_id)[0]
        assert "class_version" not in first and first["skills"] == skills


def test_new_events_are_stored_as_v2(legacy_ledger: Ledger) -> None:
    result = legacy_ledger.register_engineer(
        engineer_id="modern.one", name="Modern One", skills=["fibre", "splicing"], actor="hr"
    ).result()
    (state,) = stored_states(legacy_ledger, "modern.one")
    assert state["class_version"] == 2
    assert state["skills"] == ["fibre", "splicing"]
    assert result.version == 1
    assert legacy_ledger.get_engineer("modern.one").skills == ["fibre", "splicing"]
    # v1 and v2 of the same event class side by side in one store.
    legacy = stored_states(legacy_ledger, "legacy.thandi")[0]
    assert "class_version" not in legacy


def _engineer_rows(side: ReadSide) -> dict[str, dict[str, Any]]:
    rows = side.store.rows(
        ENGINEERS, f"SELECT {', '.join(ENGINEERS.column_names)} FROM engineers ORDER BY id"
    )
    return {r["id"]: r for r in rows}


def test_projections_show_skills_as_lists_after_catch_up_and_rebuild(
    legacy_ledger: Ledger,
) -> None:
    legacy_ledger.register_engineer(
        engineer_id="modern.one", name="Modern One", skills=["pon"], actor="hr"
    ).result()
    store = build_store(legacy_ledger.store, pool_size=4)
    try:
        side = ReadSide(legacy_ledger, store)
        side.setup()
        assert side.catch_up() == legacy_ledger.head()
        caught_up = _engineer_rows(side)
        assert set(caught_up) == {*LEGACY, "modern.one"}
        for engineer_id, (_, skills) in LEGACY.items():
            row = caught_up[engineer_id]
            assert row["skills"] == skills, engineer_id
            assert row["created_at"] == REGISTERED_TS
        assert caught_up["modern.one"]["skills"] == ["pon"]
        thandi = caught_up["legacy.thandi"]
        assert (thandi["tier"], thandi["name"], thandi["skills"]) == (
            3, "Thandi (L3)", ["fibre", "splicing"]
        )

        # A legacy engineer takes work like any other.
        ticket = legacy_ledger.open_ticket(title="Fibre cut", actor="dispatch").result().aggregate_id
        legacy_ledger.assign(ticket, engineer_id="legacy.thandi", tier=3, actor="dispatch").result()
        side.catch_up()
        caught_up = _engineer_rows(side)
        assert caught_up["legacy.thandi"]["open_assignments"] == 1
        assert caught_up["legacy.thandi"]["skills"] == ["fibre", "splicing"]

        switched = side.rebuild()
        assert {e.name for e in switched} == set(side.projections)
        rebuilt = _engineer_rows(side)
        assert rebuilt == caught_up
    finally:
        store.close()


# ---------------------------------------------------------------------- API


@contextmanager
def running(database_url: str) -> Iterator[Any]:
    from api.app import create_app
    from api.settings import Settings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, database_url=database_url, actor="upcast-tester", demo_on_empty=False,
        run_projections=True, read_your_writes_timeout=10.0, min_position_timeout=10.0,
        pool_size=4, admin_token=ADMIN_TOKEN,
    )
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with TestClient(create_app(settings), headers=auth) as client:
        yield client


def _ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, (
        f"{response.request.method} {response.request.url} -> {response.status_code}: "
        f"{response.text}"
    )
    return response.json()


def test_api_serves_upcast_skills(database_url: str, legacy_ledger: Ledger) -> None:
    head = legacy_ledger.head()
    with running(database_url) as client:
        for engineer_id, (_, skills) in LEGACY.items():
            body = _ok(client.get(f"/engineers/{engineer_id}", params={"min_position": head}))
            assert body["skills"] == skills, engineer_id
            assert body["created_at"] == REGISTERED_TS
        listed = _ok(client.get("/engineers", params={"limit": 100}))["items"]
        assert {e["id"]: e["skills"] for e in listed} == {
            eid: skills for eid, (_, skills) in LEGACY.items()
        }
        assert _ok(client.get("/engineers/legacy.thandi"))["tier"] == 3

        # New registrations through the API are stored as v2.
        created = _ok(client.post("/engineers", json={
            "id": "api.new", "name": "Api New", "skills": ["fibre", "splicing"], "tier": 1,
        }), 201)
        assert created["skills"] == ["fibre", "splicing"]
        (state,) = stored_states(legacy_ledger, "api.new")
        assert state["class_version"] == 2 and state["skills"] == ["fibre", "splicing"]

        # A legacy engineer can be changed and assigned through the API.
        patched = _ok(client.patch("/engineers/legacy.aisha", json={"skills": ["dsl"]}))
        assert patched["skills"] == ["dsl"]
        ticket = _ok(client.post("/tickets", json={"title": "DSL drops"}), 201)
        assignment = _ok(client.post("/assignments", json={
            "ticket_id": ticket["id"], "engineer_id": "legacy.aisha", "tier": 2,
        }), 201)
        assert assignment["engineer_id"] == "legacy.aisha"
        aisha = _ok(client.get("/engineers/legacy.aisha"))
        assert (aisha["skills"], aisha["open_assignments"]) == (["dsl"], 1)

    # The original v1 event is still stored as it was.
    first = stored_states(legacy_ledger, "legacy.aisha")[0]
    assert "class_version" not in first and first["skills"] == LEGACY["legacy.aisha"][0]


def test_event_feed_shows_upcast_skills(database_url: str, legacy_ledger: Ledger) -> None:
    with running(database_url) as client:
        page = _ok(client.get("/events", params={"type": "Engineer.Registered", "limit": 100}))
        registered = {
            e["data"]["engineer_id"]: e["data"]["skills"]
            for e in page["items"] if e["type"] == "Engineer.Registered"
        }
        assert registered == {eid: skills for eid, (_, skills) in LEGACY.items()}
        for e in page["items"]:
            assert UUID(e["aggregate_id"]) == engineer_aggregate_id(e["data"]["engineer_id"])
