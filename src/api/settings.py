"""Settings, read from ``LEDGER_*`` environment variables (and a ``.env`` file)."""

from __future__ import annotations

from datetime import timedelta
from functools import cached_property
from typing import Literal

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ledger.domain import PRIORITIES
from ledger.repeat_policy import parse_thresholds
from ledger.store import DEFAULT_DATABASE_URL
from projections.ticket_sla import DEFAULT_TICKET_SLA, parse_ticket_sla


class SlaTarget(BaseModel):
    """Targets of one priority at one tier: seconds (a number), ISO 8601 ("PT4H")
    or "HH:MM:SS"."""

    accept: timedelta = Field(description="Time to accept an assignment.")
    resolve: timedelta = Field(description="Time to complete an assignment.")

    @field_validator("accept", "resolve")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value.total_seconds() <= 0:
            raise ValueError("an SLA target must be longer than 0 seconds")
        return value


def _t(accept_minutes: int, resolve_hours: int) -> SlaTarget:
    return SlaTarget(accept=timedelta(minutes=accept_minutes),
                     resolve=timedelta(hours=resolve_hours))


#: priority -> first tier of a band -> targets; a tier above the last one listed
#: uses the last one's targets (docs/operations.md, "SLA per tier").
DEFAULT_SLA_TARGETS: dict[str, dict[int, SlaTarget]] = {
    "critical": {1: _t(15, 4), 2: _t(30, 8), 3: _t(60, 24)},
    "high": {1: _t(30, 8), 2: _t(60, 24), 3: _t(120, 48)},
    "medium": {1: _t(120, 24), 2: _t(240, 48), 3: _t(480, 72)},
    "low": {1: _t(480, 72), 2: _t(1440, 120), 3: _t(2880, 168)},
}


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
    qualification_policy: Literal["warn", "enforce"] = Field(
        "warn", description="What a manual assign, escalate or reassign does with an engineer "
        "who does not qualify for the ticket: warn records it with qualification_warnings; "
        "enforce refuses (409 engineer-not-qualified) unless the body has override_reason.",
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
    read_database_url: str | None = Field(
        None,
        description="LEDGER_READ_DATABASE_URL: a PostgreSQL streaming replica of the "
        "database; GET requests read the read tables from it (the primary when it is down "
        "or lags behind a request's min_position).",
    )
    read_replica_wait: float = Field(
        0.5, ge=0, le=60,
        description="Seconds a query with min_position waits for the replica to reach it "
        "before it reads from the primary instead.",
    )
    projection_plugins: str = Field(
        "",
        description="LEDGER_PROJECTION_PLUGINS: comma-separated module:Class of extra "
        "projections (Projection subclasses) the read side maintains beside its own.",
    )
    api_only: bool = Field(
        False,
        description="Serve HTTP only (`ledger serve --api-only`): no background job runs "
        "here (projection runner, checkpoint sealer, ...); `ledger worker` processes run "
        "them. The read side still follows the log for read-your-writes.",
    )
    inline_projections: bool = Field(
        True,
        description="PostgreSQL: every serving process writes the read rows of its own "
        "commands in the commands' transactions (one commit instead of two).",
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
    previous_public_keys: str = Field(
        "",
        description="LEDGER_PREVIOUS_PUBLIC_KEYS: comma-separated hex Ed25519 public keys "
        "of signing keys rotated out, so checkpoints they signed still verify.",
    )
    run_sealer: bool = Field(
        True, description="Seal checkpoints in this process (one process of all leads)."
    )
    # Webhooks (docs/webhooks.md).
    run_webhooks: bool = Field(
        True, description="Deliver webhooks from this process (one process of all leads).")
    webhook_allow_private: bool = Field(
        False, description="Allow webhook targets in loopback, private and link-local ranges.")
    webhook_max_failures: int = Field(
        50, ge=1, le=100_000, description="Failed attempts in a row that deactivate an endpoint.")
    webhook_retry_base: float = Field(
        1.0, gt=0, le=3600, description="Seconds before the first retry; doubles each time.")
    webhook_retry_max: float = Field(
        3600.0, gt=0, le=86_400, description="Longest wait between two attempts (seconds).")
    webhook_connect_timeout: float = Field(5.0, gt=0, le=60, description="Seconds to connect.")
    webhook_request_timeout: float = Field(
        10.0, gt=0, le=300, description="Seconds an attempt may take in all.")
    webhook_log_days: float = Field(
        7.0, gt=0, le=3650, description="Days the delivery log keeps an attempt.")

    repeat_fault_window_days: float = Field(
        30, gt=0, le=3650,
        description="LEDGER_REPEAT_FAULT_WINDOW_DAYS: tickets opened at one place within "
        "this many days count toward a repeat fault.",
    )
    repeat_fault_thresholds: str = Field(
        "pole=3,pon=5,zone=10,dr=3",
        description="LEDGER_REPEAT_FAULT_THRESHOLDS: tickets per scope that raise a repeat "
        "fault; scopes left out keep these defaults. Every process must agree.",
    )
    run_repeat_faults: bool = Field(
        True, description="Run the repeat-fault policy in this process (one process of all "
        "leads; needs run_projections).",
    )

    @field_validator("repeat_fault_thresholds")
    @classmethod
    def _repeat_fault_thresholds(cls, value: str) -> str:
        parse_thresholds(value)  # refuses a malformed one at start
        return value

    def signing_key_path(self) -> str:
        if self.signing_key:
            return self.signing_key
        from ledger.store import parse_database_url

        config = parse_database_url(self.database_url)
        if not config.is_postgres and not config.in_memory:
            return f"{config.sqlite_path}.signing-key.pem"
        return "ledger-signing-key.pem"
    sla_targets: dict[str, dict[int, SlaTarget]] = Field(
        default_factory=lambda: dict(DEFAULT_SLA_TARGETS),
        description="LEDGER_SLA_TARGETS, JSON: {priority: {tier: {accept, resolve}}}. "
        "Priorities given replace the defaults of that priority; each needs tier 1.",
    )

    @field_validator("read_database_url")
    @classmethod
    def _read_database_url(cls, value: str | None) -> str | None:
        if value and not value.split(":", 1)[0].startswith("postgres"):
            raise ValueError("LEDGER_READ_DATABASE_URL names a PostgreSQL streaming replica "
                             "(postgresql://...)")
        return value or None

    @field_validator("sla_targets")
    @classmethod
    def _sla_targets(cls, value: dict[str, dict[int, SlaTarget]]) -> dict[str, dict[int, SlaTarget]]:
        unknown = sorted(set(value) - set(PRIORITIES))
        if unknown:
            raise ValueError(f"unknown priorities {unknown}; use {list(PRIORITIES)}")
        for priority, tiers in value.items():
            if 1 not in tiers or min(tiers) < 1:
                raise ValueError(f"{priority}: tiers start at 1 (tier 1 is required)")
        return {**DEFAULT_SLA_TARGETS, **value}

    ticket_sla: str = Field(
        DEFAULT_TICKET_SLA,
        description="LEDGER_TICKET_SLA: each ticket's time to resolve by priority, e.g. "
        f"{DEFAULT_TICKET_SLA!r} (units s, m, h, d); a ticket's due_at overrides it. "
        "Priorities left out keep these defaults.",
    )

    @field_validator("ticket_sla")
    @classmethod
    def _ticket_sla(cls, value: str) -> str:
        parse_ticket_sla(value)
        return value

    @cached_property
    def ticket_targets(self) -> dict[str, float]:
        """priority -> seconds from opening to ``resolve_by`` (docs/field-service.md);
        read on every ticket answer, so parsed once."""
        return parse_ticket_sla(self.ticket_sla)

    def sla_table(self) -> dict[str, list[tuple[int, float, float]]]:
        """priority -> [(first tier of the band, accept s, resolve s)] by tier."""
        return {
            priority: [(tier, t.accept.total_seconds(), t.resolve.total_seconds())
                       for tier, t in sorted(tiers.items())]
            for priority, tiers in self.sla_targets.items()
        }
