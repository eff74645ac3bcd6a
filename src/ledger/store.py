"""One setting chooses the store: ``sqlite:///path`` or ``postgresql://…``.

The URL is mapped onto eventsourcing's own SQLite and PostgreSQL recorders
through the environment keys they read; tables are created on first start.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

DEFAULT_DATABASE_URL = "sqlite:///ledger.db"


class DatabaseURLError(ValueError):
    """Raised when LEDGER_DATABASE_URL is neither sqlite:/// nor postgresql://."""


@dataclass(frozen=True)
class StoreConfig:
    """A parsed database URL."""

    backend: str  # "sqlite" | "postgres"
    url: str
    sqlite_path: str = ""
    host: str = ""
    port: int = 5432
    user: str = ""
    password: str = ""
    dbname: str = ""

    @property
    def is_postgres(self) -> bool:
        return self.backend == "postgres"

    @property
    def in_memory(self) -> bool:
        """An SQLite database in memory: one process only, nothing beside it on disk."""
        path = self.sqlite_path
        return not self.is_postgres and (
            not path or path == ":memory:" or "mode=memory" in path
        )

    def conninfo(self) -> str:
        """A libpq connection string (PostgreSQL only)."""
        from psycopg.conninfo import make_conninfo

        return make_conninfo(
            host=self.host, port=self.port, user=self.user,
            password=self.password, dbname=self.dbname,
        )

    def eventsourcing_env(self, pool_size: int = 10) -> dict[str, str]:
        if self.backend == "sqlite":
            return {
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": self.sqlite_path,
                "SQLITE_LOCK_TIMEOUT": "10",
            }
        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": self.dbname,
            "POSTGRES_HOST": self.host,
            "POSTGRES_PORT": str(self.port),
            "POSTGRES_USER": self.user,
            "POSTGRES_PASSWORD": self.password,
            "POSTGRES_POOL_SIZE": str(pool_size),
            "POSTGRES_MAX_OVERFLOW": str(pool_size),
            "POSTGRES_CONNECT_TIMEOUT": "2",
            "POSTGRES_LOCK_TIMEOUT": "5",
            # eventsourcing's recorder with a hook in its insert transaction
            # (ledger.adapter; used for inline projections).
            "APPLICATION_RECORDER_TOPIC": "ledger.adapter:HookedPostgresApplicationRecorder",
        }


def parse_database_url(url: str) -> StoreConfig:
    parts = urlsplit(url)
    scheme = parts.scheme.split("+", 1)[0]
    if scheme == "sqlite":
        # sqlite:///relative.db, sqlite:////absolute/path.db
        raw = url.split("://", 1)[1]
        path = raw[1:] if raw.startswith("/") else raw
        if not path:
            msg = f"No file in SQLite URL {url!r}; use sqlite:///path/to/file.db"
            raise DatabaseURLError(msg)
        if path != ":memory:":
            path = str(Path(path).expanduser().resolve())
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        return StoreConfig(backend="sqlite", url=url, sqlite_path=path)
    if scheme in ("postgresql", "postgres"):
        dbname = unquote(parts.path.lstrip("/"))
        if not dbname:
            msg = f"No database name in {url!r}"
            raise DatabaseURLError(msg)
        return StoreConfig(
            backend="postgres",
            url=url,
            host=parts.hostname or "localhost",
            port=parts.port or 5432,
            user=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
            dbname=dbname,
        )
    msg = f"Unsupported database URL {url!r}: use sqlite:///… or postgresql://…"
    raise DatabaseURLError(msg)
