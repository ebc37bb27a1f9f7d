"""One engine parameter for every test that touches a database (DESIGN.md sections 3 and 10).

The mechanism, in one place:

- `database` is the fixture every database fixture depends on: `engine` (and its alias
  `db_engine`), `cli`, the scheduler and dashboard process fixtures. A test whose fixture
  closure contains `database` is run twice, with the ids `sqlite` and `postgresql`
  (`pytest -k postgresql` runs the PostgreSQL half only); a test that touches no database
  (pure core rules, the sandbox, parsing) does not ask for it and runs once.
  `pytest_generate_tests` below (registered by tests/conftest.py) adds the parameter.
- `sqlite`: the file `<tmp_path>/data/app.db`, the DATABASE_URL the autouse fixture of
  tests/conftest.py sets for every test, with WAL, foreign keys and BEGIN IMMEDIATE.
- `postgresql`: a database of its own on the local server (`make postgres`; another server through
  TEST_POSTGRES_URL), created for the test and dropped with FORCE after it. DATABASE_URL points at
  it, so code that calls `make_engine()` without a URL (the CLI in-process, schedulers, the
  dashboard and other child processes, which inherit the environment) uses the same database.
  An unreachable server fails the test with "run `make postgres`".
- `@pytest.mark.sqlite_only(reason)`: a test whose property only SQLite has (the bytes of the
  .db file, WAL, BEGIN IMMEDIATE, SQLite's id reuse) runs on `sqlite` only; give the reason.
- One half marked: `@pytest.mark.parametrize("database", engine_params(postgresql=xfail(...)),
  indirect=True)`. The older spelling with "db_engine" instead of "database" still works.
- `guard_database_use` (autouse): a test that created the SQLite file of DATABASE_URL without
  asking for `database` fails, so no database test silently runs on SQLite alone.
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
_UNREACHABLE: dict[str, str] = {}  # server URL -> the message of its failed first connection
# Older spellings that chose the engine of a test through their own parameter.
_LEGACY_PARAMETERS = ("db_engine",)

__all__ = [
    "ENGINE_KINDS",
    "database",
    "db_engine",
    "db_path",
    "engine",
    "engine_params",
    "guard_database_use",
    "pg_url",
    "postgres_database",
    "pytest_configure",
    "pytest_generate_tests",
]


def engine_params(**marks: Any) -> list[Any]:
    """The `database` parameters with marks on some kinds: `engine_params(postgresql=xfail(...))`."""
    unknown = set(marks) - set(ENGINE_KINDS)
    if unknown:
        raise ValueError(f"unknown engine kinds: {sorted(unknown)}")
    return [pytest.param(kind, id=kind, marks=marks.get(kind, ())) for kind in ENGINE_KINDS]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "sqlite_only(reason): the property is SQLite's own; run on the sqlite engine only"
    )


def _parametrized_directly(metafunc: pytest.Metafunc) -> set[str]:
    names: set[str] = set()
    for mark in metafunc.definition.iter_markers("parametrize"):
        argnames = mark.args[0] if mark.args else mark.kwargs["argnames"]
        if isinstance(argnames, str):
            argnames = argnames.split(",")
        names.update(name.strip() for name in argnames)
    return names


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run every test that uses `database` (directly or through a fixture) once per engine."""
    if "database" not in metafunc.fixturenames:
        return
    if _parametrized_directly(metafunc) & {"database", *_LEGACY_PARAMETERS}:
        return  # the test chose its engines itself
    only = metafunc.definition.get_closest_marker("sqlite_only")
    if only is not None and not (only.args or only.kwargs.get("reason")):
        raise pytest.UsageError(f"{metafunc.definition.nodeid}: sqlite_only needs a reason")
    kinds = ("sqlite",) if only is not None else ENGINE_KINDS
    metafunc.parametrize("database", kinds, ids=kinds, indirect=True)


@contextmanager
def postgres_database(server_url: str = POSTGRES_SERVER_URL) -> Iterator[str]:
    """Create a fresh database on the server, yield its URL, and drop it (even while connected)."""
    if server_url in _UNREACHABLE:  # one wait for an absent server, not one per test
        pytest.fail(_UNREACHABLE[server_url], pytrace=False)
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 10})
    name = f"sync_test_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # a plain message instead of a driver traceback
        admin.dispose()
        reason = str(exc).splitlines()[0]
        _UNREACHABLE[server_url] = (
            f"PostgreSQL is not reachable at {make_url(server_url).host}: run `make postgres` "
            f"(or set TEST_POSTGRES_URL). {reason}"
        )
    if server_url in _UNREACHABLE:  # outside the except: no driver traceback chained to it
        pytest.fail(_UNREACHABLE[server_url], pytrace=False)
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _kind_of(request: pytest.FixtureRequest) -> str:
    kind = getattr(request, "param", None)
    if kind is None:  # chosen through an older parameter name, or not parametrized at all
        params = getattr(getattr(request.node, "callspec", None), "params", {})
        kind = next((params[name] for name in _LEGACY_PARAMETERS if name in params), "sqlite")
    if kind not in ENGINE_KINDS:
        raise ValueError(f"unknown engine kind {kind!r}; expected one of {ENGINE_KINDS}")
    return str(kind)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """Where the `sqlite` engine keeps its file (the DATABASE_URL of the autouse fixture)."""
    return tmp_path / "data" / "app.db"


@pytest.fixture
def database(request: pytest.FixtureRequest, db_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The URL of this test's own empty database, on the engine of the test's parameter;
    DATABASE_URL points at it."""
    if _kind_of(request) == "sqlite":
        url = f"sqlite:///{db_path}"
        monkeypatch.setenv("DATABASE_URL", url)
        yield url
        return
    with postgres_database() as url:
        monkeypatch.setenv("DATABASE_URL", url)
        yield url


@pytest.fixture
def engine(database: str) -> Iterator[Engine]:
    """A migrated engine on this test's database (`database`), disposed after the test."""
    engine = make_engine(database)
    try:
        yield engine
    finally:
        engine.dispose()  # before a PostgreSQL drop, so no pooled connection is left behind


@pytest.fixture
def db_engine(engine: Engine) -> Engine:
    """The older name of `engine`."""
    return engine


@pytest.fixture
def pg_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The older PostgreSQL-only fixture, outside the engine parameter: prefer `database`."""
    with postgres_database() as url:
        monkeypatch.setenv("DATABASE_URL", url)
        yield url


@pytest.fixture(autouse=True)
def guard_database_use(request: pytest.FixtureRequest, db_path: Path) -> Iterator[None]:
    """Fail a test that used the SQLite file of DATABASE_URL without the engine parameter."""
    yield
    if "database" not in request.fixturenames and db_path.exists():
        pytest.fail(
            "this test used the database of DATABASE_URL without the `database` fixture, so it ran "
            "on SQLite only: ask for `engine` (or `database`) so it runs on SQLite and PostgreSQL",
            pytrace=False,
        )
