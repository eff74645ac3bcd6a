"""The coverage queries (projections.coverage) agree with the qualification rule
(ledger.qualification.unmet) on generated data, on SQLite and PostgreSQL: for
every combination of territory, skill, certification and tier asked about, the
engineers the SQL returns are exactly those the rule passes, least loaded
first; the gaps are exactly the open tickets' needs that no engineer the rule
passes covers; the expiring certifications are exactly those in the window.
The roster is changed after registration (territories, certifications, skills,
deactivations), so the side tables' deletes are exercised too."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from datetime import date, timedelta
from itertools import product
from typing import Any

import pytest

from ledger.application import Ledger
from ledger.qualification import EngineerFacts, TicketNeeds, unmet
from projections.backend import build_store
from projections.coverage import OPEN_STATUSES, CoverageQueries
from projections.runner import ReadSide

DAY = date(2026, 11, 15)
TERRITORIES = ["north", "south", "east"]
SKILLS = ["fibre", "copper", "ont"]
CERTS = ["splicing", "height"]
EXPIRIES = [None, DAY - timedelta(days=1), DAY, DAY + timedelta(days=1), DAY + timedelta(days=40)]


def _certs(rng: random.Random) -> list[dict[str, Any]]:
    return [{"name": c, "expires_on": rng.choice(EXPIRIES)}
            for c in rng.sample(CERTS, rng.randint(0, 2))]


@pytest.fixture
def world(database_url: str) -> Iterator[tuple[Ledger, CoverageQueries, dict[str, Any]]]:
    rng = random.Random(21)
    ledger = Ledger(database_url, pool_size=4)
    store = build_store(ledger.store, pool_size=4)
    try:
        ids = [f"eng-{n:02d}" for n in range(40)]
        for engineer_id in ids:
            ledger.register_engineer(
                engineer_id=engineer_id, name=engineer_id.upper(), actor="hr",
                skills=rng.sample(SKILLS, rng.randint(0, 2)),
                tier=rng.randint(1, 3), capacity=rng.randint(1, 4),
                availability=rng.choice([0.0, 0.5, 1.0, 1.0]),
                territories=rng.sample(TERRITORIES, rng.randint(0, 2)),
                certifications=_certs(rng),
            ).result()
        for engineer_id in rng.sample(ids, 15):  # changes after registration
            changes: dict[str, Any] = rng.choice([
                {"territories": rng.sample(TERRITORIES, rng.randint(0, 2))},
                {"certifications": _certs(rng)},
                {"skills": rng.sample(SKILLS, rng.randint(0, 3))},
                {"active": False},
            ])
            ledger.update_engineer(engineer_id, changes=changes, actor="hr").result()
        tickets = []
        for n in range(60):
            needs = {
                "territory": rng.choice([*TERRITORIES, None, "west"]),
                "required_skill": rng.choice([*SKILLS, None]),
                "required_certification": rng.choice([*CERTS, None, None]),
            }
            ticket = ledger.open_ticket(title=f"t{n}", actor="dispatch", **needs).result()
            tickets.append((ticket.aggregate_id, needs))
        engineers = {e: ledger.get_engineer(e) for e in ids}
        active = [e for e in ids if engineers[e].active]
        for ticket_id, _needs in rng.sample(tickets, 25):  # load: open assignments
            ledger.assign(ticket_id, engineer_id=rng.choice(active), tier=1,
                          actor="dispatch").result()
        for ticket_id, _needs in tickets[:5]:
            ticket = ledger.get_ticket(ticket_id)
            if ticket.active_assignment is None:
                ledger.close_ticket(ticket_id, reason=None, actor="dispatch").result()
        side = ReadSide(ledger, store)
        side.setup()
        side.catch_up()
        yield ledger, CoverageQueries(store), {"ids": ids, "tickets": tickets}
    finally:
        store.close()
        ledger.close()


def _facts(ledger: Ledger, ids: list[str]) -> dict[str, EngineerFacts]:
    return {e: EngineerFacts.of(ledger.get_engineer(e)) for e in ids}


def test_coverage_returns_exactly_whom_the_rule_passes_least_loaded_first(world: Any) -> None:
    ledger, queries, data = world
    facts = _facts(ledger, data["ids"])
    load = {e: (ledger.get_engineer(e).capacity,) for e in data["ids"]}
    seen_some = 0
    for territory, skill, cert, tier in product(
        [*TERRITORIES, "west", None], [*SKILLS, None], [*CERTS, None], (1, 2, 3)
    ):
        needs = TicketNeeds(tier=tier, required_skill=skill, territory=territory,
                            required_certification=cert)
        expected = {e for e, f in facts.items() if not unmet(f, needs, DAY)}
        rows = queries.qualified(territory=territory, skill=skill, certification=cert,
                                 tier=tier, on=DAY, limit=1000)
        assert {r["engineer_id"] for r in rows} == expected, needs
        assert all(r["capacity"] == load[r["engineer_id"]][0] for r in rows)
        order = [(r["open_assignments"] / r["capacity"], r["open_assignments"], r["engineer_id"])
                 for r in rows]
        assert order == sorted(order)
        seen_some += bool(rows)
    assert seen_some > 20  # the generated roster really covers things


def _expected_gaps(ledger: Ledger, data: dict[str, Any], day: date) -> dict[tuple[Any, ...], int]:
    """The open tickets' needs that no engineer passes the rule for on ``day``."""
    facts = _facts(ledger, data["ids"])
    needed: Counter[tuple[Any, ...]] = Counter()
    for ticket_id, needs in data["tickets"]:
        if ledger.get_ticket(ticket_id).status in OPEN_STATUSES:
            needed[(needs["territory"], needs["required_skill"],
                    needs["required_certification"])] += 1
    return {
        key: count for key, count in needed.items()
        if not any(not unmet(f, TicketNeeds(1, key[1], key[0], key[2]), day)
                   for f in facts.values())
    }


def _gaps(queries: CoverageQueries, day: date) -> dict[tuple[Any, ...], int]:
    return {(r["territory"], r["skill"], r["certification"]): r["open_tickets"]
            for r in queries.gaps(on=day)}


def test_gaps_are_the_open_needs_no_engineer_covers(world: Any) -> None:
    ledger, queries, data = world
    expected = _expected_gaps(ledger, data, DAY)
    rows = queries.gaps(on=DAY)
    assert {(r["territory"], r["skill"], r["certification"]): r["open_tickets"]
            for r in rows} == expected
    assert expected  # some needs go uncovered
    assert [r["open_tickets"] for r in rows] == sorted((r["open_tickets"] for r in rows),
                                                       reverse=True)


def test_gaps_are_judged_on_the_day_asked_even_when_kept(world: Any) -> None:
    """A certification that expires makes its gap appear on the next day with
    no event in between: the kept answers are per day."""
    ledger, queries, data = world
    days = [DAY - timedelta(days=1), DAY, DAY + timedelta(days=1), DAY + timedelta(days=2),
            DAY + timedelta(days=41)]
    answers = [_gaps(queries, day) for day in days]
    for day, answer in zip(days, answers, strict=True):
        assert answer == _expected_gaps(ledger, data, day), day
        assert _gaps(queries, day) == answer  # the kept answer, asked again
    assert len({tuple(sorted(a.items(), key=repr)) for a in answers}) > 1  # expiry shows


def test_gaps_follow_the_roster_and_the_needs_after_being_kept(world: Any) -> None:
    """Each change that can move a gap, asked of the same queries object that
    kept the earlier answer: a roster change that covers a gap, one that opens
    a gap (deactivation), a certification renewed, a ticket with a new need,
    a ticket closed (counts are never kept)."""
    ledger, queries, data = world
    side = ReadSide(ledger, queries.store)
    side.setup()
    expected = _expected_gaps(ledger, data, DAY)
    assert _gaps(queries, DAY) == expected
    territory, skill, certification = next(
        k for k in sorted(expected, key=repr) if k[1] is not None)
    engineer_id = "eng-cover"
    ledger.register_engineer(
        engineer_id=engineer_id, name="Cover", actor="hr", skills=[skill], tier=1,
        capacity=2, availability=1.0, territories=[territory] if territory else [],
        certifications=[{"name": certification, "expires_on": DAY}] if certification else [],
    ).result()
    data["ids"].append(engineer_id)

    steps = [
        lambda: None,  # the registration above
        lambda: ledger.update_engineer(
            engineer_id, changes={"certifications": [
                {"name": certification or "splicing", "expires_on": DAY + timedelta(days=9)}]},
            actor="hr").result(),
        lambda: ledger.update_engineer(engineer_id, changes={"active": False},
                                       actor="hr").result(),
        lambda: data["tickets"].append((ledger.open_ticket(
            title="new need", actor="dispatch", territory="nowhere",
            required_skill="welding", required_certification=None).result().aggregate_id,
            {"territory": "nowhere", "required_skill": "welding",
             "required_certification": None})),
        lambda: ledger.close_ticket(data["tickets"][-1][0], reason=None,
                                    actor="dispatch").result(),
    ]
    seen = []
    for step in steps:
        step()
        side.catch_up()
        expected = _expected_gaps(ledger, data, DAY)
        for day in (DAY, DAY + timedelta(days=5)):
            assert _gaps(queries, day) == _expected_gaps(ledger, data, day), (step, day)
        seen.append(expected)
    assert (territory, skill, certification) not in seen[0]  # the new engineer covers it
    assert (territory, skill, certification) in seen[2]  # ... until deactivated
    assert ("nowhere", "welding", None) in seen[3]
    assert ("nowhere", "welding", None) not in seen[4]


def test_reach_changed_marks_only_changes_of_reach_or_certifications(world: Any) -> None:
    ledger, queries, data = world
    side = ReadSide(ledger, queries.store)
    side.setup()

    def marked() -> Any:
        return queries.store.select("SELECT position FROM engineer_reach_changed")[0]["position"]

    engineer_id = next(e for e, f in _facts(ledger, data["ids"]).items()
                       if f.active and f.availability > 0)
    before = marked()
    ledger.update_engineer(engineer_id, changes={"name": "Renamed", "capacity": 9},
                           actor="hr").result()
    side.catch_up()
    assert marked() == before
    ledger.update_engineer(engineer_id, changes={"skills": ["welding"]}, actor="hr").result()
    side.catch_up()
    assert marked() == ledger.head() > before


def test_expiring_lists_the_window_soonest_first(world: Any) -> None:
    ledger, queries, data = world
    expected = sorted(
        (c["expires_on"], e, c["name"])
        for e in data["ids"] if (engineer := ledger.get_engineer(e)).active
        for c in engineer.certifications
        if c["expires_on"] is not None
        and DAY.isoformat() <= c["expires_on"] <= (DAY + timedelta(days=30)).isoformat()
    )
    rows = queries.expiring(on=DAY, within_days=30)
    assert [(r["expires_on"], r["engineer_id"], r["certification"]) for r in rows] == expected
    assert {r["days_left"] for r in rows} <= {0, 1}
    assert expected


def test_a_rebuild_gives_the_same_coverage_rows_and_answers(world: Any) -> None:
    """Replaying the engineers projection puts the same reach, certifications and
    last-change position, so a kept answer stays right across the switch."""
    ledger, queries, _data = world
    side = ReadSide(ledger, queries.store)
    side.setup()
    tables = {
        "engineer_reach_changed": "id",
        "engineer_reach": "skill, territory, engineer_id",
        "engineer_certifications": "engineer_id, certification",
    }

    def rows() -> dict[str, list[dict[str, Any]]]:
        return {t: queries.store.select(f"SELECT * FROM {t} ORDER BY {key}")
                for t, key in tables.items()}

    def live_generation() -> int:
        return next(e.generation for e in queries.store.catalog()
                    if e.name == "engineers" and e.state == "live")

    before, gaps_before, generation = rows(), queries.gaps(on=DAY), live_generation()
    assert before["engineer_reach_changed"] and before["engineer_reach"]
    side.rebuild(["engineers"])
    assert live_generation() > generation  # the replayed build is the live one now
    assert rows() == before
    assert queries.gaps(on=DAY) == gaps_before == CoverageQueries(queries.store).gaps(on=DAY)
