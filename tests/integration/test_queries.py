"""Read queries that join or batch rows (SQLite and PostgreSQL)."""

from __future__ import annotations

from uuid import uuid4

from ledger.application import Ledger
from projections.queries import ReadQueries
from projections.runner import ReadSide
from projections.store import ReadStore

ACTOR = "it-dispatcher"


def test_a_ticket_comes_with_its_current_assignment_in_one_query(
    ledger: Ledger, store: ReadStore, read_side: ReadSide
) -> None:
    engineer = f"eng-{uuid4().hex[:8]}"
    ledger.register_engineer(engineer_id=engineer, name="E", tier=1, actor=ACTOR).result()
    assigned = ledger.open_ticket(title="assigned", actor=ACTOR).result().aggregate_id
    first = ledger.assign(assigned, engineer_id=engineer, tier=1, actor=ACTOR).result()
    ledger.accept(assigned, first.assignment_id, actor=ACTOR).result()
    ledger.complete(assigned, first.assignment_id, completion_status="escalated",
                    time_spent_hours=1.0, actor=ACTOR).result()
    second = ledger.assign(assigned, engineer_id=engineer, tier=2, actor=ACTOR).result()
    unassigned = ledger.open_ticket(title="open", actor=ACTOR).result()
    assert read_side.wait_for(unassigned.position, 5)
    queries = ReadQueries(store)

    row, current = queries.ticket_with_current(assigned)
    assert row == queries.ticket(assigned)
    assert current == queries.assignment(second.assignment_id)
    assert current["assignment_tier"] == 2 and current["status"] == "assigned"
    assert queries.ticket_with_current(unassigned.aggregate_id) == (
        queries.ticket(unassigned.aggregate_id), None)
    assert queries.ticket_with_current(uuid4()) is None

    ids = [str(first.assignment_id), str(second.assignment_id)]
    by_id = queries.assignments_by_id([*ids, str(uuid4())])
    assert by_id == {i: queries.assignment(i) for i in ids}
    assert by_id[ids[0]]["status"] == "completed"
    assert queries.assignments_by_id([]) == {}


def test_rows_read_as_text_equal_the_rows_decoded_from_typed_values(
    ledger: Ledger, store: ReadStore, read_side: ReadSide
) -> None:
    """``store.rows`` (on PostgreSQL: ids and times read as text by the cursor's
    loaders) gives the rows that decoding the server's typed values gives."""
    from projections.queries import ASSIGNMENTS, HISTORY, TICKETS

    engineer = f"eng-{uuid4().hex[:8]}"
    ledger.register_engineer(engineer_id=engineer, name="E", tier=1, actor=ACTOR).result()
    for _ in range(3):
        ticket = ledger.open_ticket(title="t", actor=ACTOR).result().aggregate_id
        assigned = ledger.assign(ticket, engineer_id=engineer, tier=1, actor=ACTOR).result()
        done = ledger.accept(ticket, assigned.assignment_id, actor=ACTOR).result()
    assert read_side.wait_for(done.position, 5)
    for table in (TICKETS, ASSIGNMENTS, HISTORY):
        statement = f"SELECT * FROM {table.name} ORDER BY 1"
        rows = store.rows(table, statement)
        assert len(rows) >= 3
        assert rows == [store.decode(table, r) for r in store.select(statement)]
        assert all(isinstance(v, str) for r in rows for k, v in r.items()
                   if table.types.get(k) in ("uuid", "ts") and v is not None)


def test_the_stores_select_list_reads_the_rows_decoding_gives(
    ledger: Ledger, store: ReadStore, read_side: ReadSide
) -> None:
    """``columns_sql`` (on PostgreSQL: times formatted by the server) reads every
    column as decoding the server's typed values gives it, ended assignments'
    times included."""
    from projections.queries import ASSIGNMENTS, CURRENT, ENGINEERS, HISTORY, INTERVALS, TICKETS

    engineer = f"eng-{uuid4().hex[:8]}"
    ledger.register_engineer(engineer_id=engineer, name="E", tier=1, actor=ACTOR).result()
    for _ in range(2):
        ticket = ledger.open_ticket(title="t", actor=ACTOR).result().aggregate_id
        assigned = ledger.assign(ticket, engineer_id=engineer, tier=1, actor=ACTOR).result()
        ledger.accept(ticket, assigned.assignment_id, actor=ACTOR).result()
        done = ledger.complete(ticket, assigned.assignment_id, completion_status="success",
                               time_spent_hours=2, actor=ACTOR).result()
        ledger.reopen_ticket(ticket, reason="again", actor=ACTOR).result()
        last = ledger.assign(ticket, engineer_id=engineer, tier=1, actor=ACTOR).result()
    assert read_side.wait_for(last.position, 5) and done.position < last.position
    for table in (TICKETS, ASSIGNMENTS, CURRENT, HISTORY, INTERVALS, ENGINEERS):
        rows = store.rows(table, f"SELECT {store.columns_sql(table)} FROM {table.name} ORDER BY 1")
        assert len(rows) >= 1, table.name
        typed = store.select(f"SELECT * FROM {table.name} ORDER BY 1")
        assert rows == [store.decode(table, r) for r in typed], table.name
        assert list(rows[0]) == list(table.column_names)
    ended = store.rows(ASSIGNMENTS, f"SELECT {store.columns_sql(ASSIGNMENTS)} FROM "
                                    "engineer_assignments WHERE completed_at IS NOT NULL")
    assert len(ended) == 2 and all(r["completed_at"].endswith("Z") for r in ended)


def test_times_in_any_zone_are_read_as_utc_text(store: ReadStore) -> None:
    from datetime import datetime, timedelta, timezone

    from projections.postgres_store import PostgresReadStore
    from projections.tables import Column, Table, ts

    table = Table("moments", (Column("at", "ts"),), ("at",))
    if not isinstance(store, PostgresReadStore):  # SQLite stores the text itself
        assert store.columns_sql(table) == "at"
        return
    zone = timezone(timedelta(hours=5, minutes=30))
    for moment in (datetime(2026, 3, 1, 1, 2, 3, 500, tzinfo=zone),
                   datetime(2026, 12, 31, 23, 59, 59, tzinfo=timezone.utc),
                   datetime(2025, 7, 1, 0, 0, 0, 999999, tzinfo=timezone(-timedelta(hours=7)))):
        (row,) = store.rows(table, f"SELECT {store.columns_sql(table)} FROM "
                                   "(VALUES (%s::timestamptz)) AS v(at)", [moment])
        assert row == {"at": ts(moment)}
