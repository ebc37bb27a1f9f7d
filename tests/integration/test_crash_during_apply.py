"""A process killed (-9) in the middle of the apply transaction: nothing of it lands, the run is
failed once its lease expires, and the next run does the work. Real SQLite file, real sandbox."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlmodel import select

from storage.db import read_session, write_session
from storage.models import Run, Team, User
from sync.accounts.organizations import create_organization
from sync.core.states import RunStatus
from sync.integration import queue
from sync.integration.settings import save_settings
from tests.support.cli import ROOT, Cli


def synced_users(engine: Engine) -> int:
    with read_session(engine) as session:
        return len(session.exec(select(User).where(User.personio_id.is_not(None))).all())  # type: ignore[union-attr]


def test_kill_9_inside_the_apply_transaction_leaves_the_directory_unchanged(
    engine: Engine, sandbox: Any, cli: Cli, tmp_path: Path
) -> None:
    org = create_organization(
        engine, slug="acme", name="Acme", owner_email="o@acme.test", owner_password="password1"
    )
    assert org.id is not None
    save_settings(engine, org.id, client_id=sandbox.client_id, client_secret=sandbox.client_secret,
                  base_url=sandbox.base_url, team_attributes=["department"])  # fmt: skip
    with write_session(engine) as session:
        run_id = queue.enqueue_run(session, org_id=org.id, trigger="manual").id
    log = tmp_path / "child.log"
    with log.open("wb") as out:
        child = subprocess.Popen(
            [sys.executable, "-m", "tests.support.apply_then_die", str(run_id)],
            cwd=ROOT, env=dict(os.environ), stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while b"APPLIED" not in log.read_bytes():
            assert child.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        # Every row is written but not committed; readers still see the directory as it was.
        assert synced_users(engine) == 0
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)

    assert synced_users(engine) == 0
    with read_session(engine) as session:
        assert session.exec(select(Team)).all() == []
        assert session.get(Run, run_id).status == RunStatus.RUNNING  # type: ignore[union-attr]
    deadline = time.monotonic() + 60
    while not queue.fail_expired_runs(engine):
        assert time.monotonic() < deadline
        time.sleep(0.5)
    with read_session(engine) as session:
        dead = session.get(Run, run_id)
    assert dead is not None and dead.status == RunStatus.FAILED and dead.error_code == "lease_expired"

    outcome = cli.json("run", "acme")
    assert outcome["status"] == "succeeded" and outcome["counts"]["users_created"] == synced_users(engine) > 0
