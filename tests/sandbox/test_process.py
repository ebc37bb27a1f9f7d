"""`python -m sandbox` as a process: the ready banner, clean exits, argument checks, a 100k company."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.sandbox import REPO_ROOT, SandboxFactory, SandboxProcess


def test_the_ready_banner_names_url_credentials_and_size(tmp_path: Path) -> None:
    process = SandboxProcess(
        log_path=tmp_path / "sandbox.log",
        employees=12,
        client_id="papi-custom-id",
        client_secret="papi-custom-secret",
    )
    process.start()
    try:
        banner = [line for line in process.log().splitlines() if not line.startswith("127.0.0.1")]
        assert banner[:4] == [
            f"Personio sandbox ready: {process.base_url}",
            "  client_id:     papi-custom-id",
            "  client_secret: papi-custom-secret",
            "  employees:     12",
        ]
        assert process.auth_token().startswith("papi-")
    finally:
        process.stop()


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_sigint_exit_cleanly(
    sandbox_factory: SandboxFactory, stop_signal: signal.Signals
) -> None:
    running = sandbox_factory(employees=5)
    running.stop(stop_signal)
    assert running.returncode == 0
    assert "Traceback" not in running.log()


def test_unknown_withheld_attributes_are_refused() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sandbox", "--withhold", "email,shoe_size"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "shoe_size" in result.stderr


@pytest.mark.slow
def test_100000_employees_and_the_last_page(sandbox_factory: SandboxFactory) -> None:
    big = sandbox_factory(employees=100_000, rate_limit=False)
    token = big.auth_token()
    last = big.personio_get(
        "/v1/company/employees", token=token, params={"offset": 99_900, "limit": 100}
    ).json()
    assert last["metadata"] == {"total_elements": 100_000, "current_page": 999, "total_pages": 1000}
    ids = [item["attributes"]["id"]["value"] for item in last["data"]]
    assert ids == list(range(100_900, 101_000))
    tail = big.personio_get(
        "/v1/company/employees", token=token, params={"offset": 99_950, "limit": 100}
    ).json()
    assert len(tail["data"]) == 50
    someone = big.personio_get("/v1/company/employees/100500", token=token).json()["data"]
    assert someone["attributes"]["id"]["value"] == 100_500
