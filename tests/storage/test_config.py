"""Settings from the environment (storage/config.py): defaults, blanks, and plain refusals."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from storage.config import (
    DashboardSettings,
    DatabaseSettings,
    InvalidSchedulerSetting,
    InvalidSetting,
    InvalidSmtpUrl,
    InvalidWebhookSetting,
    PersonioSettings,
    SchedulerSettings,
    SmtpSettings,
    WebhookSettings,
    personio_base_url,
    read,
)
from storage.models import Integration
from storage.secrets import SecretBox
from sync.core.errors import NOT_CONFIGURED, ReadableError, SyncError
from sync.core.settings import SyncSettings
from sync.integration.source import fetch_source
from sync.personio.client import FetchResult
from sync.personio.pacing import RateLimit, rate_limit_per_minute


def set_env(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)


def test_unset_or_empty_variables_mean_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATABASE_URL", "DATA_DIR", "SCHEDULER_TICK_SECONDS", "DASHBOARD_PORT"):
        monkeypatch.setenv(name, "")
    assert read(DatabaseSettings).database_url == "sqlite:///data/app.db"
    assert read(DatabaseSettings).data_dir == Path("data")
    assert read(SchedulerSettings).scheduler_tick_seconds == 5
    assert read(SchedulerSettings).scheduler_lease_seconds == 30
    assert (read(DashboardSettings).dashboard_port, read(DashboardSettings).dashboard_address) == (
        8501,
        "0.0.0.0",
    )
    assert personio_base_url() == "https://api.personio.de"


def test_each_read_sees_the_environment_as_it_is_now(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PERSONIO_BASE_URL", "http://127.0.0.1:9/")
    assert personio_base_url() == "http://127.0.0.1:9"
    monkeypatch.setenv("PERSONIO_BASE_URL", "http://127.0.0.1:10")
    assert personio_base_url() == "http://127.0.0.1:10"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, RateLimit(per_minute=290, per_second=14)),
        ({"PERSONIO_RATE_LIMIT_PER_MINUTE": ""}, RateLimit(per_minute=290, per_second=14)),
        ({"PERSONIO_RATE_LIMIT_PER_MINUTE": "0"}, None),
        ({"PERSONIO_RATE_LIMIT_PER_MINUTE": "120"}, RateLimit(per_minute=120, per_second=14)),
        ({"PERSONIO_RATE_LIMIT_PER_MINUTE": "5"}, RateLimit(per_minute=5, per_second=5)),
    ],
)
def test_rate_limit_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: RateLimit | None
) -> None:
    monkeypatch.delenv("PERSONIO_RATE_LIMIT_PER_MINUTE", raising=False)
    set_env(monkeypatch, env)
    assert rate_limit_per_minute(read(PersonioSettings).personio_rate_limit_per_minute) == expected


@pytest.mark.parametrize("raw", ["many", "-3", "1.5"])
def test_rate_limit_environment_refuses_nonsense_loudly(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("PERSONIO_RATE_LIMIT_PER_MINUTE", raw)
    with pytest.raises(SyncError) as caught:
        read(PersonioSettings)
    assert caught.value.code == NOT_CONFIGURED
    assert "PERSONIO_RATE_LIMIT_PER_MINUTE" in caught.value.message


def test_personio_settings_reach_the_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PERSONIO_RATE_LIMIT_PER_MINUTE", "0")
    monkeypatch.setenv("PERSONIO_RETRY_BACKOFF_SECONDS", "0.01")
    seen: dict[str, Any] = {}

    class FakeClient:
        def __init__(self, **kwargs: Any) -> None:
            seen.update(kwargs)

        def __enter__(self) -> FakeClient:
            return self

        def __exit__(self, *_exc: object) -> None:
            return None

        def fetch_employees(self, **kwargs: Any) -> FetchResult:
            seen["stop"] = kwargs.get("stop")
            return FetchResult([], [], frozenset(), pages=1, requests=1, auth_calls=1)

    integration = Integration(
        org_id=1, client_id="papi-id", client_secret_encrypted=SecretBox().encrypt("papi-secret")
    )
    fetch_source(integration, SyncSettings(), on_progress=None, client_factory=FakeClient)
    assert (seen["rate_limit"], seen["backoff_base"]) == (None, 0.01)
    # the deadlines and caps: their defaults, then as set
    assert seen["host_rate_limit"] == RateLimit(per_minute=1800, per_second=1800)
    assert (seen["run_deadline"], seen["max_page_bytes"], seen["known_employees"]) == (None, 20_000_000, None)
    monkeypatch.setenv("PERSONIO_HOST_RATE_LIMIT_PER_MINUTE", "0")
    monkeypatch.setenv("PERSONIO_RUN_DEADLINE_SECONDS", "600")
    monkeypatch.setenv("PERSONIO_MAX_PAGE_BYTES", "5000000")
    stop = threading.Event()
    fetch_source(
        integration,
        SyncSettings(),
        on_progress=None,
        client_factory=FakeClient,
        known_employees=40,
        stop=stop,
    )
    assert (seen["host_rate_limit"], seen["run_deadline"], seen["max_page_bytes"]) == (None, 600, 5_000_000)
    assert seen["known_employees"] == 40 and seen["stop"] is stop


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("PERSONIO_RUN_DEADLINE_SECONDS", "0"),
        ("PERSONIO_RUN_DEADLINE_SECONDS", "1801"),  # never more than 30 minutes
        ("PERSONIO_RUN_DEADLINE_SECONDS", "soon"),
        ("PERSONIO_MAX_PAGE_BYTES", "20MB"),
        ("PERSONIO_MAX_PAGE_BYTES", "10"),
        ("PERSONIO_HOST_RATE_LIMIT_PER_MINUTE", "-1"),
    ],
)
def test_unusable_personio_limits_are_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, raw: str
) -> None:
    monkeypatch.setenv(name, raw)
    with pytest.raises(SyncError) as caught:
        read(PersonioSettings)
    assert caught.value.code == NOT_CONFIGURED
    assert name in caught.value.message and repr(raw) in caught.value.message
    assert name in caught.value.hint


@pytest.mark.parametrize(
    ("raw", "complaint"),
    [("-1", "PERSONIO_RETRY_BACKOFF_SECONDS must not be negative"), ("soon", "must be a number of seconds")],
)
def test_an_unusable_backoff_is_refused(monkeypatch: pytest.MonkeyPatch, raw: str, complaint: str) -> None:
    monkeypatch.setenv("PERSONIO_RETRY_BACKOFF_SECONDS", raw)
    with pytest.raises(InvalidSetting, match=complaint):
        read(PersonioSettings)


@pytest.mark.parametrize(
    ("env", "error", "message"),
    [
        (
            {"SCHEDULER_TICK_SECONDS": "0"},
            InvalidSchedulerSetting,
            "SCHEDULER_TICK_SECONDS must be at least 1, not 0.",
        ),
        (
            {"SCHEDULER_LEASE_SECONDS": " soon "},
            InvalidSchedulerSetting,
            "SCHEDULER_LEASE_SECONDS must be a whole number of seconds, not 'soon'.",
        ),
        (
            {"SCHEDULER_LEASE_SECONDS": "1"},
            InvalidSchedulerSetting,
            "SCHEDULER_LEASE_SECONDS must be at least 2, not 1.",
        ),
        (
            {"SMTP_RETRY_MAX_SECONDS": "later"},
            InvalidSmtpUrl,
            "SMTP_RETRY_MAX_SECONDS must be a whole number of seconds, not 'later'.",
        ),
    ],
)
def test_unusable_seconds_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], error: type[InvalidSetting], message: str
) -> None:
    set_env(monkeypatch, env)
    group = SmtpSettings if "SMTP_RETRY_MAX_SECONDS" in env else SchedulerSettings
    with pytest.raises(error) as caught:
        read(group)
    assert str(caught.value) == message
    assert isinstance(caught.value, ReadableError) and isinstance(caught.value, ValueError)


def test_a_type_pydantic_checks_names_the_variable_but_not_the_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DASHBOARD_PORT", "port-s3cret")
    with pytest.raises(InvalidSetting, match="DASHBOARD_PORT") as caught:
        read(DashboardSettings)
    assert "s3cret" not in str(caught.value)


def test_secrets_never_show_in_a_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMTP_URL", "smtp://user:s3cret@mail.example:25")
    monkeypatch.setenv("APP_SECRET_KEY", "key-s3cret")
    assert "s3cret" not in repr(read(SmtpSettings)) + repr(read(DatabaseSettings))


def test_a_bad_scheduler_variable_does_not_stop_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCHEDULER_TICK_SECONDS", "never")
    assert read(DatabaseSettings).database_url.startswith("sqlite:///")
    assert personio_base_url() == "https://api.personio.de"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://sync.example.com/", "https://sync.example.com"),
        ("https://sync.example.com:8443/hooks", "https://sync.example.com:8443/hooks"),
        ("http://127.0.0.1:8502", "http://127.0.0.1:8502"),
        ("http://localhost:8502/", "http://localhost:8502"),
    ],
)
def test_the_public_webhook_address_is_https_or_loopback(
    monkeypatch: pytest.MonkeyPatch, raw: str, expected: str
) -> None:
    monkeypatch.setenv("PUBLIC_WEBHOOK_BASE_URL", raw)
    assert read(WebhookSettings).public_webhook_base_url == expected


@pytest.mark.parametrize(
    ("raw", "complaint"),
    [
        ("http://sync.example.com", "must use https://"),  # Personio's token would travel in the clear
        ("https://user:pw@sync.example.com", "no user name"),
        ("https://sync.example.com/?x=1", "no user name, query or fragment"),
        ("sync.example.com", "absolute URL"),
        ("ftp://sync.example.com", "absolute URL"),
    ],
)
def test_an_unusable_public_webhook_address_is_refused(
    monkeypatch: pytest.MonkeyPatch, raw: str, complaint: str
) -> None:
    monkeypatch.setenv("PUBLIC_WEBHOOK_BASE_URL", raw)
    with pytest.raises(InvalidWebhookSetting, match=complaint) as caught:
        read(WebhookSettings)
    assert "pw" not in str(caught.value)
