"""Coverage queries benchmark (issue 21): p95 of ``GET /coverage``,
``GET /coverage/gaps`` and ``GET /certifications/expiring`` over HTTP against a
real ``ledger serve``, with 5,000 engineers and 100,000 open tickets on
PostgreSQL (seed 001's KPI: under 50 ms each).

    nice python benchmarks/coverage.py                    # throwaway PostgreSQL
    nice python benchmarks/coverage.py --requests 100 --engineers 2000 --tickets 40000
    nice python benchmarks/coverage.py --database-url postgresql://u:p@host:5432/empty_db

The read tables are filled directly (``COPY`` into the live builds' physical
tables, after the read side has created them), not through the ledger:
recording 100,000 tickets as events would take minutes and measure the write
path, not these queries. The roster is generated with a fixed seed: 20
territories, 30 skills, 10 certifications; each engineer 0-3 territories (one
in ten none: anywhere), 1-5 skills, 0-3 certifications expiring from a year
ago to two years ahead (some never), tier 1-3, capacity 1-10 with some load;
3% inactive, 5% without availability. Each ticket needs one territory and
skill (one in fifty a skill nobody holds, so there are gaps to find), three in
ten a certification too; all are open, assigned or in progress.

The server is started as benchmarks/commands.py starts ``ledger`` (one
worker, no access log). Each query is sent ``--requests`` times one after
another (after 10 unmeasured warm-up requests), ``/coverage`` with a different territory, skill,
certification and tier each time; p50, p95 and max are printed in ms, as the
client saw them (HTTP on 127.0.0.1, bearer token, JSON parsed). A baseline,
``GET /engineers/{id}`` (one row by key), is measured the same way first: on a
busy machine compare the queries with it (ratios, printed), not with the
target alone.

``/coverage/gaps`` is measured twice: as asked again and again (the server
keeps the uncovered needs until the roster's reach, the needs or the day
change: projections.coverage), and "judged afresh", a new day each request, so
that every need is judged again as after each roster change: the cost of a
request after a change, and what every request cost before the answers were
kept.
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from harness import start_server  # noqa: E402
from replay import _throwaway_postgres  # noqa: E402

TODAY = date(2026, 12, 7)
TERRITORIES = [f"territory-{n:02d}" for n in range(20)]
SKILLS = [f"skill-{n:02d}" for n in range(30)]
CERTS = [f"cert-{n:02d}" for n in range(10)]
UNHELD = [f"skill-{n:02d}" for n in range(30, 35)]
STATUSES = ("open", "assigned", "in_progress")


def _copy(cursor: Any, table: str, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
    quoted = ", ".join(f'"{c}"' for c in columns)
    with cursor.copy(f'COPY "{table}" ({quoted}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row(row)


def fill(url: str, engineers: int, tickets: int, seed: int = 21) -> None:
    """Creates the read tables (the read side's own setup) and fills them."""
    import orjson
    import psycopg

    from ledger.application import Ledger
    from projections.backend import build_store
    from projections.engineers import EngineersProjection, reach_of
    from projections.runner import ReadSide
    from projections.tickets import TicketsProjection

    rng = random.Random(seed)
    ledger = Ledger(url, pool_size=2)
    store = build_store(ledger.store, pool_size=2)
    try:
        ReadSide(ledger, store).setup()
        physical = {}
        for entry in store.catalog():
            if entry.state != "live":
                continue
            for cls in (EngineersProjection, TicketsProjection):
                if entry.name == cls.name:
                    for table in cls.tables:
                        physical[table.name] = entry.physical(table)
    finally:
        store.close()
        ledger.close()

    at = "2026-12-01T08:00:00.000000Z"
    roster, skills, territories, certifications, reach = [], [], [], [], []
    for n in range(engineers):
        engineer_id = f"eng-{n:05d}"
        held_skills = rng.sample(SKILLS, rng.randint(1, 5))
        held_territories = [] if rng.random() < 0.1 else rng.sample(TERRITORIES, rng.randint(1, 3))
        held_certs = [
            {"name": c, "expires_on": None if rng.random() < 0.2 else
             (TODAY + timedelta(days=rng.randint(-365, 730))).isoformat()}
            for c in sorted(rng.sample(CERTS, rng.randint(0, 3)))
        ]
        capacity = rng.randint(1, 10)
        active, availability = rng.random() >= 0.03, 0.0 if rng.random() < 0.05 else 1.0
        reach += [(skill, territory, engineer_id) for skill, territory in reach_of({
            "active": active, "availability": availability, "skills": held_skills,
            "territories": held_territories})]
        roster.append((
            engineer_id, f"Engineer {n}", orjson.dumps(held_skills).decode(), rng.randint(1, 3),
            capacity, availability, active,
            rng.randint(0, capacity), n + 1, at, at, orjson.dumps(held_territories).decode(),
            orjson.dumps(held_certs).decode(),
        ))
        skills += [(engineer_id, s) for s in held_skills]
        territories += [(engineer_id, t) for t in held_territories]
        certifications += [(engineer_id, c["name"], c["expires_on"]) for c in held_certs]

    ticket_columns = [c.name for c in TicketsProjection.table.columns]
    ticket_rows, needs = [], {}
    for n in range(tickets):
        row = dict.fromkeys(ticket_columns)
        row.update(
            id=f"00000000-0000-4000-8000-{n:012d}", title=f"Ticket {n}", priority="medium",
            # One ticket in fifty asks for a skill nobody has: some real gaps.
            required_skill=rng.choice(SKILLS if rng.random() >= 0.02 else UNHELD),
            status=rng.choice(STATUSES), version=1,
            assignment_count=0, opened_by="bench", opened_position=n + 1, created_at=at,
            updated_at=at, territory=rng.choice(TERRITORIES),
            required_certification=rng.choice(CERTS) if rng.random() < 0.3 else None,
        )
        row["location_zone"] = row["territory"]
        needed = (row["territory"], row["required_skill"], row["required_certification"])
        row["need"] = orjson.dumps(list(needed)).decode()
        needs[row["need"]] = (row["need"], *needed)
        ticket_rows.append(tuple(row[c] for c in ticket_columns))

    with psycopg.connect(url, autocommit=False) as conn, conn.cursor() as c:
        _copy(c, physical["engineers"], [col.name for col in EngineersProjection.table.columns],
              roster)
        _copy(c, physical["engineer_skills"], ["engineer_id", "skill"], skills)
        _copy(c, physical["engineer_territories"], ["engineer_id", "territory"], territories)
        _copy(c, physical["engineer_certifications"],
              ["engineer_id", "certification", "expires_on"], certifications)
        _copy(c, physical["engineer_reach"], ["skill", "territory", "engineer_id"], reach)
        _copy(c, physical["engineer_reach_changed"], ["id", "position"], [("last", engineers)])
        _copy(c, physical["tickets"], ticket_columns, ticket_rows)
        _copy(c, physical["ticket_needs"], ["need", "territory", "skill", "certification"],
              list(needs.values()))
        conn.commit()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ANALYZE")


@contextmanager
def serving(url: str) -> Iterator[tuple[str, dict[str, str]]]:
    """``ledger serve`` as commands.py runs it (its settings, ready at lag 0)."""
    token = "bench-" + os.urandom(8).hex()
    with tempfile.TemporaryDirectory() as workdir:
        server = start_server("ledger", url, token, Path(workdir), 1)
        try:
            yield server.base, {"Authorization": f"Bearer {token}"}
        finally:
            server.stop()


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def measure(base: str, headers: dict[str, str], requests: int, seed: int = 7) -> dict[str, Any]:
    import httpx

    rng = random.Random(seed)
    fresh_days = (TODAY + timedelta(days=n) for n in itertools.count(1))

    def coverage_params() -> dict[str, Any]:
        params: dict[str, Any] = {"territory": rng.choice(TERRITORIES),
                                  "skill": rng.choice(SKILLS), "tier": rng.randint(1, 3),
                                  "on": TODAY.isoformat()}
        if rng.random() < 0.5:
            params["certification"] = rng.choice(CERTS)
        return params

    queries = {
        # Not a coverage query: the machine's floor in this run, to compare against.
        "GET /engineers/{id} (baseline)": (
            "/engineers/eng-00001", lambda: {}),
        "GET /coverage": ("/coverage", coverage_params),
        "GET /coverage/gaps": ("/coverage/gaps", lambda: {"on": TODAY.isoformat()}),
        # A different day each time: never a kept answer, every need judged
        # afresh (as after a roster change): what /coverage/gaps cost before.
        "GET /coverage/gaps (judged afresh)": (
            "/coverage/gaps", lambda: {"on": next(fresh_days).isoformat()}),
        "GET /certifications/expiring": (
            "/certifications/expiring", lambda: {"within_days": 30, "on": TODAY.isoformat()}),
    }
    results = {}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        for label, (path, params) in queries.items():
            for _ in range(10):
                client.get(path, params=params()).raise_for_status()
            times, sizes = [], []
            for _ in range(requests):
                started = time.perf_counter()
                response = client.get(path, params=params())
                response.raise_for_status()
                sizes.append(len(response.json().get("items", [None])))
                times.append((time.perf_counter() - started) * 1000)
            results[label] = {
                "p50": _percentile(times, 50), "p95": _percentile(times, 95), "max": max(times),
                "items": sum(sizes) / len(sizes),
            }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engineers", type=int, default=5000)
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--database-url", default=None,
                        help="an EMPTY PostgreSQL database; default: a throwaway one")
    args = parser.parse_args()

    stop = None
    url = args.database_url
    if url is None:
        url, stop = _throwaway_postgres()
    try:
        started = time.perf_counter()
        fill(url, args.engineers, args.tickets)
        print(f"filled {args.engineers:,} engineers and {args.tickets:,} open tickets "
              f"in {time.perf_counter() - started:.1f} s", flush=True)
        with serving(url) as (base, headers):
            started = time.perf_counter()
            results = measure(base, headers, args.requests)
        print(f"measured in {time.perf_counter() - started:.1f} s, load average "
              f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}", flush=True)
        target = 50.0
        baseline = next(r["p95"] for label, r in results.items() if "baseline" in label)
        for label, r in results.items():
            verdict = "ok" if r["p95"] < target else "OVER"
            if "baseline" in label:
                verdict = "(not a target)"
            print(f"{label:44s} p50 {r['p50']:6.1f} ms  p95 {r['p95']:6.1f} ms  "
                  f"max {r['max']:6.1f} ms  p95/baseline {r['p95'] / baseline:5.1f}  "
                  f"({r['items']:.0f} items avg)  "
                  f"p95 < {target:.0f} ms: {verdict}")
    finally:
        if stop is not None:
            stop()


if __name__ == "__main__":
    main()
