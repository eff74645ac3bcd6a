"""The reports page's SLA breaches per tier (``ReportSeries``) equal the
per-row judgement of every clock in ``sla_clocks`` (SQLite and PostgreSQL):
assignments started over six weeks, stopped before and after their targets,
still running, escalated to tiers above the last band of targets."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from api.settings import DEFAULT_SLA_TARGETS, Settings
from ledger.application import Ledger
from projections.ops_queries import CLOCK_COLUMNS, CLOCKS, OpsQueries, SlaTable, target_for
from projections.report_series import ReportSeries
from projections.runner import ReadSide
from projections.store import ReadStore
from projections.tables import parse_ts

ACTOR = "it-reports"
ENGINEER = "eng-reports"
PRIORITIES = ("critical", "high", "medium", "low")


def default_targets() -> SlaTable:
    return Settings(_env_file=None, sla_targets=dict(DEFAULT_SLA_TARGETS)).sla_table()


#: Other targets: a fractional second, one band for a priority, a band from tier 2 on.
ODD_TARGETS: SlaTable = {
    "critical": [(1, 600.5, 7200.25), (2, 1800.0, 14400.0)],
    "high": [(1, 3600.0, 86400.0)],
    "medium": [(1, 900.0, 3600.0), (3, 7200.0, 172800.0)],
    "low": [(1, 60.0, 600.0), (2, 120.0, 1200.0), (4, 86400.0, 864000.0)],
}


def per_row(store: ReadStore, targets: SlaTable, now: datetime, since: datetime
            ) -> dict[str, list[int]]:
    """Each clock judged alone: its deadline (start + target) at or after
    ``since``, and stopped over its target or still running past it."""
    counts: dict[str, dict[int, int]] = {"accept": {}, "resolve": {}}
    for row in store.rows(CLOCKS, f"SELECT * FROM {CLOCKS.name}"):
        started = parse_ts(row["started_at"])
        for clock, column in CLOCK_COLUMNS.items():
            target = target_for(targets, row["priority"], row["assignment_tier"], clock)
            seconds = row[column]
            late = seconds > target if seconds is not None else now - started > timedelta(
                seconds=target)
            if late and started + timedelta(seconds=target) >= since:
                tier = row["assignment_tier"]
                counts[clock][tier] = counts[clock].get(tier, 0) + 1
    tiers = sorted(set(counts["accept"]) | set(counts["resolve"]))
    return {"tiers": tiers, "accept": [counts["accept"].get(t, 0) for t in tiers],
            "resolve": [counts["resolve"].get(t, 0) for t in tiers]}


def by_clause(store: ReadStore, targets: SlaTable, now: datetime, since: datetime
              ) -> dict[str, list[int]]:
    """The same counted with ``OpsQueries.breach_clause`` (what the API's
    breach list filters by), one statement per clock."""
    counts = {}
    for clock in CLOCK_COLUMNS:
        clause, params = OpsQueries(store).breach_clause(clock, targets, now, since)
        rows = store.select(f"SELECT assignment_tier AS tier, COUNT(*) AS n FROM {CLOCKS.name} "
                            f"WHERE {clause} GROUP BY assignment_tier", params)
        counts[clock] = {int(r["tier"]): int(r["n"]) for r in rows}
    tiers = sorted(set(counts["accept"]) | set(counts["resolve"]))
    return {"tiers": tiers, "accept": [counts["accept"].get(t, 0) for t in tiers],
            "resolve": [counts["resolve"].get(t, 0) for t in tiers]}


def story(ledger: Ledger, rng: random.Random, now: datetime) -> int:
    """One ticket's assignments, started up to 45 days ago: each accepted (or
    not) and ended (completed, rejected, removed) after a random share of a day or two, some escalated up to
    tier 5, some left running. Returns the last position."""
    at = now - timedelta(days=rng.uniform(0, 45))
    ticket: UUID = ledger.open_ticket(title="t", priority=rng.choice(PRIORITIES), actor=ACTOR,
                                      timestamp=at).result().aggregate_id
    at += timedelta(seconds=rng.uniform(1, 600))
    done = ledger.assign(ticket, engineer_id=ENGINEER, tier=rng.choice((1, 1, 2, 3)), actor=ACTOR,
                         timestamp=at).result()
    assignment = done.assignment_id
    for _ in range(rng.choice((1, 1, 2, 3))):
        at += timedelta(seconds=rng.expovariate(1 / 3600))
        if at >= now:
            break
        move = rng.choice(("accept", "escalate", "remove", "reject", "run"))
        if move == "run":
            break
        if move == "accept":
            done = ledger.accept(ticket, assignment, actor=ACTOR, timestamp=at).result()
            at += timedelta(seconds=rng.expovariate(1 / 20000))
            if at >= now or rng.random() < 0.2:
                break
            done = ledger.complete(ticket, assignment, completion_status="success",
                                   time_spent_hours=1.0, actor=ACTOR, timestamp=at).result()
            break
        if move == "escalate":
            done = ledger.escalate(ticket, next_engineer_id=ENGINEER, reason="hard", actor=ACTOR,
                                   timestamp=at).result()
            assignment = done.assignment_id
            continue
        if move == "reject":
            done = ledger.reject(ticket, assignment, reason="busy", actor=ACTOR,
                                 timestamp=at).result()
            break
        done = ledger.remove(ticket, assignment, reason="gone", actor=ACTOR,
                             timestamp=at).result()
        break
    return done.position


@pytest.fixture
def clocks(ledger: Ledger, store: ReadStore, read_side: ReadSide) -> datetime:
    """Clocks of 150 tickets in the store; returns the time they were made up to."""
    now = datetime.now(UTC)
    ledger.register_engineer(engineer_id=ENGINEER, name="E", tier=9, actor=ACTOR,
                             timestamp=now - timedelta(days=60)).result()
    rng = random.Random(23)
    last = max(story(ledger, rng, now) for _ in range(150))
    assert read_side.wait_for(last, 30)
    return now


@pytest.mark.parametrize("days", [7, 30])
def test_breaches_per_tier_equal_the_judgement_of_each_clock(
    store: ReadStore, clocks: datetime, days: int
) -> None:
    now = clocks + timedelta(minutes=5)
    for targets in (default_targets(), ODD_TARGETS):
        series = ReportSeries(store, now=now, days=days)
        expected = per_row(store, targets, now, series.since)
        got = series.sla_breaches_per_tier(targets)
        assert got == expected
        assert got == by_clause(store, targets, now, series.since)
        # The stories reach every case: both clocks breach, at several tiers,
        # and the window leaves some breaches out.
        assert sum(got["accept"]) > 0 and sum(got["resolve"]) > 0
        assert len(got["tiers"]) >= 2
        everything = per_row(store, targets, now, now - timedelta(days=400))
        assert sum(everything["resolve"]) > sum(got["resolve"])
    # Tiers above the last band (escalated to 4 and 5) take the last band's targets.
    assert max(per_row(store, ODD_TARGETS, now, now - timedelta(days=400))["tiers"]) >= 4


def test_breaches_without_clocks_or_targets_are_empty(store: ReadStore, read_side: Any) -> None:
    series = ReportSeries(store, now=datetime.now(UTC), days=30)
    empty = {"tiers": [], "accept": [], "resolve": []}
    assert series.sla_breaches_per_tier(default_targets()) == empty
    assert series.sla_breaches_per_tier({}) == empty
