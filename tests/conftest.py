"""Shared fixtures. Each support module registers its fixtures through the imports below.

Databases: every test that touches one runs on SQLite and on PostgreSQL (ids `sqlite` and
`postgresql`) through ONE fixture, `database` (tests/support/engines.py). `engine`, `db_engine`,
`cli` and the scheduler and dashboard process fixtures depend on it; tests that need none of them
run once. `@pytest.mark.sqlite_only(reason)` keeps a test whose property is SQLite's own on SQLite.
"""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _isolated_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test gets its own data folder, database (SQLite; `database` may switch it) and secret key."""
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'data' / 'app.db'}")
    monkeypatch.delenv("APP_SECRET_KEY", raising=False)
    monkeypatch.delenv("SMTP_URL", raising=False)
    monkeypatch.delenv("PERSONIO_BASE_URL", raising=False)
    # Sandboxes listen on loopback ports chosen at start; nothing else is allowed.
    monkeypatch.setenv("PERSONIO_ALLOWED_BASE_URLS", "http://127.0.0.1:*")


from tests.support.capture import capture_server  # noqa: E402, F401
from tests.support.cli import cli  # noqa: E402, F401
from tests.support.dashboard import *  # noqa: E402, F403 (fixtures and the failure-report hook)
from tests.support.engines import *  # noqa: E402, F403 (the engine parameter: see its docstring)
from tests.support.sandbox import sandbox, sandbox_factory  # noqa: E402, F401
from tests.support.smtp import smtp_server  # noqa: E402, F401
