"""Settings that come from the environment, in one place."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_DATABASE_URL = "sqlite:///data/app.db"
DEFAULT_PERSONIO_BASE_URL = "https://api.personio.de"


def database_url() -> str:
    return os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL


def data_dir() -> Path:
    """Folder for the key file (and the default SQLite file): DATA_DIR or ./data."""
    return Path(os.environ.get("DATA_DIR") or "data")


def personio_base_url() -> str:
    return (os.environ.get("PERSONIO_BASE_URL") or DEFAULT_PERSONIO_BASE_URL).rstrip("/")


def personio_retry_backoff_seconds() -> float:
    """Base of the exponential backoff between retries to Personio (PERSONIO_RETRY_BACKOFF_SECONDS)."""
    value = float(os.environ.get("PERSONIO_RETRY_BACKOFF_SECONDS") or 1.0)
    if value < 0:
        raise ValueError("PERSONIO_RETRY_BACKOFF_SECONDS must not be negative")
    return value


class InvalidSetting(ValueError):
    """An environment setting cannot be used; the message names it and says why."""


def whole_seconds(
    name: str, default: int, *, minimum: int = 1, error: type[ValueError] = InvalidSetting
) -> int:
    """A number of seconds from environment variable `name` (unset or empty: `default`).

    Raises `error` (InvalidSetting by default) for a value that is not a whole number >= minimum.
    """
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise error(f"{name} must be a whole number of seconds, not {raw!r}.") from None
    if value < minimum:
        raise error(f"{name} must be at least {minimum}, not {value}.")
    return value
