"""Tamper evidence: the hash chain written at append, the append-only triggers,
signed checkpoints, and verification naming exactly what was changed.

The attacker here owns the database: they drop the triggers, then alter,
delete or reorder stored events with plain SQL.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from uuid import UUID

import orjson
import pytest
from typer.testing import CliRunner

from ledger.application import Ledger
from ledger.hashchain import GENESIS, stored_event_hash
from ledger.signing import load_or_create
from projections.backend import build_store
from projections.checkpoints import CheckpointStore, StoredLog
from projections.sealer import Sealer
from projections.verification import Verifier


@pytest.fixture
def signer(tmp_path):  # noqa: ANN001, ANN201
    return load_or_create(tmp_path / "signing-key.pem")


@pytest.fixture
def audit(ledger: Ledger, signer) -> Iterator[dict[str, Any]]:  # noqa: ANN001
    store = build_store(ledger.store, pool_size=2)
    checkpoints = CheckpointStore(store)
    checkpoints.setup()
    log = StoredLog(store, ledger.recorder.events_table_name)
    yield {
        "store": store,
        "log": log,
        "checkpoints": checkpoints,
        "sealer": Sealer(log, checkpoints, signer, every=10),
        "verifier": Verifier(log, checkpoints, signer.public_raw.hex()),
    }
    store.close()


def history(ledger: Ledger, tickets: int = 6) -> list[UUID]:
    """Tickets with 4 or 6 events each, interleaved in the log (2 + 4n + 2 * ceil(n/2)
    events in all)."""
    ledger.register_engineer(engineer_id="l1", name="L1", actor="dispatch", tier=1).result()
    ledger.register_engineer(engineer_id="l2", name="L2", actor="dispatch", tier=2).result()
    ids = [ledger.open_ticket(title=f"ticket {i}", actor="dispatch").result().aggregate_id
           for i in range(tickets)]
    for tid in ids:
        assignment = ledger.assign(tid, engineer_id="l1", tier=1, actor="dispatch").result().assignment_id
        ledger.accept(tid, assignment, actor="l1").result()
    escalated = {
        tid: ledger.escalate(tid, next_engineer_id="l2", reason="needs L2",
                             actor="dispatch").result().assignment_id
        for tid in ids
    }
    for tid in ids[::2]:
        ledger.remove(tid, escalated[tid], reason="duplicate", actor="dispatch").result()
        ledger.close_ticket(tid, reason="done", actor="dispatch").result()
    return ids


def rows_of(log: StoredLog, ticket_id: UUID) -> list[tuple[int, UUID, int, str, bytes]]:
    return log.stream(ticket_id)


# ------------------------------------------------------------------ the attacker


@contextmanager
def attacker(ledger: Ledger) -> Iterator[Any]:
    """A raw connection with the append-only triggers dropped (as a database owner
    could); yields ``run(sql, params)`` written with %s placeholders."""
    table = ledger.recorder.events_table_name
    if ledger.store.is_postgres:
        import psycopg

        conn = psycopg.connect(ledger.store.conninfo(), autocommit=True)
        conn.execute(f'DROP TRIGGER "{table}_append_only" ON "{table}"')

        def run(statement: str, params: list[Any]) -> None:
            conn.execute(statement.replace("{t}", f'"{table}"').replace("{pos}", "notification_id"),
                         params)
        try:
            yield run
        finally:
            conn.close()
    else:
        conn = sqlite3.connect(ledger.store.sqlite_path)
        conn.execute(f'DROP TRIGGER "{table}_no_update"')
        conn.execute(f'DROP TRIGGER "{table}_no_delete"')

        def run(statement: str, params: list[Any]) -> None:
            params = [p.hex if isinstance(p, UUID) else p for p in params]
            conn.execute(statement.replace("{t}", f'"{table}"').replace("{pos}", "rowid")
                         .replace("%s", "?"), params)
            conn.commit()
        try:
            yield run
        finally:
            conn.close()


# ------------------------------------------------------------------ the chain


def test_every_event_is_chained_to_its_stream_at_append(ledger: Ledger, audit) -> None:  # noqa: ANN001
    ids = history(ledger, tickets=3)
    for tid in ids:
        previous = GENESIS
        rows = rows_of(audit["log"], tid)
        assert [r[2] for r in rows] == list(range(1, len(rows) + 1))
        for _position, originator_id, version, topic, state in rows:
            parsed = orjson.loads(state)
            assert parsed["prev_hash"] == previous
            assert parsed["hash"] == stored_event_hash(originator_id, version, topic, state)
            previous = parsed["hash"]


def test_the_chain_holds_under_concurrent_conflicting_commands(ledger: Ledger, audit) -> None:  # noqa: ANN001
    """Conflicting saves are retried on fresh state; a failed insert's hash must
    never be chained to."""
    ledger.register_engineer(engineer_id="busy", name="Busy", actor="d", capacity=50).result()
    tid = ledger.open_ticket(title="hot", actor="d").result().aggregate_id
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for _ in range(5):
                result = ledger.assign(tid, engineer_id="busy", tier=1, actor=f"w{n}").result()
                ledger.remove(tid, result.assignment_id, reason="again", actor=f"w{n}").result()
        except Exception as e:  # noqa: BLE001 - collected and asserted below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    report = audit["verifier"].verify()
    assert report.ok, report.as_dict()
    assert report.events_checked == audit["log"].count_after(0)
    committed = len(rows_of(audit["log"], tid))
    assert committed >= 2 and (committed - 1) % 2 == 0  # opened + pairs of assign/remove


# ------------------------------------------------------------------ the triggers


def test_the_database_refuses_to_change_or_delete_events(ledger: Ledger, audit) -> None:  # noqa: ANN001
    history(ledger, tickets=1)
    table = ledger.recorder.events_table_name
    if ledger.store.is_postgres:
        import psycopg

        with psycopg.connect(ledger.store.conninfo(), autocommit=True) as conn:
            for statement in (f'UPDATE "{table}" SET topic = topic',
                              f'DELETE FROM "{table}"', f'TRUNCATE "{table}"'):
                with pytest.raises(psycopg.Error, match="append-only"):
                    conn.execute(statement)
    else:
        conn = sqlite3.connect(ledger.store.sqlite_path)
        try:
            for statement in (f'UPDATE "{table}" SET topic = topic', f'DELETE FROM "{table}"'):
                with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                    conn.execute(statement)
        finally:
            conn.close()
    assert audit["verifier"].verify().ok
    assert audit["log"].count_after(0) == ledger.head()


# ------------------------------------------------------------------ verification


def test_an_intact_ledger_verifies(ledger: Ledger, audit) -> None:  # noqa: ANN001
    ids = history(ledger)
    sealed = audit["sealer"].seal_pending(force=True)
    report = audit["verifier"].verify()
    assert report.ok and report.first_broken is None
    assert report.events_checked == ledger.head()
    assert report.checkpoints_checked == len(sealed) >= 3
    assert report.streams_checked == len(ids) + 2
    one = audit["verifier"].verify(ticket_id=ids[1])
    assert one.ok and one.events_checked == len(rows_of(audit["log"], ids[1]))


def test_an_altered_event_is_named(ledger: Ledger, audit) -> None:  # noqa: ANN001
    ids = history(ledger)
    audit["sealer"].seal_pending(force=True)
    position, _, version, _, state = rows_of(audit["log"], ids[2])[2]
    forged = state.replace(b'"actor":"l1"', b'"actor":"mallory"')
    assert forged != state
    with attacker(ledger) as run:
        run("UPDATE {t} SET state = %s WHERE {pos} = %s", [forged, position])
    report = audit["verifier"].verify()
    assert not report.ok
    broken = report.first_broken
    assert (broken.ticket_id, broken.version, broken.position) == (str(ids[2]), version, position)
    assert "altered" in broken.reason
    one = audit["verifier"].verify(ticket_id=ids[2])
    assert one.first_broken.position == position


def test_a_deleted_event_is_named(ledger: Ledger, audit) -> None:  # noqa: ANN001
    ids = history(ledger)
    audit["sealer"].seal_pending(force=True)
    rows = rows_of(audit["log"], ids[3])
    deleted_position, _, deleted_version, _, _ = rows[1]
    with attacker(ledger) as run:
        run("DELETE FROM {t} WHERE {pos} = %s", [deleted_position])
    report = audit["verifier"].verify()
    broken = report.first_broken
    assert not report.ok
    assert (broken.ticket_id, broken.version) == (str(ids[3]), deleted_version)
    assert broken.position == rows[2][0]  # found where the stream resumes
    assert "missing" in broken.reason


def test_a_reordered_pair_is_named(ledger: Ledger, audit) -> None:  # noqa: ANN001
    ids = history(ledger)
    audit["sealer"].seal_pending(force=True)
    rows = rows_of(audit["log"], ids[4])
    first, second = rows[1], rows[2]
    with attacker(ledger) as run:  # swap the two events' contents
        run("UPDATE {t} SET state = %s, topic = %s WHERE {pos} = %s",
            [second[4], second[3], first[0]])
        run("UPDATE {t} SET state = %s, topic = %s WHERE {pos} = %s",
            [first[4], first[3], second[0]])
    report = audit["verifier"].verify()
    broken = report.first_broken
    assert not report.ok
    assert (broken.ticket_id, broken.version, broken.position) == (
        str(ids[4]), first[2], first[0])


def test_the_removed_last_event_of_a_stream_is_caught_by_its_checkpoint(
    ledger: Ledger, audit  # noqa: ANN001
) -> None:
    ids = history(ledger)
    audit["sealer"].seal_pending(force=True)
    last = rows_of(audit["log"], ids[0])[-1]
    with attacker(ledger) as run:
        run("DELETE FROM {t} WHERE {pos} = %s", [last[0]])
    report = audit["verifier"].verify()
    assert not report.ok
    assert report.first_broken.checkpoint is not None
    assert report.first_broken.checkpoint >= last[0]


def test_events_swapped_across_streams_break_the_signed_running_hash(
    ledger: Ledger, audit  # noqa: ANN001
) -> None:
    """Each stream's chain survives swapping the positions of events of two
    different tickets; the running hash under the signed checkpoint does not."""
    ids = history(ledger)
    audit["sealer"].seal_pending(force=True)
    assert ids
    log = [row for page in audit["log"].pages() for row in page]
    # Neighbours in the log from two streams: swapping them keeps each stream in order.
    a, b = next((x, y) for x, y in zip(log, log[1:], strict=False) if x[1] != y[1])
    with attacker(ledger) as run:  # swap their positions
        run("UPDATE {t} SET {pos} = %s WHERE {pos} = %s", [-1, a[0]])
        run("UPDATE {t} SET {pos} = %s WHERE {pos} = %s", [a[0], b[0]])
        run("UPDATE {t} SET {pos} = %s WHERE {pos} = %s", [b[0], -1])
    report = audit["verifier"].verify()
    assert not report.ok
    assert report.first_broken.checkpoint is not None
    assert "running hash" in report.first_broken.reason


def test_a_forged_checkpoint_fails_its_signature(ledger: Ledger, audit) -> None:  # noqa: ANN001
    history(ledger)
    sealed = audit["sealer"].seal_pending(force=True)
    target = sealed[0]
    datastore = audit["store"].datastore
    placeholder = "%s" if ledger.store.is_postgres else "?"
    with datastore.transaction(commit=True) as c:
        c.execute(f"UPDATE ledger_checkpoints SET events = events + 1 "
                  f"WHERE position = {placeholder}", [target.position])
    report = audit["verifier"].verify()
    assert not report.ok
    assert report.first_broken.checkpoint == target.position
    assert "signature" in report.first_broken.reason
    unsigned = Verifier(audit["log"], audit["checkpoints"], None).verify()
    assert not unsigned.ok and "sealed over" in unsigned.first_broken.reason


def test_verify_from_a_position_starts_at_a_checkpoint(ledger: Ledger, audit) -> None:  # noqa: ANN001
    history(ledger)
    sealed = audit["sealer"].seal_pending(force=True)
    report = audit["verifier"].verify(from_position=sealed[1].position + 3)
    assert report.ok and report.anchored
    assert report.events_checked == ledger.head() - sealed[1].position


# ------------------------------------------------------------------ sealing


def test_the_sealer_seals_every_n_events_and_after_the_interval(ledger: Ledger, audit, signer) -> None:  # noqa: ANN001
    now = [1000.0]
    sealer = Sealer(audit["log"], audit["checkpoints"], signer, every=10, interval=60,
                    clock=lambda: now[0])
    history(ledger, tickets=4)  # 2 + 16 + 4 = 22 events
    head = ledger.head()
    first = sealer.seal_pending()
    assert [c.events for c in first] == [10, 20]
    assert sealer.seal_pending() == []  # 2 pending, interval not yet passed
    now[0] += 61
    late = sealer.seal_pending()
    assert [(c.position, c.events) for c in late] == [(head, 22)]
    assert sealer.seal_pending(force=True) == []  # nothing left to seal
    restarted = Sealer(audit["log"], audit["checkpoints"], signer, every=10)
    ledger.close_ticket(ledger.open_ticket(title="x", actor="d").result().aggregate_id,
                        reason=None, actor="d").result()
    resumed = restarted.seal_pending(force=True)
    assert [c.events for c in resumed] == [24]
    assert audit["verifier"].verify().ok


# ------------------------------------------------------------------ the CLI


def test_ledger_verify_exits_non_zero_and_names_the_break(
    ledger: Ledger, audit, database_url: str, tmp_path, monkeypatch  # noqa: ANN001
) -> None:
    from api.cli import app

    monkeypatch.setenv("LEDGER_SIGNING_KEY", str(tmp_path / "signing-key.pem"))
    ids = history(ledger)
    runner = CliRunner()
    sealed = runner.invoke(app, ["seal", "--database-url", database_url])
    assert sealed.exit_code == 0, sealed.output
    ok = runner.invoke(app, ["verify", "--database-url", database_url, "--json"])
    assert ok.exit_code == 0, ok.output
    assert orjson.loads(ok.stdout)["checkpoints_checked"] >= 1
    position, _, version, _, state = rows_of(audit["log"], ids[5])[1]
    with attacker(ledger) as run:
        run("UPDATE {t} SET state = %s WHERE {pos} = %s",
            [state.replace(b'"actor":"', b'"actor":"x'), position])
    broken = runner.invoke(app, ["verify", "--database-url", database_url, "--json"])
    assert broken.exit_code == 1
    first = orjson.loads(broken.stdout)["first_broken"]
    assert (first["ticket_id"], first["version"], first["position"]) == (
        str(ids[5]), version, position)


def test_checkpoints_verify_across_a_key_rotation(ledger: Ledger, audit, tmp_path) -> None:  # noqa: ANN001
    old = load_or_create(tmp_path / "old.pem")
    new = load_or_create(tmp_path / "new.pem")
    history(ledger, tickets=2)
    Sealer(audit["log"], audit["checkpoints"], old, every=5).seal_pending(force=True)
    for _ in range(6):
        ledger.open_ticket(title="after the rotation", actor="dispatch").result()
    Sealer(audit["log"], audit["checkpoints"], new, every=5).seal_pending(force=True)
    both = Verifier(audit["log"], audit["checkpoints"],
                    [old.public_raw.hex(), new.public_raw.hex()]).verify()
    assert both.ok and both.checkpoints_checked >= 4
    only_new = Verifier(audit["log"], audit["checkpoints"], new.public_raw.hex()).verify()
    assert not only_new.ok and "signature" in only_new.first_broken.reason
