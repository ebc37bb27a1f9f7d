"""Settings that come from the environment, in one place: typed, with defaults, checked.

No other module reads `os.environ`. The variables are grouped by the part of the product that
needs them (`DatabaseSettings`, `PersonioSettings`, `SmtpSettings`, `SchedulerSettings`,
`DashboardSettings`); each group is read and checked on its own, so a bad scheduler variable
stops the scheduler at start without also stopping the dashboard or the CLI. Every accessor
reads the environment afresh: tests set variables per test, child processes inherit them.

An empty variable counts as unset. A value that cannot be used raises an `InvalidSetting` (a
`ReadableError` and a `ValueError`) whose message names the variable and says why, never the
value of a secret.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, TypeVar
from urllib.parse import urlsplit

from pydantic import AfterValidator, BeforeValidator, SecretStr, ValidationError, ValidationInfo
from pydantic_core import PydanticUseDefault
from pydantic_settings import BaseSettings, SettingsConfigDict

from sync.core.errors import NOT_CONFIGURED, ReadableError, SyncError

DEFAULT_DATABASE_URL = "sqlite:///data/app.db"
DEFAULT_PERSONIO_BASE_URL = "https://api.personio.de"
DEFAULT_PERSONIO_RETRY_BACKOFF_SECONDS = 1.0
DEFAULT_PERSONIO_HOST_RATE_LIMIT_PER_MINUTE = 1800  # under Personio's 2,000/min per source IP (v1)
DEFAULT_PERSONIO_MAX_PAGE_BYTES = 20_000_000
MAX_PERSONIO_RUN_DEADLINE_SECONDS = 30 * 60
DEFAULT_SMTP_RETRY_BASE_SECONDS = 30
DEFAULT_SMTP_RETRY_MAX_SECONDS = 30 * 60
DEFAULT_SCHEDULER_TICK_SECONDS = 5
DEFAULT_SCHEDULER_WORKERS = 4  # runs of different organizations one scheduler executes at once
MAX_SCHEDULER_WORKERS = 64
DEFAULT_LEASE_SECONDS = 30  # how long a claimed run may go without a renewal before it counts as dead
MAX_LEASE_RENEWAL_SECONDS = 5  # the lease keeper renews every min(lease / 3, this)
MIN_LEASE_SECONDS = 2
DEFAULT_RUN_DETAIL_RETENTION_DAYS = 180  # how long a run's change log and warnings are kept
DEFAULT_DASHBOARD_PORT = 8501
DEFAULT_WEBHOOK_PORT = 8502
DEFAULT_WEBHOOK_ADDRESS = "0.0.0.0"
DEFAULT_WEBHOOK_QUIET_SECONDS = 60  # a webhook run starts when no event came for this long...
DEFAULT_WEBHOOK_MAX_DELAY_SECONDS = 120  # ...or when the first waiting event is this old
DEFAULT_DASHBOARD_ADDRESS = "0.0.0.0"


class InvalidSetting(ReadableError, ValueError):
    """An environment setting cannot be used; the message names it and says why."""

    default_code = "invalid_setting"


class InvalidSchedulerSetting(InvalidSetting):
    """An environment setting of the scheduler cannot be used; the message says which and why."""


class InvalidWebhookSetting(InvalidSetting):
    """A PUBLIC_WEBHOOK_BASE_URL or WEBHOOK_* setting cannot be used; the message says which and why."""


class InvalidSmtpUrl(InvalidSetting):
    """SMTP_URL or SMTP_FROM cannot be used; the message says why and never shows a password."""


def _whole_seconds(minimum: int, error: type[InvalidSetting]) -> BeforeValidator:
    """Parses a whole number of seconds >= minimum; blank means the default. Raises `error`."""

    def parse(raw: object, info: ValidationInfo) -> int:
        name = str(info.field_name).upper()
        text = str(raw).strip()
        if not text:
            raise PydanticUseDefault()
        try:
            value = int(text)
        except ValueError:
            raise error(f"{name} must be a whole number of seconds, not {text!r}.") from None
        if value < minimum:
            raise error(f"{name} must be at least {minimum}, not {value}.")
        return value

    return BeforeValidator(parse)


def _whole_days(raw: object, info: ValidationInfo) -> int:
    """A whole number of days >= 1; blank means the default. Raises InvalidSchedulerSetting."""
    name = str(info.field_name).upper()
    text = str(raw).strip()
    if not text:
        raise PydanticUseDefault()
    try:
        value = int(text)
    except ValueError:
        raise InvalidSchedulerSetting(f"{name} must be a whole number of days, not {text!r}.") from None
    if value < 1:
        raise InvalidSchedulerSetting(f"{name} must be at least 1, not {value}.")
    return value


def _scheduler_workers(raw: object) -> int:
    """SCHEDULER_WORKERS: a whole number from 1 to MAX_SCHEDULER_WORKERS; blank means the default.
    Raises InvalidSchedulerSetting with a hint."""
    text = str(raw).strip()
    if not text:
        raise PydanticUseDefault()
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or not 1 <= value <= MAX_SCHEDULER_WORKERS:
        raise InvalidSchedulerSetting(
            f"SCHEDULER_WORKERS must be a whole number of runs at once, from 1 to {MAX_SCHEDULER_WORKERS} "
            f"(got {text!r}). Hint: set SCHEDULER_WORKERS to e.g. {DEFAULT_SCHEDULER_WORKERS}, "
            "or leave it unset for the default."
        )
    return value


def _backoff_seconds(raw: object) -> float:
    """PERSONIO_RETRY_BACKOFF_SECONDS: a number >= 0. Raises InvalidSetting."""
    text = str(raw).strip()
    try:
        value = float(text)
    except ValueError:
        raise InvalidSetting(
            f"PERSONIO_RETRY_BACKOFF_SECONDS must be a number of seconds, not {text!r}."
        ) from None
    if value < 0:
        raise InvalidSetting("PERSONIO_RETRY_BACKOFF_SECONDS must not be negative")
    return value


def _requests_per_minute(raw: object) -> int | None:
    """PERSONIO_RATE_LIMIT_PER_MINUTE: a whole number >= 0 (0: no pacing); blank means unset.

    Raises SyncError(not_configured): a run or a Test that meets it says so like any other failure.
    """
    if raw is None:  # the default
        return None
    text = str(raw).strip()
    if not text:
        raise PydanticUseDefault()
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise SyncError(
            NOT_CONFIGURED,
            f"PERSONIO_RATE_LIMIT_PER_MINUTE must be a whole number of requests per minute (got {text!r}).",
            "Set PERSONIO_RATE_LIMIT_PER_MINUTE to e.g. 290, or 0 to switch pacing off.",
        )
    return value


def _personio_whole_number(minimum: int, maximum: int | None, unit: str, example: str) -> BeforeValidator:
    """A whole number of `unit` in [minimum, maximum] for a PERSONIO_* variable; blank means the default.

    Raises SyncError(not_configured), like PERSONIO_RATE_LIMIT_PER_MINUTE: a run or a Test that
    meets it fails with the message and a hint instead of stopping the process.
    """

    def parse(raw: object, info: ValidationInfo) -> int | None:
        if raw is None:  # the default of an optional setting
            return None
        name = str(info.field_name).upper()
        text = str(raw).strip()
        if not text:
            raise PydanticUseDefault()
        value: int | None
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum or (maximum is not None and value > maximum):
            bounds = f"from {minimum} to {maximum}" if maximum is not None else f"at least {minimum}"
            raise SyncError(
                NOT_CONFIGURED,
                f"{name} must be a whole number of {unit}, {bounds} (got {text!r}).",
                f"Set {name} to e.g. {example}, or leave it unset for the default.",
            )
        return value

    return BeforeValidator(parse)


def _without_trailing_slash(url: str) -> str:
    return url.rstrip("/")


class Settings(BaseSettings):
    """The base of every group of settings: fields are read from the environment variable of the
    same name in capitals; empty variables count as unset; no `.env` file is read."""

    model_config = SettingsConfigDict(env_ignore_empty=True, extra="ignore", frozen=True)


class DatabaseSettings(Settings):
    """Where the data lives and the key that encrypts secrets at rest."""

    database_url: str = DEFAULT_DATABASE_URL
    data_dir: Path = Path("data")  # the key file (and the default SQLite file) go here
    app_secret_key: SecretStr | None = None  # else a key file under data_dir


class PersonioSettings(Settings):
    """How the product talks to Personio."""

    personio_base_url: Annotated[str, AfterValidator(_without_trailing_slash)] = DEFAULT_PERSONIO_BASE_URL
    # The base of the exponential back-off between retries.
    personio_retry_backoff_seconds: Annotated[float, BeforeValidator(_backoff_seconds)] = (
        DEFAULT_PERSONIO_RETRY_BACKOFF_SECONDS
    )
    # Read only by `python -m sync config` (instead of the secret on the command line, seen in ps).
    personio_client_secret: SecretStr | None = None
    # Comma-separated origins the product may talk to besides https://api.personio.de
    # (`http://127.0.0.1:*` allows every port of a local sandbox).
    personio_allowed_base_urls: str = ""
    # None: the client's own pacing (290/min, 14/s); 0: no pacing.
    personio_rate_limit_per_minute: Annotated[int | None, BeforeValidator(_requests_per_minute)] = None
    # All requests of this process to one Personio host together, per sliding minute; 0: no ceiling.
    personio_host_rate_limit_per_minute: Annotated[
        int, _personio_whole_number(0, None, "requests per minute", "1800")
    ] = DEFAULT_PERSONIO_HOST_RATE_LIMIT_PER_MINUTE
    # The longest fetch of one run or Test; None: derived from the company's size and the pacing.
    personio_run_deadline_seconds: Annotated[
        int | None, _personio_whole_number(1, MAX_PERSONIO_RUN_DEADLINE_SECONDS, "seconds", "600")
    ] = None
    # The largest answer (one page of employees) read from Personio.
    personio_max_page_bytes: Annotated[int, _personio_whole_number(1000, None, "bytes", "20000000")] = (
        DEFAULT_PERSONIO_MAX_PAGE_BYTES
    )


class SmtpSettings(Settings):
    """Where email goes; `smtp_url` may hold a password, so it is a SecretStr. None: email is off."""

    smtp_url: SecretStr | None = None
    smtp_from: str | None = None
    smtp_retry_base_seconds: Annotated[int, _whole_seconds(1, InvalidSmtpUrl)] = (
        DEFAULT_SMTP_RETRY_BASE_SECONDS
    )
    smtp_retry_max_seconds: Annotated[int, _whole_seconds(1, InvalidSmtpUrl)] = DEFAULT_SMTP_RETRY_MAX_SECONDS


class SchedulerSettings(Settings):
    """How often the scheduler ticks, how long it reserves a run it claimed, how many runs it
    executes at once, and how long it keeps
    the details (change log, warnings) of finished runs; the runs and their counts stay for ever."""

    scheduler_tick_seconds: Annotated[int, _whole_seconds(1, InvalidSchedulerSetting)] = (
        DEFAULT_SCHEDULER_TICK_SECONDS
    )
    scheduler_lease_seconds: Annotated[int, _whole_seconds(MIN_LEASE_SECONDS, InvalidSchedulerSetting)] = (
        DEFAULT_LEASE_SECONDS
    )
    # Runs of different organizations executed at once, each in a thread of its own.
    scheduler_workers: Annotated[int, BeforeValidator(_scheduler_workers)] = DEFAULT_SCHEDULER_WORKERS
    run_detail_retention_days: Annotated[int, BeforeValidator(_whole_days)] = (
        DEFAULT_RUN_DETAIL_RETENTION_DAYS
    )


class DashboardSettings(Settings):
    """Where `make run` lets the dashboard listen (its --port / --address defaults)."""

    dashboard_port: int = DEFAULT_DASHBOARD_PORT
    dashboard_address: str = DEFAULT_DASHBOARD_ADDRESS


LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def _public_base_url(raw: object) -> str | None:
    if raw is None:
        return None
    url = str(raw).strip().rstrip("/")
    parts = urlsplit(url)
    if (
        parts.scheme not in ("https", "http")
        or not parts.hostname
        or parts.username is not None
        or parts.query
        or parts.fragment
    ):
        raise InvalidWebhookSetting(
            "PUBLIC_WEBHOOK_BASE_URL must be an absolute URL such as https://sync.example.com "
            "(no user name, query or fragment)."
        )
    if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
        # Personio sends the organization's token in every delivery: never in the clear.
        raise InvalidWebhookSetting(
            "PUBLIC_WEBHOOK_BASE_URL must use https:// (plain http only on loopback, for a sandbox)."
        )
    return url


class WebhookSettings(Settings):
    """Near-real-time updates: where Personio reaches the receiver (`python -m sync.webhooks`) and
    how the scheduler debounces the events into runs."""

    # The receiver's public address, as Personio sees it (https in production); None: the switch
    # cannot be turned on. The organization's path /personio/webhooks/{id} is appended.
    public_webhook_base_url: Annotated[str | None, BeforeValidator(_public_base_url)] = None
    webhook_port: int = DEFAULT_WEBHOOK_PORT
    webhook_address: str = DEFAULT_WEBHOOK_ADDRESS
    webhook_quiet_seconds: Annotated[int, _whole_seconds(0, InvalidWebhookSetting)] = (
        DEFAULT_WEBHOOK_QUIET_SECONDS
    )
    webhook_max_delay_seconds: Annotated[int, _whole_seconds(0, InvalidWebhookSetting)] = (
        DEFAULT_WEBHOOK_MAX_DELAY_SECONDS
    )


_S = TypeVar("_S", bound=Settings)


def read(group: type[_S]) -> _S:
    """The settings of `group`, read from the environment now.

    Raises the group's InvalidSetting subclass (or SyncError for PERSONIO_RATE_LIMIT_PER_MINUTE and
    the other whole-number PERSONIO_* limits)
    for a value that cannot be used; the message never holds the value of a secret.
    """
    try:
        return group()
    except ValidationError as exc:
        first = exc.errors()[0]
        cause = first.get("ctx", {}).get("error")
        if isinstance(cause, ReadableError):
            raise cause from None
        # A type pydantic checks itself (e.g. DASHBOARD_PORT): its message, never the input.
        name = str(first["loc"][0]).upper() if first["loc"] else group.__name__
        raise InvalidSetting(f"{name} cannot be used: {first['msg']}.") from None


def database_url() -> str:
    """DATABASE_URL, else sqlite:///data/app.db."""
    return read(DatabaseSettings).database_url


def allowed_personio_origins() -> tuple[str, ...]:
    """Where a Personio secret may go: Personio, the default address of new integrations
    (PERSONIO_BASE_URL) and the origins listed in PERSONIO_ALLOWED_BASE_URLS."""
    personio = read(PersonioSettings)
    listed = [entry.strip() for entry in personio.personio_allowed_base_urls.split(",") if entry.strip()]
    return (DEFAULT_PERSONIO_BASE_URL, personio.personio_base_url, *listed)


def personio_base_url() -> str:
    """PERSONIO_BASE_URL without a trailing slash, else https://api.personio.de."""
    return read(PersonioSettings).personio_base_url
