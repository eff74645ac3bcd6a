"""The repeat-fault policy's configuration and decisions, without storage."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import orjson
import pytest

from api.settings import Settings
from ledger.repeat_fault import RepeatFault, repeat_fault_id
from ledger.repeat_policy import JoinFault, RaiseFault, RepeatPolicy, parse_thresholds
from ledger.ticket import Ticket

START = datetime(2026, 11, 1, tzinfo=UTC)


def test_thresholds_override_the_defaults_scope_by_scope() -> None:
    assert parse_thresholds("") == {"pole": 3, "pon": 5, "zone": 10, "dr": 3}
    assert parse_thresholds(" pon=7 , dr=2") == {"pole": 3, "pon": 7, "zone": 10, "dr": 2}


@pytest.mark.parametrize("text", ["street=3", "pole", "pole=x", "pole=1", "pole=3;pon=4"])
def test_bad_thresholds_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_thresholds(text)
    with pytest.raises(ValueError):
        Settings(_env_file=None, repeat_fault_thresholds=text)  # type: ignore[call-arg]


def opened(days: float, **location: str) -> Ticket.Opened:
    ticket = Ticket.open(ticket_id=uuid4(), actor="desk", title="LOS",
                         timestamp=START + timedelta(days=days), location=location)
    (event,) = ticket.collect_events()
    return event


def test_decisions_follow_the_log_not_the_clock() -> None:
    def decide() -> list:
        policy = RepeatPolicy(window=timedelta(days=30), thresholds=parse_thresholds("pole=2"))
        events = [opened(0, pole="P"), opened(40, pole="P"), opened(45, pole="P"),
                  opened(400, pole="P")]
        return [d for e in events for d in policy.observe(e)], events

    decisions, events = decide()
    raised, joined = decisions
    assert isinstance(raised, RaiseFault) and raised.episode == 1
    assert [t for t, _at in raised.tickets] == [events[1].originator_id, events[2].originator_id]
    assert raised.fault_id == repeat_fault_id("pole", "P", 1)
    assert isinstance(joined, JoinFault) and joined.ticket_id == events[3].originator_id


def test_a_resolution_starts_the_count_afresh_and_the_next_episode() -> None:
    policy = RepeatPolicy(window=timedelta(days=30), thresholds=parse_thresholds("pole=2"))
    (first,) = [d for e in (opened(0, pole="P"), opened(1, pole="P")) for d in policy.observe(e)]
    fault = RepeatFault.raise_fault(scope="pole", value="P", episode=1,
                                    tickets=list(first.tickets), actor="system")
    fault.resolve(resolution="fixed", actor="desk")
    for event in fault.collect_events():
        assert policy.observe(event) == []
    assert policy.observe(opened(2, pole="P")) == []
    (second,) = policy.observe(opened(3, pole="P"))
    assert isinstance(second, RaiseFault) and second.episode == 2


def _log_and_decisions(seed: int) -> tuple[list, list[list]]:
    """A log as the ledger would record it (tickets opened at a few places, the
    faults the policy raises, some of them resolved), and the policy's decisions
    at each event."""
    rng = random.Random(seed)
    policy = RepeatPolicy(window=timedelta(days=10), thresholds=parse_thresholds("pole=2,pon=3"))
    log: list = []
    decided: list[list] = []
    faults: list[RepeatFault] = []
    for n in range(120):
        if faults and rng.random() < 0.1:
            fault = faults.pop(rng.randrange(len(faults)))
            fault.resolve(resolution="fixed", actor="desk")
            events = fault.collect_events()
        else:
            events = [opened(n * rng.uniform(0.2, 1.5), pole=rng.choice("ABC"),
                             pon=rng.choice("XY"))]
        for event in events:
            decisions = policy.observe(event)
            log.append(event)
            decided.append(decisions)
            for d in decisions:
                if isinstance(d, RaiseFault):
                    fault = RepeatFault.raise_fault(scope=d.scope, value=d.value,
                                                    episode=d.episode, tickets=list(d.tickets),
                                                    actor="system")
                    (raised,) = fault.collect_events()
                    log.append(raised)
                    decided.append(policy.observe(raised))
                    faults.append(fault)
    return log, decided


@pytest.mark.parametrize("seed", range(8))
def test_a_restored_snapshot_decides_as_the_policy_it_was_taken_of(seed: int) -> None:
    """A process taking over resumes from the saved state instead of replaying the
    whole log: whatever the point, it must decide exactly as the original."""
    log, decided = _log_and_decisions(seed)
    assert any(isinstance(d, RaiseFault) for ds in decided for d in ds)  # a real history
    settings = {"window": timedelta(days=10), "thresholds": parse_thresholds("pole=2,pon=3")}
    for cut in range(0, len(log), 7):
        before = RepeatPolicy(**settings)
        for event in log[:cut]:
            before.observe(event)
        data = orjson.loads(orjson.dumps(before.snapshot()))  # as stored
        restored = RepeatPolicy.restore(data, **settings)
        assert [restored.observe(e) for e in log[cut:]] == decided[cut:], cut


def test_the_settings_key_changes_with_the_settings() -> None:
    keys = {RepeatPolicy(window=timedelta(days=w), thresholds=parse_thresholds(t)).settings_key
            for w, t in [(30, ""), (30, "pole=4"), (7, ""), (30, "pole=3")]}
    assert len(keys) == 3  # "" and "pole=3" are the same thresholds
