"""eventsourcing's own conformance cases, run on what the ledger builds.

The cases come from the library (``eventsourcing.tests.persistence``); this
module only says what to run them on: the transcoder of a ``Ledger``, the
recorder of a ``Ledger`` (eventsourcing's SQLite recorder, or ledger.recorder's
PostgreSQL one, each with ledger.appendonly's triggers on its table) and the
tracking recorder of the read side's store. Each test gets a fresh database.

A case is skipped only where the library's own transcoder or recorder fails it
too, the reason written; ``test_skips_are_what_the_library_fails`` holds the
transcoder's list to the truth. No case of eventsourcing 9.5.6 changes or
deletes a stored event, so the append-only triggers refuse none of them; each
recorder is checked to carry them.
"""

from __future__ import annotations

import threading
import unittest
from collections.abc import Callable
from typing import Any, ClassVar

import pytest
from eventsourcing.persistence import JSONTranscoder, Transcoder, UUIDAsHex
from eventsourcing.postgres import PostgresTrackingRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteTrackingRecorder
from eventsourcing.tests import persistence as cases

from ledger.application import Ledger
from ledger.adapter import HookedPostgresApplicationRecorder
from ledger.store import parse_database_url
from ledger.transcoder import OrjsonTranscoder
from projections.backend import build_store

# ----------------------------------------------------------------- transcoder

#: The library's cases its own JSONTranscoder fails, and why: JSON has no
#: tuples nor subclasses, and the library's encoder stores them as the base type.
LIBRARY_FAILS = {
    "test_tuple": "the library's JSONTranscoder stores tuples as lists",
    "test_mixed": "the library's JSONTranscoder stores tuples as lists",
    "test_dict_subclass": "the library's JSONTranscoder stores dict subclasses as dicts",
    "test_list_subclass": "the library's JSONTranscoder stores list subclasses as lists",
    "test_str_subclass": "the library's JSONTranscoder stores str subclasses as str",
    "test_int_subclass": "the library's JSONTranscoder stores int subclasses as int",
}


def with_case_types(transcoder: Any) -> Any:
    """The transcodings the library's cases expect registered."""
    transcoder.register(cases.CustomType1AsDict())
    transcoder.register(cases.CustomType2AsDict())
    transcoder.register(UUIDAsHex())
    return transcoder


def _ledger_transcoder(case: unittest.TestCase) -> Transcoder:
    """The transcoder a ``Ledger`` builds for its mapper (with the library's
    default transcodings), on an in-memory store."""
    ledger = Ledger("sqlite:///:memory:")
    case.addCleanup(ledger.close)
    transcoder = ledger.mapper.transcoder
    assert isinstance(transcoder, OrjsonTranscoder)  # the one under test, not a default
    return with_case_types(transcoder)


class TestLedgerTranscoder(cases.TranscoderTestCase):
    def construct_transcoder(self) -> Transcoder:
        return _ledger_transcoder(self)


for _name, _reason in LIBRARY_FAILS.items():
    setattr(TestLedgerTranscoder, _name, unittest.skip(_reason)(lambda self: None))


def _failures(construct: Callable[[unittest.TestCase], Transcoder]) -> tuple[set[str], int]:
    """The names of the library's transcoder cases failed by ``construct``'s transcoder."""

    class Run(cases.TranscoderTestCase):
        def construct_transcoder(self) -> Transcoder:
            return construct(self)

    result = unittest.TestResult()
    unittest.defaultTestLoader.loadTestsFromTestCase(Run).run(result)
    failed = {test.id().rsplit(".", 1)[1] for test, _ in result.failures + result.errors}
    return failed, result.testsRun


def test_skips_are_what_the_library_fails() -> None:
    """Every case, unskipped, on both transcoders: the ledger's fails no case
    the library's passes, and the skips above name exactly the library's failures."""
    library, ran = _failures(lambda case: with_case_types(JSONTranscoder()))
    ledger, ran_too = _failures(_ledger_transcoder)
    assert ran == ran_too > len(LIBRARY_FAILS)
    assert ledger <= library, f"fails cases the library passes: {sorted(ledger - library)}"
    assert library == set(LIBRARY_FAILS)


# ------------------------------------------------------------------ recorders


class LedgerStore:
    """A fresh database per test, on SQLite or (``postgres = True``) on the
    suite's PostgreSQL server, and the recorders the ledger builds on it."""

    postgres: ClassVar[bool] = False
    database_url: str

    @pytest.fixture(autouse=True)
    def _fresh_database(self, request: pytest.FixtureRequest, tmp_path: Any) -> None:
        if self.postgres:
            self.database_url = request.getfixturevalue("postgres_url_factory")()
        else:
            self.database_url = f"sqlite:///{tmp_path}/ledger.db"

    def ledger_recorder(self) -> Any:
        """The application recorder of a ``Ledger`` (append-only triggers installed)."""
        ledger = Ledger(self.database_url)
        self.close_after_case(ledger.close)
        expected = HookedPostgresApplicationRecorder if self.postgres else SQLiteApplicationRecorder
        assert isinstance(ledger.recorder, expected)
        assert self.triggers(ledger.recorder) >= self.append_only_triggers(ledger.recorder)
        return ledger.recorder

    def append_only_triggers(self, recorder: Any) -> set[str]:
        table = recorder.events_table_name
        if self.postgres:
            return {f"{table}_append_only", f"{table}_no_truncate"}
        return {f"{table}_no_update", f"{table}_no_delete"}

    def triggers(self, recorder: Any) -> set[str]:
        """The names of the triggers on the recorder's event table."""
        with recorder.datastore.transaction(commit=False) as cursor:
            if self.postgres:
                cursor.execute(
                    "SELECT tgname AS name FROM pg_trigger WHERE NOT tgisinternal "
                    "AND tgrelid = %s::regclass",
                    (recorder.events_table_name,),
                )
                return {row["name"] for row in cursor.fetchall()}
            cursor.execute(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?",
                (recorder.events_table_name,),
            )
            return {row[0] for row in cursor.fetchall()}

    def read_side_recorder(self) -> Any:
        """The tracking recorder of the read side's store."""
        store = build_store(parse_database_url(self.database_url), pool_size=4)
        self.close_after_case(store.close)
        expected = PostgresTrackingRecorder if self.postgres else SQLiteTrackingRecorder
        assert isinstance(store, expected)
        return store

    def close_after_case(self, close: Callable[[], None]) -> None:
        """Closes the store once the threads the case started have ended: the
        library's concurrent cases leave their readers to finish on their own,
        and closing an SQLite connection under a reader crashes the process."""
        ours = set(threading.enumerate())

        def after_case() -> None:
            for thread in set(threading.enumerate()) - ours:
                thread.join(timeout=10)
            close()

        self.addCleanup(after_case)  # type: ignore[attr-defined]


class TestSQLiteApplicationRecorder(LedgerStore, cases.ApplicationRecorderTestCase[Any]):
    def create_recorder(self) -> Any:
        return self.ledger_recorder()


IN_MEMORY_CONCURRENT = (
    "the library's own recorder fails it on a private ':memory:' database too (a second "
    "connection opens another, empty database); it runs it on a file (above) or a "
    "shared-cache database"
)


class TestSQLiteInMemoryApplicationRecorder(TestSQLiteApplicationRecorder):
    """``sqlite:///:memory:`` (one process, one connection), as the library's
    own in-memory case runs all but the concurrent cases."""

    def create_recorder(self) -> Any:
        self.database_url = "sqlite:///:memory:"
        return self.ledger_recorder()

    @unittest.skip(IN_MEMORY_CONCURRENT)
    def test_concurrent_no_conflicts(self, initial_position: int = 0) -> None: ...

    @unittest.skip(IN_MEMORY_CONCURRENT)
    def test_concurrent_throughput(self) -> None: ...


class TestSQLiteTrackingRecorder(LedgerStore, cases.TrackingRecorderTestCase):
    def create_recorder(self) -> Any:
        return self.read_side_recorder()


class TestSQLiteNonInterleavingNotificationIDs(
    LedgerStore, cases.NonInterleavingNotificationIDsBaseCase
):
    insert_num = 10000  # as the library's own SQLite case

    def create_recorder(self) -> Any:
        return self.ledger_recorder()


@pytest.mark.postgres
class TestPostgresApplicationRecorder(TestSQLiteApplicationRecorder):
    postgres = True

    def test_insert_subscribe(self) -> None:
        """Subscriptions (LISTEN/NOTIFY), which the library tests on PostgreSQL only."""
        self.optional_test_insert_subscribe()


@pytest.mark.postgres
class TestPostgresTrackingRecorder(TestSQLiteTrackingRecorder):
    postgres = True


@pytest.mark.postgres
class TestPostgresNonInterleavingNotificationIDs(TestSQLiteNonInterleavingNotificationIDs):
    postgres = True
    insert_num = 100  # as the library's own PostgreSQL case


class InsertingWithHooks:
    """The ledger's PostgreSQL recorder, every insert made as an inline
    projection makes it: with both hooks (ledger.recorder), which here only
    note that they ran. This path locks and inserts in the ledger's own code."""

    def __init__(self, recorder: HookedPostgresApplicationRecorder) -> None:
        self.recorder = recorder

    def __getattr__(self, name: str) -> Any:
        return getattr(self.recorder, name)

    def insert_events(self, stored_events: Any, **kwargs: Any) -> Any:
        ran: list[str] = []
        ids = self.recorder.insert_events(
            stored_events,
            before_insert=lambda cursor: ran.append("before"),
            after_insert=lambda cursor, ids: ran.append("after"),
            **kwargs,
        )
        if stored_events and ran != ["before", "after"]:
            msg = f"the insert ran the hooks {ran}, not before and after"
            raise AssertionError(msg)
        return ids


@pytest.mark.postgres
class TestPostgresApplicationRecorderWithHooks(TestPostgresApplicationRecorder):
    def create_recorder(self) -> Any:
        return InsertingWithHooks(self.ledger_recorder())


@pytest.mark.postgres
class TestPostgresNonInterleavingWithHooks(TestPostgresNonInterleavingNotificationIDs):
    def create_recorder(self) -> Any:
        return InsertingWithHooks(self.ledger_recorder())
