"""Storage: the SQLite set-up, migrations, and secrets encrypted at rest (on both engines if they apply)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import IntegrityError

from storage.db import (
    MIGRATIONS,
    SCHEMA_VERSION,
    DatabaseFolderMissing,
    current_version,
    make_engine,
    migrate,
    write_session,
)
from storage.models import Run
from storage.secrets import SecretBox, SecretKeyMismatch
from sync.accounts.organizations import create_organization
from sync.integration.settings import credentials, get_integration, save_settings

SECRET = "papi-very-secret-value-1234567890"


def _org(engine: Engine) -> int:
    org = create_organization(
        engine, slug="acme", name="Acme", owner_email="owner@acme.test", owner_password="correct horse"
    )
    assert org.id is not None
    return org.id


@pytest.mark.sqlite_only("PRAGMAs of SQLite connections; the next test is the both-engine half")
def test_sqlite_connections_use_wal_foreign_keys_and_busy_timeout(engine: Engine) -> None:
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000


def test_the_database_enforces_foreign_keys(engine: Engine) -> None:
    from storage.clock import utcnow

    with pytest.raises(IntegrityError), write_session(engine) as session:
        session.add(Run(org_id=4242, trigger="manual", status="queued", queued_at=utcnow()))
        session.flush()


def test_schema_is_created_on_first_use_and_migrate_is_idempotent(engine: Engine) -> None:
    assert current_version(engine) == SCHEMA_VERSION
    assert migrate(engine) == SCHEMA_VERSION
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM schemaversion")).scalar() == len(MIGRATIONS)


def test_the_data_folder_is_created_on_demand_with_a_database_only_its_owner_can_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "deep" / "er"))
    target = tmp_path / "deep" / "er" / "app.db"
    make_engine(f"sqlite:///{target}").dispose()
    assert target.exists()
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_a_mistyped_database_folder_is_an_error_not_a_new_empty_database(tmp_path: Path) -> None:
    target = tmp_path / "dta" / "app.db"
    with pytest.raises(DatabaseFolderMissing, match="does not exist"):
        make_engine(f"sqlite:///{target}")
    assert not target.parent.exists()


@pytest.mark.sqlite_only("reads the bytes of the .db file; the next test reads the stored row")
def test_the_client_secret_is_not_stored_in_plaintext(engine: Engine, db_path: Path) -> None:
    org_id = _org(engine)
    save_settings(engine, org_id, client_id="papi-client", client_secret=SECRET)
    engine.dispose()
    raw = b"".join(p.read_bytes() for p in db_path.parent.glob("app.db*"))
    assert SECRET.encode() not in raw
    with write_session(engine) as session:
        assert credentials(get_integration(session, org_id)) == ("papi-client", SECRET)


def test_the_stored_integration_row_holds_no_plaintext_secret(engine: Engine) -> None:
    org_id = _org(engine)
    save_settings(engine, org_id, client_id="papi-client", client_secret=SECRET)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM integration")).all()
    assert rows and all(SECRET not in str(value) for row in rows for value in row)
    with write_session(engine) as session:
        assert credentials(get_integration(session, org_id)) == ("papi-client", SECRET)


def test_key_file_is_created_with_mode_0600(engine: Engine, tmp_path: Path) -> None:
    SecretBox().encrypt("x")
    key_file = tmp_path / "data" / "secret.key"
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600


def test_a_wrong_key_gives_a_clear_error_not_garbage(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    org_id = _org(engine)
    save_settings(engine, org_id, client_id="papi-client", client_secret=SECRET)
    monkeypatch.setenv("APP_SECRET_KEY", "a different passphrase")
    with write_session(engine) as session:
        integration = get_integration(session, org_id)
    with pytest.raises(Exception) as caught:
        credentials(integration)
    assert "cannot be decrypted" in str(caught.value)
    assert SECRET not in str(caught.value)
    with pytest.raises(SecretKeyMismatch):
        SecretBox().decrypt(integration.client_secret_encrypted or "")


def test_app_secret_key_passphrase_round_trips(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_SECRET_KEY", "correct horse battery staple")
    assert SecretBox().decrypt(SecretBox().encrypt(SECRET)) == SECRET


def test_the_database_refuses_two_running_runs_of_one_organization(engine: Engine) -> None:
    from storage.clock import utcnow

    org_id = _org(engine)
    with pytest.raises(IntegrityError), write_session(engine) as session:
        for _ in range(2):
            session.add(Run(org_id=org_id, trigger="manual", status="running", queued_at=utcnow()))
            session.flush()


@pytest.mark.sqlite_only("BEGIN IMMEDIATE is SQLite's; PostgreSQL writers are not serialised at BEGIN")
def test_write_sessions_take_the_write_lock_at_begin(engine: Engine, db_path: Path) -> None:
    import sqlite3

    with write_session(engine) as session:
        session.execute(text("SELECT 1"))  # no write yet: BEGIN IMMEDIATE already holds the lock
        other = sqlite3.connect(db_path, timeout=0.05, isolation_level=None)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
        other.close()


def test_a_new_migration_is_applied_once(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    import storage.db as db

    calls: list[int] = []
    new = db.SCHEMA_VERSION + 1  # above every real migration

    def _step(conn: object) -> None:
        calls.append(new)
        conn.execute(text("ALTER TABLE organization ADD COLUMN note VARCHAR"))  # type: ignore[attr-defined]

    monkeypatch.setattr(db, "MIGRATIONS", [*db.MIGRATIONS, (new, _step)])
    monkeypatch.setattr(db, "SCHEMA_VERSION", new)
    assert db.migrate(engine) == new
    assert db.migrate(engine) == new
    assert calls == [new]
    assert current_version(engine) == new
    with engine.connect() as conn:
        assert "note" in [column["name"] for column in inspect(conn).get_columns("organization")]


def test_a_migration_numbered_below_the_highest_seen_is_still_applied(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two changes landed in another order than their numbers: the lower one still runs, once."""
    import storage.db as db

    calls: list[int] = []

    def _step(number: int) -> db.Migration:
        def apply(conn: object) -> None:
            calls.append(number)

        return apply

    real = list(db.MIGRATIONS)
    high, low = db.SCHEMA_VERSION + 5, db.SCHEMA_VERSION + 3  # above every real migration
    monkeypatch.setattr(db, "MIGRATIONS", [*real, (high, _step(high))])
    monkeypatch.setattr(db, "SCHEMA_VERSION", high)
    db.migrate(engine)
    monkeypatch.setattr(db, "MIGRATIONS", [*real, (low, _step(low)), (high, _step(high))])
    db.migrate(engine)
    db.migrate(engine)
    assert calls == [high, low]
    assert db.applied_versions(engine) == {version for version, _ in real} | {low, high}
