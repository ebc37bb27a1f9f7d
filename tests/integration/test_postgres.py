"""The same engine on PostgreSQL, through DATABASE_URL (DESIGN.md section 3).

`make test` installs and starts a local PostgreSQL server (`make postgres`); each test
gets a database of its own on it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from storage.db import make_engine, write_session
from sync.accounts.organizations import create_organization
from sync.integration import queue
from tests.support.cli import Cli

SERVER_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://sync:sync@127.0.0.1:5432/postgres")


@pytest.fixture
def pg_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    admin = create_engine(SERVER_URL, isolation_level="AUTOCOMMIT")
    name = f"sync_test_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # a plain message instead of a driver traceback
        pytest.fail(
            f"PostgreSQL is not reachable at {make_url(SERVER_URL).host}: run `make postgres`. ({exc})"
        )
    url = make_url(SERVER_URL).set(database=name).render_as_string(hide_password=False)
    monkeypatch.setenv("DATABASE_URL", url)
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def pg_engine(pg_url: str) -> Iterator[Engine]:
    engine = make_engine(pg_url)
    yield engine
    engine.dispose()


def test_a_first_sync_and_a_no_op_run_on_postgresql(pg_engine: Engine, sandbox: Any, cli: Cli) -> None:
    create_organization(
        pg_engine, slug="acme", name="Acme", owner_email="o@acme.test", owner_password="password1"
    )
    configured = cli(
        "config", "acme", "--client-id", sandbox.client_id, "--client-secret", sandbox.client_secret,
        "--base-url", sandbox.base_url, "--teams", "department,supervisor",
    )  # fmt: skip
    assert configured.code == 0, configured.err
    first = cli.json("run", "acme")
    assert first["status"] == "succeeded", first["error"]
    assert first["counts"]["users_created"] > 40 and first["counts"]["teams_created"] > 0
    second = cli.json("run", "acme")
    assert second["changes"] == []
    report = cli.json("directory", "acme")
    assert sum(1 for u in report["users"] if u["personio_id"]) == first["counts"]["users_created"]


def test_postgresql_refuses_a_second_running_run_of_one_organization(pg_engine: Engine) -> None:
    org = create_organization(
        pg_engine, slug="acme", name="Acme", owner_email="o@acme.test", owner_password="password1"
    )
    assert org.id is not None
    with write_session(pg_engine) as session:
        for _ in range(2):
            queue.enqueue_run(session, org_id=org.id, trigger="manual")
    first = queue.claim_run(pg_engine, worker_id="a")
    assert first is not None
    assert queue.claim_run(pg_engine, worker_id="b") is None
    # and the database itself refuses it, should two schedulers race past that check
    from sqlalchemy.exc import IntegrityError

    from storage.clock import utcnow
    from storage.models import Run

    with pytest.raises(IntegrityError), write_session(pg_engine) as session:
        session.add(Run(org_id=org.id, trigger="manual", status="running", queued_at=utcnow()))
        session.flush()


def test_renames_email_changes_and_address_swaps_apply_on_postgresql(
    pg_engine: Engine, sandbox: Any, cli: Cli
) -> None:
    """Values move out of each other's way inside the transaction; PostgreSQL text takes no NUL."""
    create_organization(
        pg_engine, slug="acme", name="Acme", owner_email="o@acme.test", owner_password="password1"
    )
    configured = cli(
        "config", "acme", "--client-id", sandbox.client_id, "--client-secret", sandbox.client_secret,
        "--base-url", sandbox.base_url, "--teams", "department",
    )  # fmt: skip
    assert configured.code == 0, configured.err
    assert cli.json("run", "acme")["status"] == "succeeded"
    users = {u["personio_id"]: u for u in cli.json("directory", "acme")["users"] if u["personio_id"]}
    people = [sandbox.employee(int(pid)) for pid in sorted(users, key=int)[:3]]
    addresses = [users[str(p["id"])]["email"] for p in people]
    for n, person in enumerate(people):  # a -> b's address, b -> c's, c -> a's
        sandbox.update(person["id"], email=f"parked{n}@acme.example")
    for n, person in enumerate(people):
        sandbox.update(person["id"], email=addresses[(n + 1) % 3])
    department = sandbox.org_units()["departments"][0]
    sandbox.rename_department(department["id"], "Renamed Unit")

    outcome = cli.json("run", "acme")

    assert outcome["status"] == "succeeded", outcome["error"]
    assert outcome["counts"]["teams_updated"] >= 1
    report = cli.json("directory", "acme")
    now = {u["personio_id"]: u["email"] for u in report["users"] if u["personio_id"]}
    assert [now[str(p["id"])] for p in people] == addresses[1:] + addresses[:1]
    assert "Department Renamed Unit" in {t["name"] for t in report["teams"]}
    assert cli.json("run", "acme")["changes"] == []
