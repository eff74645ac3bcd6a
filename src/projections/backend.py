"""The read store for the configured backend, built on eventsourcing's factory."""

from __future__ import annotations

from eventsourcing.persistence import InfrastructureFactory
from eventsourcing.utils import Environment

from ledger.store import StoreConfig
from projections.postgres_store import PostgresReadStore
from projections.sqlite_store import SQLiteReadStore
from projections.store import ReadStore


def build_store(config: StoreConfig, pool_size: int = 10) -> ReadStore:
    """The read store (tables, positions, catalog) beside the configured event store."""
    env = Environment("projections", config.eventsourcing_env(pool_size=pool_size))
    factory = InfrastructureFactory.construct(env)
    store_class = PostgresReadStore if config.is_postgres else SQLiteReadStore
    store: ReadStore = factory.tracking_recorder(store_class)
    store.setup()
    return store
