"""Shared fixtures. Each support module registers its fixtures through the imports below."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from storage.db import make_engine


@pytest.fixture(autouse=True)
def _isolated_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test gets its own data folder, database and secret key."""
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'data' / 'app.db'}")
    monkeypatch.delenv("APP_SECRET_KEY", raising=False)
    monkeypatch.delenv("SMTP_URL", raising=False)
    monkeypatch.delenv("PERSONIO_BASE_URL", raising=False)
    # Sandboxes listen on loopback ports chosen at start; nothing else is allowed.
    monkeypatch.setenv("PERSONIO_ALLOWED_BASE_URLS", "http://127.0.0.1:*")


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "app.db"


@pytest.fixture
def engine(db_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{db_path}")
    yield engine
    engine.dispose()


from tests.support.capture import capture_server  # noqa: E402, F401
from tests.support.cli import cli  # noqa: E402, F401
from tests.support.dashboard import *  # noqa: E402, F403 (fixtures and the failure-report hook)
from tests.support.engines import db_engine  # noqa: E402, F401
from tests.support.sandbox import sandbox, sandbox_factory  # noqa: E402, F401
from tests.support.smtp import smtp_server  # noqa: E402, F401
