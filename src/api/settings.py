"""Settings, read from ``LEDGER_*`` environment variables (and a ``.env`` file)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from ledger.store import DEFAULT_DATABASE_URL


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LEDGER_", env_file=".env", extra="ignore")

    database_url: str = Field(
        DEFAULT_DATABASE_URL,
        description="sqlite:///path/to/file.db (default, under the working directory) "
        "or postgresql://user:pass@host:port/db",
    )
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    pool_size: int = Field(10, ge=1, le=200, description="Connections per pool.")
    page_size: int = Field(
        5000, ge=1, le=100_000, description="Events per page when projections catch up."
    )
    read_your_writes_timeout: float = Field(
        2.0, ge=0, le=60, description="Seconds a command response waits for the read tables."
    )
    min_position_timeout: float = Field(
        2.0, ge=0, le=60, description="Seconds a query with min_position waits at most."
    )
    admin_token: str | None = Field(
        None,
        description="LEDGER_ADMIN_TOKEN: when set, accepted as an admin API key. "
        "Compared in constant time; keep it long and random.",
    )
    actor: str = Field(
        "admin",
        description="The principal name of LEDGER_ADMIN_TOKEN (recorded as the actor of "
        "the events it causes).",
    )
    auth_cache_seconds: float = Field(
        5.0, ge=0, le=30,
        description="Seconds a successful key lookup is cached: a revoked key stops "
        "working within this bound.",
    )
    bootstrap_admin_key: bool = Field(
        False,
        description="On start, when no API key was ever created and no admin_token is "
        "set, create an admin key and announce its token (`ledger serve` does).",
    )
    idempotency_wait_seconds: float = Field(
        5.0, ge=0, le=60,
        description="Seconds a request waits for a concurrent one with the same "
        "Idempotency-Key before answering 409.",
    )
    demo_on_empty: bool = Field(
        False, description="Seed demo engineers and tickets when the ledger is empty."
    )
    demo_tickets: int = Field(25, ge=0, le=10_000)
    run_projections: bool = Field(
        True, description="Run the projection runner inside this process."
    )
    max_body_bytes: int = Field(1_000_000, ge=1024)
    signing_key: str | None = Field(
        None,
        description="LEDGER_SIGNING_KEY: path of the Ed25519 private key (PEM) that signs "
        "checkpoints; generated on first start if absent. Default: beside an SQLite "
        "database (<file>.signing-key.pem), else ./ledger-signing-key.pem.",
    )
    checkpoint_every: int = Field(
        1000, ge=1, le=1_000_000, description="Seal a signed checkpoint every N events."
    )
    checkpoint_interval: float = Field(
        60.0, gt=0, le=3600,
        description="Seconds after which unsealed events are sealed anyway.",
    )
    run_sealer: bool = Field(
        True, description="Seal checkpoints in this process (one process of all leads)."
    )

    def signing_key_path(self) -> str:
        if self.signing_key:
            return self.signing_key
        from ledger.store import parse_database_url

        config = parse_database_url(self.database_url)
        path = config.sqlite_path
        if not config.is_postgres and path and path != ":memory:" and "mode=memory" not in path:
            return f"{path}.signing-key.pem"
        return "ledger-signing-key.pem"
