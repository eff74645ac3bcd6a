"""Seeds a living ledger: engineers and tickets with realistic assignment stories,
all recorded through the application like any other command."""

from __future__ import annotations

import random
from collections.abc import Callable

from ledger.application import Ledger
from ledger.errors import EngineerExistsError, LedgerError

DISPATCHER = "demo-dispatcher"

ENGINEERS = [
    # id, name, skills, tier, capacity, availability
    ("thandi.n", "Thandi Nkosi", ["fibre", "splicing"], 1, 5, 0.9),
    ("pieter.v", "Pieter van Wyk", ["fibre", "ont"], 1, 5, 0.8),
    ("aisha.k", "Aisha Khan", ["copper", "dsl"], 1, 4, 1.0),
    ("lerato.m", "Lerato Mokoena", ["wifi", "ont"], 1, 6, 0.7),
    ("sipho.d", "Sipho Dlamini", ["fibre", "pon", "otdr"], 2, 4, 0.9),
    ("maria.g", "Maria Garcia", ["network", "routing"], 2, 4, 0.8),
    ("james.o", "James Okafor", ["power", "ups"], 2, 3, 1.0),
    ("chen.w", "Chen Wei", ["core", "routing", "pon"], 3, 3, 0.6),
    ("ingrid.s", "Ingrid Svensson", ["core", "optical"], 3, 2, 0.9),
]

PROBLEMS = [
    ("No signal on ONT after storm", "fibre", "high"),
    ("Intermittent packet loss at business park", "network", "critical"),
    ("Slow speeds on 100 Mbps line", "fibre", "medium"),
    ("DSL drops every evening", "copper", "low"),
    ("UPS alarm at street cabinet", "power", "high"),
    ("Wi-Fi dead zone in clinic waiting room", "wifi", "medium"),
    ("PON port flapping, 32 homes affected", "pon", "critical"),
    ("New installation: ONT not provisioning", "ont", "medium"),
]


def seed_demo(ledger: Ledger, tickets: int = 25, seed: int = 7,
              progress: Callable[[int], None] | None = None) -> int:
    """Records engineers (once) and ``tickets`` ticket stories. Returns events' head."""
    rng = random.Random(seed)
    for engineer_id, name, skills, tier, capacity, availability in ENGINEERS:
        try:
            ledger.register_engineer(
                engineer_id=engineer_id, name=name, skills=skills, tier=tier,
                capacity=capacity, availability=availability, actor=DISPATCHER,
            ).result()
        except EngineerExistsError:
            pass
    by_tier: dict[int, list[str]] = {}
    for engineer_id, _name, _skills, tier, _c, _a in ENGINEERS:
        by_tier.setdefault(tier, []).append(engineer_id)

    for n in range(tickets):
        title, skill, priority = rng.choice(PROBLEMS)
        try:
            _story(ledger, rng, by_tier, title=f"{title} (#{n + 1})", skill=skill,
                   priority=priority, reference=f"DEMO-{n + 1:05d}")
        except LedgerError:  # a story that hit a rule is still a story
            continue
        if progress:
            progress(n + 1)
    return ledger.head()


def _story(ledger: Ledger, rng: random.Random, by_tier: dict[int, list[str]], *,
           title: str, skill: str, priority: str, reference: str) -> None:
    ticket = ledger.open_ticket(
        title=title, priority=priority, required_skill=skill, reference=reference,
        equipment_id=f"EQ-{rng.randint(1000, 9999)}", actor=DISPATCHER,
        description="Customer reported via the help desk.",
    ).result().aggregate_id
    roll = rng.random()
    if roll < 0.12:
        return  # still waiting in the queue
    l1 = rng.choice(by_tier[1])
    a = ledger.assign(ticket, engineer_id=l1, tier=1, reason="Initial dispatch",
                      actor=DISPATCHER).result().assignment_id
    if roll < 0.22:
        ledger.reject(ticket, a, reason="Out of area today", actor=l1).result()
        other = rng.choice([e for e in by_tier[1] if e != l1])
        a = ledger.assign(ticket, engineer_id=other, tier=1, reason="Re-dispatch after rejection",
                          actor=DISPATCHER).result().assignment_id
        l1 = other
    ledger.accept(ticket, a, actor=l1).result()
    if roll < 0.30:
        return  # accepted, on the way
    ledger.start(ticket, a, actor=l1).result()
    if roll < 0.40:
        return  # being worked on
    if roll < 0.50:
        other = rng.choice([e for e in by_tier[1] if e != l1])
        a = ledger.reassign(ticket, a, new_engineer_id=other, reason="Shift change handover",
                            actor=DISPATCHER).result().assignment_id
        ledger.accept(ticket, a, actor=other).result()
        ledger.start(ticket, a, actor=other).result()
        l1 = other
    if roll < 0.70:
        ledger.complete(ticket, a, completion_status="success",
                        time_spent_hours=round(rng.uniform(0.5, 4), 2),
                        diagnosis="Dirty connector", actions_taken="Cleaned and re-terminated",
                        customer_rating=rng.randint(3, 5), actor=l1).result()
        if rng.random() < 0.5:
            ledger.close_ticket(ticket, reason="Customer confirmed", actor=DISPATCHER).result()
        return
    # Escalation L1 -> L2 (-> L3)
    l2 = rng.choice(by_tier[2])
    a = ledger.escalate(ticket, next_engineer_id=l2, reason="Fault beyond the drop cable",
                        actor=DISPATCHER).result().assignment_id
    ledger.accept(ticket, a, actor=l2).result()
    ledger.start(ticket, a, actor=l2).result()
    if roll < 0.85:
        ledger.complete(ticket, a, completion_status="success",
                        time_spent_hours=round(rng.uniform(1, 6), 2),
                        diagnosis="Faulty splitter", actions_taken="Replaced splitter",
                        parts_used=[{"part_number": "SPL-1x8", "part_name": "1:8 splitter",
                                     "quantity": 1, "cost": 42.5}], actor=l2).result()
        return
    l3 = rng.choice(by_tier[3])
    a = ledger.escalate(ticket, next_engineer_id=l3, reason="Core network fault suspected",
                        actor=DISPATCHER).result().assignment_id
    ledger.accept(ticket, a, actor=l3).result()
    if roll < 0.95:
        ledger.start(ticket, a, actor=l3).result()
        ledger.complete(ticket, a, completion_status="success",
                        time_spent_hours=round(rng.uniform(2, 8), 2),
                        diagnosis="OLT line card fault", actions_taken="Swapped line card",
                        actor=l3).result()
