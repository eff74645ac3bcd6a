"""The settings the contract names for field service and webhooks
(api-contract.md, "Field service" and "Webhooks"): their environment variables
and their defaults, which operators and other teams rely on by name."""

from __future__ import annotations

import pytest

from api.settings import Settings
from api.webhook_service import delivery_config

NAMED = ("LEDGER_REPEAT_FAULT_WINDOW_DAYS", "LEDGER_REPEAT_FAULT_THRESHOLDS", "LEDGER_TICKET_SLA",
         "LEDGER_WEBHOOK_MAX_FAILURES", "LEDGER_WEBHOOK_ALLOW_PRIVATE",
         "LEDGER_WEBHOOK_CONNECT_TIMEOUT", "LEDGER_WEBHOOK_REQUEST_TIMEOUT")


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in NAMED:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_the_contracts_defaults(clean_env: pytest.MonkeyPatch) -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.repeat_fault_window_days == 30
    assert settings.repeat_fault_thresholds == "pole=3,pon=5,zone=10,dr=3"
    hour = 3600.0
    assert settings.ticket_targets == {"critical": 4 * hour, "high": 8 * hour,
                                       "medium": 24 * hour, "low": 72 * hour}
    config = delivery_config(settings)
    assert (config.max_failures, config.allow_private) == (50, False)
    # The timeouts: 5 s to connect, 10 s for the whole request.
    assert (config.connect_timeout, config.request_timeout) == (5.0, 10.0)


def test_the_contracts_environment_variables(clean_env: pytest.MonkeyPatch) -> None:
    for name, value in (("LEDGER_REPEAT_FAULT_WINDOW_DAYS", "7"),
                        ("LEDGER_REPEAT_FAULT_THRESHOLDS", "pole=2"),
                        ("LEDGER_TICKET_SLA", "critical=1h"),
                        ("LEDGER_WEBHOOK_MAX_FAILURES", "3"),
                        ("LEDGER_WEBHOOK_ALLOW_PRIVATE", "true")):
        clean_env.setenv(name, value)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.repeat_fault_window_days == 7
    assert settings.repeat_fault_thresholds == "pole=2"
    assert settings.ticket_targets["critical"] == 3600.0
    assert settings.ticket_targets["low"] == 72 * 3600.0  # left out: the default
    config = delivery_config(settings)
    assert (config.max_failures, config.allow_private) == (3, True)
