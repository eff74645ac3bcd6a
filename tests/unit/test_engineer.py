"""Unit tests of the ``Engineer`` aggregate: pure, no database."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any
from uuid import UUID, uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.domain import Engineer, engineer_aggregate_id

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=timezone.utc)


def register(**overrides: Any) -> Engineer:
    kwargs: dict[str, Any] = {"engineer_id": f"eng-{uuid4().hex[:8]}", "name": "Ada", "actor": "hr"}
    kwargs.update(overrides)
    return Engineer.register(**kwargs)


def replay(events: list[Any]) -> Any:
    aggregate = None
    for event in events:
        aggregate = event.mutate(aggregate)
    return aggregate


class TestAggregateId:
    def test_deterministic(self) -> None:
        assert engineer_aggregate_id("eng-1") == engineer_aggregate_id("eng-1")
        assert isinstance(engineer_aggregate_id("eng-1"), UUID)
        assert engineer_aggregate_id("eng-1").version == 5

    def test_distinct_ids_differ(self) -> None:
        assert engineer_aggregate_id("eng-1") != engineer_aggregate_id("eng-2")
        assert engineer_aggregate_id("eng-1") != engineer_aggregate_id("ENG-1")

    def test_stable_across_releases(self) -> None:
        # Stored streams are keyed by this id: it must never change. The value is
        # uuid5(uuid5(NAMESPACE_URL, "urn:assignment-ledger:engineer"), "eng-1").
        assert engineer_aggregate_id("eng-1") == UUID("19269667-bb30-50f9-8780-629b5a16c9a0")

    @given(st.text(min_size=1, max_size=40))
    def test_deterministic_for_any_id(self, engineer_id: str) -> None:
        assert engineer_aggregate_id(engineer_id) == engineer_aggregate_id(engineer_id)
        assert register(engineer_id=engineer_id).id == engineer_aggregate_id(engineer_id)


class TestRegister:
    def test_register_records_registered_with_all_fields(self) -> None:
        # when
        engineer = Engineer.register(
            engineer_id="eng-7",
            name="Grace",
            actor="hr",
            skills=["hvac", "electrical"],
            tier=2,
            capacity=3,
            availability=0.5,
            timestamp=T0,
        )
        # then
        assert engineer.id == engineer_aggregate_id("eng-7")
        assert engineer.version == 1
        assert (engineer.engineer_id, engineer.name, engineer.skills) == ("eng-7", "Grace", ["hvac", "electrical"])
        assert (engineer.tier, engineer.capacity, engineer.availability, engineer.active) == (2, 3, 0.5, True)
        assert engineer.created_on == T0
        (e,) = engineer.pending_events
        assert isinstance(e, Engineer.Registered)
        assert (e.originator_id, e.engineer_id, e.name, e.skills) == (
            engineer_aggregate_id("eng-7"),
            "eng-7",
            "Grace",
            ["hvac", "electrical"],
        )
        assert (e.tier, e.capacity, e.availability, e.actor, e.timestamp) == (2, 3, 0.5, "hr", T0)

    def test_defaults(self) -> None:
        engineer = register()
        assert engineer.skills == []
        assert (engineer.tier, engineer.capacity, engineer.availability) == (1, 1, 1.0)
        assert engineer.active is True

    def test_skills_are_copied(self) -> None:
        skills = ["hvac"]
        engineer = register(skills=skills)
        skills.append("plumbing")
        assert engineer.skills == ["hvac"]


class TestUpdate:
    def test_records_only_real_changes(self) -> None:
        # given
        engineer = register(name="Ada", tier=1, skills=["hvac"])
        engineer.collect_events()
        # when
        changed = engineer.update(
            changes={"name": "Ada", "tier": 2, "skills": ["hvac"], "capacity": 4},
            actor="lead",
            timestamp=T0,
        )
        # then
        assert changed is True
        assert engineer.version == 2
        (e,) = engineer.pending_events
        assert isinstance(e, Engineer.Updated)
        assert e.changes == {"tier": 2, "capacity": 4}
        assert e.engineer_id == engineer.engineer_id, "Updated names its engineer"
        assert (e.actor, e.timestamp) == ("lead", T0)
        assert (engineer.tier, engineer.capacity, engineer.name) == (2, 4, "Ada")
        assert engineer.modified_on == T0

    @pytest.mark.parametrize(
        "changes",
        [
            {},
            {"name": "Ada"},
            {"name": "Ada", "tier": 1, "skills": [], "capacity": 1, "availability": 1.0, "active": True},
            {"unknown_field": "x"},
            {"engineer_id": "someone-else"},
        ],
        ids=["empty", "same-name", "all-same", "unknown-field", "not-updatable"],
    )
    def test_no_event_when_nothing_changes(self, changes: dict[str, Any]) -> None:
        # given
        engineer = register(name="Ada")
        engineer.collect_events()
        # when
        changed = engineer.update(changes=changes, actor="lead")
        # then
        assert changed is False
        assert engineer.pending_events == []
        assert engineer.version == 1
        assert engineer.name == "Ada"

    def test_not_updatable_fields_are_ignored_beside_real_changes(self) -> None:
        engineer = register(engineer_id="eng-1")
        engineer.collect_events()
        assert engineer.update(changes={"engineer_id": "eng-2", "name": "Bea"}, actor="x")
        assert engineer.pending_events[-1].changes == {"name": "Bea"}
        assert engineer.engineer_id == "eng-1"

    def test_deactivate_and_reactivate(self) -> None:
        engineer = register()
        assert engineer.update(changes={"active": False}, actor="lead")
        assert engineer.active is False
        assert not engineer.update(changes={"active": False}, actor="lead")
        assert engineer.update(changes={"active": True}, actor="lead")
        assert engineer.active is True
        assert engineer.version == 3
        assert [e.actor for e in engineer.pending_events] == ["hr", "lead", "lead"]

    def test_replay_yields_equal_state(self) -> None:
        engineer = register(skills=["a"], timestamp=T0)
        engineer.update(changes={"skills": ["a", "b"], "availability": 0.25}, actor="x")
        engineer.update(changes={"active": False}, actor="y")
        events = engineer.collect_events()
        copy = replay(events)
        assert isinstance(copy, Engineer)
        assert vars(copy) == vars(engineer)
        assert copy.version == 3


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.dictionaries(
            st.sampled_from(["name", "skills", "tier", "capacity", "availability", "active", "other"]),
            st.one_of(st.integers(0, 3), st.booleans(), st.sampled_from(["Ada", "Bea"]), st.just(["x"])),
            max_size=4,
        ),
        max_size=10,
    )
)
def test_update_records_an_event_exactly_when_something_changes(updates: list[dict[str, Any]]) -> None:
    engineer = register(name="Ada")
    for changes in updates:
        expected = {
            k: v for k, v in changes.items() if k in Engineer.UPDATABLE and getattr(engineer, k) != v
        }
        version = engineer.version
        changed = engineer.update(changes=changes, actor="p")
        assert changed is bool(expected)
        assert engineer.version == version + (1 if expected else 0)
        if expected:
            assert engineer.pending_events[-1].changes == expected
        for k, v in expected.items():
            assert getattr(engineer, k) == v
    assert vars(replay(engineer.collect_events())) == vars(engineer)
