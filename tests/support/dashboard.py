"""Run the dashboard (`streamlit run dashboard.py`) and a scheduler as real processes, and drive a browser.

Fixtures:
- `dashboard_server`: Streamlit on a free loopback port with this test's DATABASE_URL and DATA_DIR;
  output goes to a file (never a pipe); ready when `/_stcore/health` answers.
- `dashboard_scheduler`: `python -m sync.scheduler` (1 s tick) against the same database.
- `browser_page`: a Playwright page in Debian's Chromium; on failure a screenshot goes to
  `test-artifacts/<test name>.png`.

Helpers: `wait_for_app(page)` waits until Streamlit's script has finished running; `new_app()`
and `app_logged_in(engine, email, password)` build an in-process `AppTest` of `dashboard.py`
(it reads DATABASE_URL, so it uses the test's database).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.processes import SchedulerProcess, SchedulerProcesses

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

__all__ = [
    "DASHBOARD",
    "DashboardServer",
    "app_logged_in",
    "browser_page",
    "child_env",
    "dashboard_scheduler",
    "dashboard_server",
    "new_app",
    "page_text",
    "pytest_runtest_makereport",
    "wait_for_app",
]
DASHBOARD = REPO_ROOT / "dashboard.py"
APP_TIMEOUT = 120.0


def new_app() -> Any:
    """An AppTest of the dashboard, not yet run."""
    from streamlit.testing.v1 import AppTest

    return AppTest.from_file(str(DASHBOARD), default_timeout=APP_TIMEOUT)


TEXT_ELEMENTS = ("title", "header", "subheader", "markdown", "caption", "info", "success", "warning", "error")


def page_text(app: Any) -> str:
    """Everything a person reads on an AppTest's rendered page, as one string."""
    parts: list[str] = []
    for kind in TEXT_ELEMENTS:
        parts += [str(element.value) for element in getattr(app, kind)]
    return "\n".join(parts)


def app_logged_in(engine: Any, email: str, password: str) -> Any:
    """An AppTest that logged in with real credentials (sync.accounts.login.authenticate) and ran once.

    Like the login page, it starts a server-side session and gives the app its token (an AppTest
    sends no cookies, so the token goes into the session state, where a tab keeps it).
    """
    from sync.accounts import sessions
    from sync.accounts.login import authenticate

    app = new_app()
    who = authenticate(engine, email, password)
    new = sessions.create(engine, who)
    app.session_state["principal"] = who
    app.session_state["session_token"] = new.token
    app.session_state["session_id"] = new.id
    return app.run()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class DashboardServer:
    """One `streamlit run dashboard.py` on a free port; its output goes to `log_path`."""

    def __init__(
        self,
        *,
        log_path: Path,
        env: dict[str, str],
        start_timeout: float = 90.0,
        args_for_port: Callable[[int], list[str]] | None = None,
    ) -> None:
        self.log_path = log_path
        self.env = env
        self.start_timeout = start_timeout
        # More `streamlit run` options that depend on the port (e.g. a secrets file naming its URL).
        self.args_for_port = args_for_port
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> DashboardServer:
        for _attempt in range(3):  # another process may take the probed port first
            self.port = _free_port()
            self._spawn()
            if self._wait_healthy():
                return self
            self.stop()
            if "already in use" not in self.log():
                break
        raise RuntimeError(f"the dashboard did not become healthy; its output:\n{self.log()}")

    def _spawn(self) -> None:
        command = [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "dashboard.py",
            "--server.port",
            str(self.port),
            "--server.address",
            "127.0.0.1",
            "--server.headless",
            "true",
            "--server.fileWatcherType",
            "none",
            "--browser.gatherUsageStats",
            "false",
            *(self.args_for_port(self.port) if self.args_for_port else []),
        ]
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                command,
                cwd=REPO_ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def _wait_healthy(self) -> bool:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                return False
            try:
                if httpx.get(f"{self.url}/_stcore/health", timeout=1.0).status_code == 200:
                    return True
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        return False

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO_ROOT)
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.fixture
def dashboard_server(tmp_path: Path, database: str) -> Iterator[DashboardServer]:
    """The dashboard against this test's database (DATABASE_URL / DATA_DIR of the autouse fixture)."""
    server = DashboardServer(log_path=tmp_path / "dashboard.log", env=child_env()).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def dashboard_scheduler(tmp_path: Path, database: str) -> Iterator[SchedulerProcess]:
    """One scheduler (1 s tick) against this test's database, stopped after the test."""
    with SchedulerProcesses(tmp_path / "schedulers") as schedulers:
        yield schedulers.start(tick_seconds=1)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Generator[None, Any, None]:
    """Remember each phase's report on the item, so fixtures know whether the test failed."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


@pytest.fixture
def browser_page(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A Playwright page in Debian's Chromium (never a downloaded browser)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1440, "height": 1000})
        page = context.new_page()
        page.set_default_timeout(30_000)
        try:
            yield page
        finally:
            report = getattr(request.node, "report_call", None)
            if report is not None and report.failed:
                ARTIFACTS.mkdir(exist_ok=True)
                try:
                    page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
                except Exception as exc:  # the screenshot must never hide the real failure
                    print(f"screenshot failed: {exc!r}")
            context.close()
            browser.close()


def wait_for_app(page: Any, *, timeout: float = 60.0) -> None:
    """Wait until Streamlit has rendered and its script is not running (no running indicator)."""
    page.wait_for_selector("[data-testid='stApp']", timeout=timeout * 1000)
    deadline = time.monotonic() + timeout
    idle_since: float | None = None
    while time.monotonic() < deadline:
        state = page.get_attribute("[data-testid='stApp']", "data-test-script-state")
        spinner = page.locator("[data-testid='stStatusWidgetRunningIcon']").count() > 0
        running = state != "notRunning" or spinner
        if running:
            idle_since = None
        elif idle_since is None:
            idle_since = time.monotonic()
        elif time.monotonic() - idle_since >= 0.3:
            return
        time.sleep(0.1)
    raise AssertionError("the Streamlit script was still running after the timeout")
