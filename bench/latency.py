"""Near-real-time updates: the time from a change in Personio to the platform's directory showing it.

    python -m bench latency [--changes 20] [--employees 300] [--big 100000] [--engine sqlite]

Real processes, as `make run` starts them: the sandbox delivers its webhooks over loopback to
`python -m sync.webhooks`, and `python -m sync.scheduler` (its default 5 s tick) turns them into
runs. A change is a new last name in the sandbox's admin API; its latency ends when the database
holds the new name. Three figures:

1. defaults (WEBHOOK_QUIET_SECONDS=60, WEBHOOK_MAX_DELAY_SECONDS=120), a steady stream: one change
   every 6 s, so the quiet period never passes and the maximum delay decides (the worst shape for
   the slowest change; a lone change waits the quiet period, about 60 s). Goal: median < 75 s,
   every one < 130 s.
2. WEBHOOK_QUIET_SECONDS=2, lone changes (each after the previous one arrived). Goal: < 10 s.
3. the receiver while another organization's initial run of `--big` employees executes: the
   seconds the sandbox waited for each acknowledgement (Personio gives up after 3 s), and the
   deliveries that needed a second attempt. `--big 0` skips it.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import Engine
from sqlmodel import col, select

from bench.sandbox import CLIENT_ID, CLIENT_SECRET, ROOT, free_port, start_sandbox
from storage.db import make_engine, read_session
from storage.models import Run, User
from sync.accounts import organizations
from sync.core.states import RunStatus
from sync.integration import lifecycle, near_real_time
from sync.integration.settings import save_settings

DEADLINE_SECONDS = 900.0
POLL_SECONDS = 0.2


@dataclass(frozen=True)
class Scenario:
    label: str
    quiet: int
    max_delay: int
    interval: float | None  # seconds between changes; None: each waits for the previous one
    goal: str


SCENARIOS = (
    Scenario("defaults, one change every 6 s", 60, 120, 6.0, "median < 75 s, max < 130 s"),
    Scenario("WEBHOOK_QUIET_SECONDS=2, lone changes", 2, 120, None, "max < 10 s"),
)


class Processes:
    """Subprocesses of the product, stopped (SIGTERM, then SIGKILL) at the end."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, label: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        with (self.workdir / f"{label}.log").open("ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", *args],
                cwd=ROOT,
                env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.started.append(process)
        return process

    @staticmethod
    def stop(process: subprocess.Popen[bytes]) -> None:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def stop_all(self) -> None:
        for process in self.started:
            self.stop(process)


def _wait(condition: object, what: str, timeout: float = DEADLINE_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(POLL_SECONDS)


def _runs(engine: Engine, org_id: int) -> list[Run]:
    with read_session(engine) as session:
        return list(session.exec(select(Run).where(Run.org_id == org_id).order_by(col(Run.id))).all())


def _idle(engine: Engine, org_id: int) -> bool:
    return all(run.status in (RunStatus.SUCCEEDED, RunStatus.FAILED) for run in _runs(engine, org_id))


def _org(engine: Engine, slug: str, client_id: str, secret: str, base_url: str) -> int:
    org = organizations.create_organization(
        engine,
        slug=slug,
        name=slug.capitalize(),
        owner_email=f"owner@{slug}.example",
        owner_password="bench-password",
    )
    assert org.id is not None
    save_settings(engine, org.id, client_id=client_id, client_secret=secret, base_url=base_url)
    lifecycle.activate(engine, org.id, label="bench", require_test=False)
    return org.id


def _last_names(engine: Engine, org_id: int, personio_ids: list[str]) -> dict[str, str]:
    with read_session(engine) as session:
        rows = session.exec(
            select(User.personio_id, User.last_name).where(
                User.org_id == org_id, col(User.personio_id).in_(personio_ids)
            )
        ).all()
    return {str(pid): name for pid, name in rows}


def measure_changes(
    engine: Engine, org_id: int, admin: httpx.Client, people: list[int], scenario: Scenario, round_no: int
) -> list[float]:
    """Make one change per person as the scenario says; the seconds until each shows in the directory."""
    wanted: dict[str, tuple[str, float]] = {}
    latencies: dict[str, float] = {}

    def poll() -> None:
        if not wanted:
            return
        seen = _last_names(engine, org_id, list(wanted))
        now = time.monotonic()
        for pid, (name, started) in list(wanted.items()):
            if seen.get(pid) == name:
                latencies[pid] = now - started
                del wanted[pid]

    def settled() -> bool:
        poll()
        return not wanted

    for person_id in people:
        name = f"Bench{round_no}x{person_id}"
        admin.patch(f"/employees/{person_id}", json={"last_name": name}).raise_for_status()
        wanted[str(person_id)] = (name, time.monotonic())
        if scenario.interval is None:
            _wait(settled, f"change of {person_id} in the directory")
        else:
            until = time.monotonic() + scenario.interval
            while time.monotonic() < until:
                poll()
                time.sleep(POLL_SECONDS)
    _wait(settled, "every change in the directory")
    return [latencies[str(p)] for p in people]


@contextmanager
def product(workdir: Path, env: dict[str, str], receiver_port: int) -> Iterator[Processes]:
    processes = Processes(workdir)
    try:
        receiver = ["sync.webhooks", "--host", "127.0.0.1", "--port", str(receiver_port)]
        processes.start("receiver", receiver, env)

        def healthy() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{receiver_port}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        _wait(healthy, "the webhook receiver", timeout=60)
        yield processes
    finally:
        processes.stop_all()


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench latency", description=__doc__.split("\n\n")[0])
    parser.add_argument("--changes", type=int, default=20)
    parser.add_argument("--employees", type=int, default=300)
    parser.add_argument("--big", type=int, default=100_000, help="employees of the concurrent run (0: skip)")
    parser.add_argument("--engine", default="sqlite", choices=("sqlite", "postgresql"))
    options = parser.parse_args(argv)

    from bench.__main__ import database

    with tempfile.TemporaryDirectory(prefix="bench-latency-") as tmp:
        workdir = Path(tmp)
        small, small_url = start_sandbox(options.employees, workdir)
        big = None
        try:
            with database(options.engine, workdir, "latency") as db_url:
                receiver_port = free_port()
                env = {
                    "DATABASE_URL": db_url,
                    "DATA_DIR": str(workdir),
                    "APP_SECRET_KEY": "bench-key",
                    "PERSONIO_ALLOWED_BASE_URLS": "http://127.0.0.1:*",
                    "PUBLIC_WEBHOOK_BASE_URL": f"http://127.0.0.1:{receiver_port}",
                }
                os.environ.update(env)
                engine = make_engine(db_url)
                org_id = _org(engine, "stream", CLIENT_ID, CLIENT_SECRET, small_url)
                admin = httpx.Client(base_url=f"{small_url}/_admin", timeout=30)
                people = [
                    e["id"]
                    for e in admin.get("/employees").json()
                    if e["status"] == "active" and e["employment_type"] == "internal" and e["email"]
                ][: options.changes]
                rows: list[tuple[str, list[float], str]] = []
                with product(workdir, env, receiver_port) as processes:
                    scheduler = None
                    for round_no, scenario in enumerate(SCENARIOS):
                        if scheduler is not None:
                            processes.stop(scheduler)
                        scheduler = processes.start(
                            f"scheduler-{round_no}",
                            ["sync.scheduler"],
                            {
                                **env,
                                "WEBHOOK_QUIET_SECONDS": str(scenario.quiet),
                                "WEBHOOK_MAX_DELAY_SECONDS": str(scenario.max_delay),
                            },
                        )
                        _wait(lambda: _runs(engine, org_id) and _idle(engine, org_id), "the first run")
                        if round_no == 0:
                            near_real_time.switch_on(engine, org_id)
                        latencies = measure_changes(engine, org_id, admin, people, scenario, round_no)
                        _wait(lambda: _idle(engine, org_id), "the runs to end")
                        rows.append((scenario.label, latencies, scenario.goal))
                        _print_row(*rows[-1])
                    if options.big:
                        (workdir / "big").mkdir()
                        big, big_url = start_sandbox(options.big, workdir / "big")
                        _receiver_under_load(engine, admin, people, options.big, big_url)
                engine.dispose()
        finally:
            small.kill()
            if big is not None:
                big.kill()


def _print_row(label: str, latencies: list[float], goal: str) -> None:
    print(
        f"{label:<42} {len(latencies):>3} changes  median {statistics.median(latencies):6.1f} s  "
        f"max {max(latencies):6.1f} s  min {min(latencies):6.1f} s   goal: {goal}",
        flush=True,
    )


def _receiver_under_load(
    engine: Engine, admin: httpx.Client, people: list[int], employees: int, big_url: str
) -> None:
    """Deliveries to the receiver while another organization's initial run of `employees` executes."""
    big_org = _org(engine, "big", CLIENT_ID, CLIENT_SECRET, big_url)
    admin.delete("/deliveries").raise_for_status()
    _wait(lambda: any(r.status == RunStatus.RUNNING for r in _runs(engine, big_org)), "the big run to start")
    sent = 0
    while any(r.status == RunStatus.RUNNING for r in _runs(engine, big_org)) and sent < 4 * len(people):
        person = people[sent % len(people)]
        admin.patch(f"/employees/{person}", json={"last_name": f"Load{sent}"}).raise_for_status()
        sent += 1
        time.sleep(0.5)
    _wait(lambda: _idle(engine, big_org), "the big run to end", timeout=3600)
    deliveries = admin.get("/deliveries").json()
    waits = [request["seconds"] for d in deliveries for request in d["requests"] if request.get("seconds")]
    retried = sum(1 for d in deliveries if d["attempts"] > 1)
    [run] = _runs(engine, big_org)
    print(
        f"receiver during a {employees:,}-employee run ({run.status}): {len(deliveries)} deliveries, "
        f"acknowledged in median {statistics.median(waits) * 1000:.0f} ms, max {max(waits) * 1000:.0f} ms, "
        f"{retried} needed a second attempt   goal: every one < 3 s",
        flush=True,
    )
