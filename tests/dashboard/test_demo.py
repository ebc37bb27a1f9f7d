"""`make demo` (sync.demo) and `make run` (sync.launch): seeding, idempotence, start and Ctrl-C."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import select

from storage.db import read_session
from storage.models import Integration, Organization, StaffAccount
from sync.accounts.login import authenticate
from sync.demo import OWNER_EMAIL, SANDBOX_CLIENT_ID, STAFF_EMAIL, DemoLogins, load_logins, save_logins, seed
from tests.support.processes import wait_until

REPO_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_seed_creates_the_demo_once_and_keeps_a_passing_test_valid(engine: Engine) -> None:
    logins = DemoLogins.generate()
    org_id = seed(engine, logins, reset_passwords=False, sandbox_url="http://127.0.0.1:8765")
    with read_session(engine) as session:
        first = session.exec(select(Integration).where(Integration.org_id == org_id)).one()
    assert first.client_id == SANDBOX_CLIENT_ID
    assert first.base_url == "http://127.0.0.1:8765"
    assert first.state == "inactive"
    assert authenticate(engine, OWNER_EMAIL, logins.owner_password).org_id == org_id
    assert authenticate(engine, STAFF_EMAIL, logins.staff_password).is_staff

    assert seed(engine, logins, reset_passwords=False, sandbox_url="http://127.0.0.1:8765") == org_id
    with read_session(engine) as session:
        again = session.exec(select(Integration).where(Integration.org_id == org_id)).one()
        assert len(session.exec(select(Organization)).all()) == 1
        assert len(session.exec(select(StaffAccount)).all()) == 1
    assert again.secret_set_at == first.secret_set_at  # an earlier passing Test stays valid


def test_lost_logins_are_replaced_by_new_passwords(engine: Engine) -> None:
    seed(engine, DemoLogins.generate(), reset_passwords=False, sandbox_url="http://127.0.0.1:8765")
    fresh = DemoLogins.generate()
    seed(engine, fresh, reset_passwords=True, sandbox_url="http://127.0.0.1:8765")
    assert authenticate(engine, OWNER_EMAIL, fresh.owner_password).is_owner
    assert authenticate(engine, STAFF_EMAIL, fresh.staff_password).is_staff


def test_logins_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / ".demo" / "logins.json"
    logins = DemoLogins.generate()
    save_logins(path, logins)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_logins(path) == logins
    assert load_logins(tmp_path / "missing.json") is None


def test_launch_refuses_a_busy_port_with_a_plain_message(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "sync.launch", "--port", str(port), "--log-dir", str(tmp_path / "logs")],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        )
    assert result.returncode == 2
    assert f"Port {port} for the dashboard is already in use." in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_demo_starts_everything_and_ctrl_c_stops_it(tmp_path: Path) -> None:
    port, sandbox_port, webhook_port = free_port(), free_port(), free_port()
    log_path = tmp_path / "demo.log"
    command = [
        sys.executable,
        "-m",
        "sync.demo",
        "--port",
        str(port),
        "--sandbox-port",
        str(sandbox_port),
        "--webhook-port",
        str(webhook_port),
        "--employees",
        "20",
        "--database-url",
        f"sqlite:///{tmp_path / 'demo.db'}",
        "--state-dir",
        str(tmp_path / "state"),
    ]
    with log_path.open("wb") as log:
        demo = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT), "PYTHONUNBUFFERED": "1"},
        )
    try:
        wait_until(
            lambda: "demo is running" in log_path.read_text() or demo.poll() is not None,
            timeout=180,
            message=lambda: log_path.read_text(),
        )
        output = log_path.read_text()
        assert f"http://localhost:{port}" in output, output
        assert OWNER_EMAIL in output and STAFF_EMAIL in output
        assert httpx.get(f"http://127.0.0.1:{port}/_stcore/health", timeout=5).status_code == 200
        assert httpx.get(f"http://127.0.0.1:{sandbox_port}/_admin/health", timeout=5).status_code == 200
        assert httpx.get(f"http://127.0.0.1:{webhook_port}/healthz", timeout=5).status_code == 200
        demo.send_signal(signal.SIGINT)
        assert demo.wait(timeout=60) == 0
        for url in (
            f"http://127.0.0.1:{port}/_stcore/health",
            f"http://127.0.0.1:{sandbox_port}/_admin/health",
            f"http://127.0.0.1:{webhook_port}/healthz",
        ):
            with pytest.raises(httpx.TransportError):
                httpx.get(url, timeout=2)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait(timeout=30)
