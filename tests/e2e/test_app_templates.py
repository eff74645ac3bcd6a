"""The ``client`` fixture's store is a copy of ``app_templates``' store: it must be
what the app makes of an empty store, and each copy must be a store of its own."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from api.app import build_services
from conftest import AppTemplates, e2e_settings
from ledger.application import Ledger
from projections.store import CATALOG_TABLE


def _schema(database_url: str) -> set[tuple[Any, ...]]:
    """Every table's columns and every index of the store."""
    if database_url.startswith("sqlite:///"):
        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as conn:
            return set(conn.execute(
                "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
            ).fetchall())
    import psycopg

    with psycopg.connect(database_url) as conn:
        columns = conn.execute(
            "SELECT table_name, column_name, data_type, is_nullable, column_default "
            "FROM information_schema.columns WHERE table_schema = 'public'"
        ).fetchall()
        indexes = conn.execute(
            "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"
        ).fetchall()
    return set(columns) | set(indexes)


def _catalog(database_url: str) -> list[tuple[Any, ...]]:
    """The projections' builds, without the times they were made at."""
    query = f"SELECT name, version, generation, state FROM {CATALOG_TABLE} ORDER BY 1, 2, 3"
    if database_url.startswith("sqlite:///"):
        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as conn:
            return conn.execute(query).fetchall()
    import psycopg

    with psycopg.connect(database_url) as conn:
        return conn.execute(query).fetchall()


def _copy(backend: str, templates: AppTemplates, path: Path) -> str:
    return templates.sqlite(path) if backend == "sqlite" else templates.postgres()


def _head(database_url: str) -> int:
    ledger = Ledger(database_url)
    try:
        return ledger.head()
    finally:
        ledger.close()


def test_a_copy_is_what_the_app_makes_of_an_empty_store(
    backend: str, tmp_path: Path, postgres_url_factory: Callable[..., str],
    app_templates: AppTemplates,
) -> None:
    made = f"sqlite:///{tmp_path}/made.db" if backend == "sqlite" else postgres_url_factory()
    build_services(e2e_settings(made)).close()
    copy = _copy(backend, app_templates, tmp_path / "copy.db")

    assert _schema(made), "the app made no tables"
    assert _schema(copy) == _schema(made)
    assert _catalog(made), "the app made no projection builds"
    assert _catalog(copy) == _catalog(made)
    assert _head(copy) == 0


def test_each_copy_is_a_store_of_its_own(
    backend: str, tmp_path: Path, app_templates: AppTemplates
) -> None:
    first = _copy(backend, app_templates, tmp_path / "first.db")
    second = _copy(backend, app_templates, tmp_path / "second.db")
    assert first != second

    ledger = Ledger(first)
    try:
        ledger.open_ticket(actor="template-test", title="Only in the first copy").result()
        assert ledger.head() == 1
    finally:
        ledger.close()
    assert _head(second) == 0
    assert _head(_copy(backend, app_templates, tmp_path / "third.db")) == 0


def test_a_test_without_the_client_gets_an_empty_store(database_url: str) -> None:
    """It may make its own schema (an older one, say) or test what the app does
    with an empty store."""
    assert _schema(database_url) == set()
