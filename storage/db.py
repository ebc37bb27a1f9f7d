"""The one engine factory, sessions and the schema migrations.

SQLite connections get WAL, foreign keys and a busy timeout; write transactions
begin with `BEGIN IMMEDIATE` (use `write_session`) so that the dashboard and one
or more schedulers can write the same file without "database is locked" upgrades
in the middle of a transaction. PostgreSQL works through the same URL.

The sessions rule (who owns a transaction):

- A function that owns its transaction takes an `engine` and opens `read_session(engine)`
  or `write_session(engine)` itself; the transaction ends (commit or rollback) before it returns.
  Never call one inside another function's open session: it would run in a second transaction
  (on SQLite it would wait for the write lock the caller holds).
- A function that joins the caller's transaction takes a `session` (keyword `session=`, or a
  first parameter named `session`) and never commits, rolls back or opens a session of its own;
  it may flush. The caller's `write_session` commits everything at once, or nothing.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, case, event, inspect, text, update
from sqlalchemy import select as sql_select
from sqlalchemy.engine import Connection, make_url
from sqlmodel import Session, SQLModel, create_engine, select

from storage import models
from storage.clock import utcnow
from storage.config import DatabaseSettings, database_url, read
from sync.core.errors import SUPERSEDED

BUSY_TIMEOUT_MS = 30_000
_IMMEDIATE = "begin_immediate"
SCHEMA_TABLE = "schemaversion"


def make_engine(url: str | None = None, *, echo: bool = False, pool_size: int | None = None) -> Engine:
    """Create the engine for `url` (default: DATABASE_URL) and bring the schema up to date.

    `pool_size`: connections kept open (default 5, plus 10 more at busy times); a scheduler with
    many workers needs more, since each run holds one while its lease renewal takes another.
    """
    url = url or database_url()
    parsed = make_url(url)
    pool: dict[str, Any] = {} if pool_size is None else {"pool_size": pool_size}
    if parsed.get_backend_name() != "sqlite":
        engine = create_engine(url, echo=echo, pool_pre_ping=True, **pool)
        migrate(engine)
        return engine

    if parsed.database and parsed.database != ":memory:":
        _prepare_sqlite_file(Path(parsed.database))
    engine = create_engine(
        url,
        echo=echo,
        connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000},
        **pool,
    )
    _install_sqlite_pragmas(engine)
    migrate(engine)
    return engine


class DatabaseFolderMissing(ValueError):
    """DATABASE_URL names a SQLite file in a folder that does not exist (most likely a typo)."""

    def __init__(self, folder: Path) -> None:
        self.message = f"The folder {folder} of the SQLite database in DATABASE_URL does not exist."
        self.hint = "Check DATABASE_URL for a typo, or create the folder first."
        super().__init__(self.message)


def _prepare_sqlite_file(path: Path) -> None:
    """Create the database file readable by its owner only (it holds encrypted secrets and
    everyone's names). Only the data folder is created on the way: a mistyped path is an
    error instead of a new, empty database somewhere else."""
    folder = path.parent
    if not folder.is_dir():
        if folder.resolve() != read(DatabaseSettings).data_dir.resolve():
            raise DatabaseFolderMissing(folder)
        folder.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _install_sqlite_pragmas(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event decide how a transaction starts.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(_IMMEDIATE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


@contextmanager
def read_session(engine: Engine) -> Iterator[Session]:
    """A session for reading; it never holds the write lock."""
    with Session(engine, expire_on_commit=False) as session:
        yield session


@contextmanager
def write_session(engine: Engine) -> Iterator[Session]:
    """A session whose transaction takes the write lock at once (SQLite `BEGIN IMMEDIATE`).

    Commits on normal exit and rolls back on an exception.
    """
    bind = engine.execution_options(**{_IMMEDIATE: True}) if is_sqlite(engine) else engine
    with Session(bind, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


# --- migrations -----------------------------------------------------------------------
# Version 1 is the schema of storage/models.py as first released. A later change to a
# table appends a function here; `migrate` applies the ones a database has not seen yet.
# Version 1 creates every table of the current models, so a later step must be idempotent
# (add a column or index only where it is missing): on a new database it finds them there.

Migration = Callable[[Connection], None]


def _v1_initial(conn: Connection) -> None:
    SQLModel.metadata.create_all(conn)


SUPERSEDED_MESSAGE = (
    "This run was not started: another run of the organization was already queued or running "
    "(left over from before one open run per organization was enforced)."
)
SUPERSEDED_HINT = "No action is needed: the other run syncs the organization."


def _v2_one_open_run_per_org(conn: Connection) -> None:
    """At most one open (queued or running) run per organization, enforced by a partial unique index;
    and Run.retry_of_run_id (the automatic retry of a run whose lease expired).

    Duplicates left by older versions are failed as `superseded` first: per organization the
    running run stays, else the oldest queued one.
    """
    run = models.table(models.Run)
    open_runs = conn.execute(
        sql_select(run.c.id, run.c.org_id, run.c.status)
        .where(run.c.status.in_(("queued", "running")))
        .order_by(run.c.org_id, case((run.c.status == "running", 0), else_=1), run.c.id)
    ).all()
    kept: set[int] = set()
    superseded: list[int] = []
    for run_id, org_id, _status in open_runs:
        if org_id in kept:
            superseded.append(run_id)
        kept.add(org_id)
    if superseded:
        conn.execute(
            update(run)
            .where(run.c.id.in_(superseded))
            .values(
                status="failed",
                finished_at=utcnow(),
                lease_owner=None,
                lease_expires_at=None,
                error_code=SUPERSEDED,
                error_message=SUPERSEDED_MESSAGE,
                error_hint=SUPERSEDED_HINT,
            )
        )
    conn.execute(
        text(
            f"CREATE UNIQUE INDEX IF NOT EXISTS {models.OPEN_RUN_INDEX} ON run (org_id) "
            f"WHERE {models.OPEN_RUN_WHERE}"
        )
    )
    if "retry_of_run_id" not in {column["name"] for column in inspect(conn).get_columns("run")}:
        conn.execute(text("ALTER TABLE run ADD COLUMN retry_of_run_id INTEGER REFERENCES run (id)"))


def _v5_run_details_pruned(conn: Connection) -> None:
    """Run.details_pruned_after_days: the run's change log was pruned (RUN_DETAIL_RETENTION_DAYS)."""
    if "details_pruned_after_days" not in {column["name"] for column in inspect(conn).get_columns("run")}:
        conn.execute(text("ALTER TABLE run ADD COLUMN details_pruned_after_days INTEGER"))


def _v6_unchanged_plans(conn: Connection) -> None:
    """UnchangedPlan: a run that would change nothing skips planning (sync/integration/unchanged.py)."""
    models.table(models.UnchangedPlan).create(conn, checkfirst=True)


def _v3_dashboard_sessions(conn: Connection) -> None:
    """DashboardSession: sign-ins that survive a reload (only the token's hash is stored)."""
    models.table(models.DashboardSession).create(conn, checkfirst=True)  # with its indexes


_V4_INTEGRATION_COLUMNS = {
    "near_real_time": "BOOLEAN NOT NULL DEFAULT FALSE",
    "webhook_path_id": "VARCHAR",
    "webhook_token_encrypted": "VARCHAR",
    "webhook_id": "VARCHAR",
    "webhook_url": "VARCHAR",
    "webhook_registered_at": "TIMESTAMP",
    "webhook_error_code": "VARCHAR",
    "webhook_error_message": "VARCHAR",
    "webhook_error_hint": "VARCHAR",
}


def _v4_webhooks(conn: Connection) -> None:
    """Near-real-time updates: the integration's webhook registration, Run.trigger_events and
    the WebhookEvent table of accepted deliveries."""
    columns = {column["name"] for column in inspect(conn).get_columns("integration")}
    for name, sql_type in _V4_INTEGRATION_COLUMNS.items():
        if name not in columns:
            conn.execute(text(f"ALTER TABLE integration ADD COLUMN {name} {sql_type}"))
    conn.execute(
        text(
            "CREATE UNIQUE INDEX IF NOT EXISTS ix_integration_webhook_path_id "
            "ON integration (webhook_path_id)"
        )
    )
    if "trigger_events" not in {column["name"] for column in inspect(conn).get_columns("run")}:
        conn.execute(text("ALTER TABLE run ADD COLUMN trigger_events JSON"))
    models.table(models.WebhookEvent).create(conn, checkfirst=True)


MIGRATIONS: list[tuple[int, Migration]] = [
    (1, _v1_initial),
    (2, _v2_one_open_run_per_org),
    (3, _v3_dashboard_sessions),
    (4, _v4_webhooks),
    (5, _v5_run_details_pruned),
    (6, _v6_unchanged_plans),
]
SCHEMA_VERSION = max(version for version, _step in MIGRATIONS)


def applied_versions(engine: Engine) -> set[int]:
    """The migrations this database has seen (empty for a new database)."""
    if not inspect(engine).has_table(SCHEMA_TABLE):
        return set()
    with Session(engine) as session:
        return set(session.exec(select(models.SchemaVersion.version)).all())


def current_version(engine: Engine) -> int:
    return max(applied_versions(engine), default=0)


def migrate(engine: Engine) -> int:
    """Apply every migration the database has not seen; returns the schema version.

    Versions are checked one by one, not by the highest: a migration numbered below one a
    database already has (two changes landed in another order) is still applied.
    """
    if {version for version, _step in MIGRATIONS} <= applied_versions(engine):
        return SCHEMA_VERSION
    bind = engine.execution_options(**{_IMMEDIATE: True}) if is_sqlite(engine) else engine
    with bind.begin() as conn:
        # Checked again under the write lock: another process may have migrated meanwhile.
        SQLModel.metadata.tables[SCHEMA_TABLE].create(conn, checkfirst=True)
        seen = {row[0] for row in conn.execute(text("SELECT version FROM schemaversion"))}
        for version, step in MIGRATIONS:
            if version in seen:
                continue
            step(conn)
            conn.execute(
                text("INSERT INTO schemaversion (version, applied_at) VALUES (:v, :t)"),
                {"v": version, "t": utcnow()},
            )
    return SCHEMA_VERSION
