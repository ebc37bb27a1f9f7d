"""What PostgreSQL made us prove first, now on both engines (DESIGN.md sections 3 and 10).

These tests ask for `engine` like every other database test, so they run once per engine
(tests/support/engines.py); `make test` starts the local PostgreSQL server (`make postgres`).
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine

from storage.db import write_session
from sync.accounts.organizations import create_organization
from sync.integration import queue
from tests.support.cli import Cli
from tests.support.engines import pg_url  # noqa: F401 (the older fixture, for tests that import it here)


def test_a_first_sync_and_a_no_op_run(engine: Engine, sandbox: Any, cli: Cli) -> None:
    create_organization(
        engine, slug="acme", name="Acme", owner_email="o@acme.test", owner_password="password1"
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


def test_the_database_refuses_a_second_running_run_of_one_organization(engine: Engine) -> None:
    org = create_organization(
        engine, slug="acme", name="Acme", owner_email="o@acme.test", owner_password="password1"
    )
    assert org.id is not None
    with write_session(engine) as session:
        for _ in range(2):
            queue.enqueue_run(session, org_id=org.id, trigger="manual")
    first = queue.claim_run(engine, worker_id="a")
    assert first is not None
    assert queue.claim_run(engine, worker_id="b") is None
    # and the database itself refuses it, should two schedulers race past that check
    from sqlalchemy.exc import IntegrityError

    from storage.clock import utcnow
    from storage.models import Run

    with pytest.raises(IntegrityError), write_session(engine) as session:
        session.add(Run(org_id=org.id, trigger="manual", status="running", queued_at=utcnow()))
        session.flush()


def test_renames_email_changes_and_address_swaps_apply(engine: Engine, sandbox: Any, cli: Cli) -> None:
    """Values move out of each other's way inside the transaction; PostgreSQL text takes no NUL."""
    create_organization(
        engine, slug="acme", name="Acme", owner_email="o@acme.test", owner_password="password1"
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
