"""Append-only in the database: triggers that refuse to change stored events.

eventsourcing only ever INSERTs into the event table; these triggers make the
database itself refuse UPDATE and DELETE (and, on PostgreSQL, TRUNCATE) of it,
whoever asks. They stop mistakes and ordinary application credentials; an
owner of the database can still drop them, which is what the hash chain and
the signed checkpoints are for (docs/security.md).
"""

from __future__ import annotations

from typing import Any

MESSAGE = "the event store is append-only: stored events cannot be changed or deleted"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def postgres_statements(table: str, schema: str = "public") -> list[str]:
    qualified = f"{_quote(schema)}.{_quote(table)}"
    trigger = _quote(f"{table}_append_only")
    truncate = _quote(f"{table}_no_truncate")
    return [
        # Serialises concurrent installers (CREATE OR REPLACE races otherwise).
        "SELECT pg_advisory_xact_lock(8297730917)",
        f"""CREATE OR REPLACE FUNCTION {_quote(schema)}.ledger_refuse_change()
            RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION '{MESSAGE} (% on %)', TG_OP, TG_TABLE_NAME
                    USING ERRCODE = 'insufficient_privilege';
            END $$""",
        f"""CREATE OR REPLACE TRIGGER {trigger}
            BEFORE UPDATE OR DELETE ON {qualified}
            FOR EACH ROW EXECUTE FUNCTION {_quote(schema)}.ledger_refuse_change()""",
        f"""CREATE OR REPLACE TRIGGER {truncate}
            BEFORE TRUNCATE ON {qualified}
            FOR EACH STATEMENT EXECUTE FUNCTION {_quote(schema)}.ledger_refuse_change()""",
    ]


def sqlite_statements(table: str) -> list[str]:
    return [
        f"""CREATE TRIGGER IF NOT EXISTS {_quote(table + '_no_update')}
            BEFORE UPDATE ON {_quote(table)}
            BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END""",
        f"""CREATE TRIGGER IF NOT EXISTS {_quote(table + '_no_delete')}
            BEFORE DELETE ON {_quote(table)}
            BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END""",
    ]


def install(recorder: Any, *, postgres: bool) -> None:
    """Creates the triggers on ``recorder``'s event table (idempotent)."""
    table = recorder.events_table_name
    if postgres:
        statements = postgres_statements(table, recorder.datastore.schema or "public")
    else:
        statements = sqlite_statements(table)
    with recorder.datastore.transaction(commit=True) as cursor:
        for statement in statements:
            cursor.execute(statement)
