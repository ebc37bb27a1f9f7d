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
