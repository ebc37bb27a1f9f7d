"""`db_engine`: one test, run once on SQLite and once on PostgreSQL (DESIGN.md section 3).

Every database test takes `db_engine` instead of `engine`, so the same assertions hold on both
databases the product supports. The two parameters have the ids `sqlite` and `postgresql`
(`pytest -k postgresql` runs only the PostgreSQL half):

- `sqlite`: a file under the test's tmp_path (the DATABASE_URL of the autouse fixture in
  tests/conftest.py), made by `storage.db.make_engine` with WAL, foreign keys and BEGIN IMMEDIATE.
- `postgresql`: a database of its own on the local server (`make postgres`; another server
  through TEST_POSTGRES_URL), created for the test, migrated by `make_engine`, and dropped with
  FORCE after it. DATABASE_URL points at it, so code that calls `make_engine()` without a URL
  (the CLI, child processes) uses the same database.

A test may mark one half only: `pytest.param("postgresql", marks=pytest.mark.xfail(...))`
through `@pytest.mark.parametrize("db_engine", [...], indirect=True)`, with `ENGINE_KINDS`
and `engine_params(...)` below.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from storage.db import make_engine

POSTGRES_SERVER_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+psycopg://sync:sync@127.0.0.1:5432/postgres"
)
ENGINE_KINDS = ("sqlite", "postgresql")

__all__ = ["ENGINE_KINDS", "db_engine", "engine_params", "postgres_database"]


def engine_params(**marks: Any) -> list[Any]:
    """The `db_engine` parameters with marks on some kinds: `engine_params(postgresql=xfail(...))`."""
    unknown = set(marks) - set(ENGINE_KINDS)
    if unknown:
        raise ValueError(f"unknown engine kinds: {sorted(unknown)}")
    return [pytest.param(kind, id=kind, marks=marks.get(kind, ())) for kind in ENGINE_KINDS]


@contextmanager
def postgres_database(server_url: str = POSTGRES_SERVER_URL) -> Iterator[str]:
    """Create a fresh database on the server, yield its URL, and drop it (even while connected)."""
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    name = f"sync_test_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # a plain message instead of a driver traceback
        admin.dispose()
        pytest.fail(
            f"PostgreSQL is not reachable at {make_url(server_url).host}: run `make postgres`. ({exc})"
        )
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=ENGINE_KINDS, ids=ENGINE_KINDS)
def db_engine(
    request: pytest.FixtureRequest, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Engine]:
    """A migrated, empty database of this test's own, on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{db_path}")
        try:
            yield engine
        finally:
            engine.dispose()
        return
    with postgres_database() as url:
        monkeypatch.setenv("DATABASE_URL", url)
        engine = make_engine(url)
        try:
            yield engine
        finally:
            engine.dispose()  # before the drop, so no pooled connection is left behind
