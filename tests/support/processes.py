"""Scheduler subprocesses (`python -m sync.scheduler`) for integration tests, and polling.

Output goes to a file, never a pipe (a full pipe would block the scheduler). Use
`SchedulerProcesses` as a context manager: every process it started is stopped at the
end, with SIGTERM and then SIGKILL, even when the test failed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import TypeVar

from sqlalchemy import Engine
from sqlmodel import col, select

from storage.db import read_session
from storage.models import SchedulerHeartbeat

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DEADLINE = 60.0
_T = TypeVar("_T")


def wait_until(
    condition: Callable[[], _T | None],
    *,
    timeout: float = DEFAULT_DEADLINE,
    interval: float = 0.1,
    message: str | Callable[[], str] = "condition not met",
) -> _T:
    """Poll `condition` until it returns something truthy, and return that. Fails after `timeout`.

    Tests poll for outcomes with generous deadlines; they never assert on durations.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            text = message() if callable(message) else message
            raise AssertionError(f"after {timeout:.0f}s: {text}")
        time.sleep(interval)


class SchedulerProcess:
    """One running `python -m sync.scheduler`."""

    def __init__(self, popen: subprocess.Popen[bytes], log_path: Path) -> None:
        self.popen = popen
        self.log_path = log_path

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def output(self) -> str:
        """Everything the process wrote so far (stdout and stderr)."""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def alive(self) -> bool:
        return self.popen.poll() is None

    def wait_for_output(self, text: str, *, timeout: float = DEFAULT_DEADLINE) -> None:
        """Wait until `text` appears in the output (fails early when the process exited)."""

        def seen() -> bool:
            if text in self.output:
                return True
            if not self.alive():
                raise AssertionError(
                    f"scheduler exited ({self.popen.returncode}) before {text!r}:\n{self.output}"
                )
            return False

        wait_until(seen, timeout=timeout, message=lambda: f"{text!r} not in output:\n{self.output}")

    def terminate(self, *, timeout: float = DEFAULT_DEADLINE) -> int:
        """SIGTERM, then wait for the exit; returns the exit code (SIGKILL if it does not stop)."""
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"scheduler {self.pid} ignored SIGTERM:\n{self.output}") from None

    def kill(self) -> None:
        """SIGKILL: the process dies at once, without any cleanup (a crash)."""
        if self.alive():
            self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(timeout=DEFAULT_DEADLINE)


class SchedulerProcesses:
    """Starts scheduler subprocesses for one test and stops them all at the end."""

    def __init__(self, workdir: Path, *, env: Mapping[str, str] | None = None) -> None:
        self.workdir = workdir
        self.base_env = dict(env or {})
        self.started: list[SchedulerProcess] = []

    def start(
        self,
        *,
        tick_seconds: int = 1,
        lease_seconds: int | None = None,
        smtp_url: str | None = None,
        env: Mapping[str, str] | None = None,
        module: str = "sync.scheduler",
        args: tuple[str, ...] = (),
    ) -> SchedulerProcess:
        """Start `python -m sync.scheduler` with the test's DATABASE_URL / DATA_DIR (from os.environ).

        `module="sync", args=("scheduler",)` starts it through the command line instead.
        """
        process_env = dict(os.environ)
        process_env.update(self.base_env)
        process_env["SCHEDULER_TICK_SECONDS"] = str(tick_seconds)
        process_env["PYTHONPATH"] = str(REPO_ROOT)
        process_env["PYTHONUNBUFFERED"] = "1"
        if lease_seconds is not None:
            process_env["SCHEDULER_LEASE_SECONDS"] = str(lease_seconds)
        process_env.pop("SMTP_URL", None)
        if smtp_url is not None:
            process_env["SMTP_URL"] = smtp_url
        process_env.update(env or {})
        self.workdir.mkdir(parents=True, exist_ok=True)
        log_path = self.workdir / f"scheduler-{len(self.started) + 1}.log"
        with log_path.open("wb") as log_file:
            popen = subprocess.Popen(
                [sys.executable, "-m", module, *args],
                cwd=REPO_ROOT,
                env=process_env,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        process = SchedulerProcess(popen, log_path)
        self.started.append(process)
        return process

    def outputs(self) -> str:
        """All schedulers' output, for failure messages."""
        return "\n".join(f"--- {p.log_path.name} (pid {p.pid})\n{p.output}" for p in self.started)

    def stop_all(self) -> None:
        for process in self.started:
            if not process.alive():
                continue
            process.popen.send_signal(signal.SIGTERM)
        for process in self.started:
            try:
                process.popen.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()

    def __enter__(self) -> SchedulerProcesses:
        return self

    def __exit__(
        self, _type: type[BaseException] | None, _value: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self.stop_all()


def heartbeat_of(engine: Engine, process: SchedulerProcess) -> SchedulerHeartbeat | None:
    """The heartbeat row of a scheduler subprocess (None until it recorded one)."""
    with read_session(engine) as session:
        return session.exec(select(SchedulerHeartbeat).where(SchedulerHeartbeat.pid == process.pid)).first()


def live_schedulers(engine: Engine, *, now: datetime, stale_after: timedelta) -> list[SchedulerHeartbeat]:
    """Scheduler instances not stopped and seen within `stale_after`, oldest first."""
    with read_session(engine) as session:
        return list(
            session.exec(
                select(SchedulerHeartbeat)
                .where(
                    col(SchedulerHeartbeat.stopped_at).is_(None),
                    col(SchedulerHeartbeat.last_seen) >= now - stale_after,
                )
                .order_by(col(SchedulerHeartbeat.started_at))
            ).all()
        )


def wait_for_ticks(engine: Engine, process: SchedulerProcess, ticks: int = 3) -> None:
    """Wait until the scheduler refreshed its heartbeat `ticks` more times (it is still working)."""
    seen: list[object] = []

    def advanced() -> bool:
        beat = heartbeat_of(engine, process)
        if beat is not None and (not seen or beat.last_seen != seen[-1]):
            seen.append(beat.last_seen)
        if not process.alive():
            raise AssertionError(f"scheduler exited ({process.popen.returncode}):\n{process.output}")
        return len(seen) > ticks

    wait_until(advanced, message=lambda: f"the heartbeat did not advance:\n{process.output}")
