"""Many organizations due at once: runs per minute for 1 scheduler x 1 worker, 1 x 4 and 2 x 4.

    python -m bench multitenant [--orgs 100] [--employees 300] [--latency-ms 150]
                                [--engines sqlite,postgresql]

One sandbox serves every organization, each with credentials of its own (Personio paces per
credential), and answers every request after `--latency-ms` (a real Personio is far away: runs
wait on the network). For each engine and each setup: a fresh database with `--orgs`
organizations whose automatic run is due at the same moment, then real `python -m sync.scheduler`
processes until every run finished. Runs per minute count from the first run's start to the last
run's end (as the database recorded them), so process start-up is not in the figure. Printed as
ratios: 4 workers / 1 worker (goal >= 3) and 2 processes / 1 process (goal >= 1.8, PostgreSQL).

PostgreSQL: BENCH_POSTGRES_URL (default postgresql+psycopg://sync:sync@127.0.0.1:5432/postgres, the
server of `make postgres`); a database is created per setup and dropped after it.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from unittest.mock import patch

import httpx
from sqlalchemy import create_engine, func, text, update
from sqlalchemy.engine import make_url
from sqlmodel import col, select

from bench.sandbox import ROOT, start_sandbox
from storage.clock import utcnow
from storage.db import make_engine, read_session, write_session
from storage.models import Integration, Run
from sync.accounts import organizations
from sync.accounts.passwords import hash_password
from sync.core.states import IntegrationState, RunStatus
from sync.integration.settings import save_settings

SETUPS = ((1, 1), (1, 4), (2, 4))  # (scheduler processes, SCHEDULER_WORKERS each)
POSTGRES_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql+psycopg://sync:sync@127.0.0.1:5432/postgres")
RUNS_DEADLINE_SECONDS = 3600.0


@dataclass(frozen=True)
class Figure:
    engine: str
    processes: int
    workers: int
    succeeded: int
    failed: dict[str, int]
    seconds: float

    @property
    def runs_per_minute(self) -> float:
        return (self.succeeded + sum(self.failed.values())) / self.seconds * 60 if self.seconds else 0.0


def add_credentials(base_url: str, orgs: int) -> list[tuple[str, str]]:
    """One credential per organization in the sandbox."""
    pairs = [(f"papi-bench-{n}", f"papi-bench-secret-{n}") for n in range(orgs)]
    with httpx.Client(base_url=f"{base_url}/_admin", timeout=30) as admin:
        for client_id, secret in pairs:
            admin.post(
                "/credentials", json={"client_id": client_id, "client_secret": secret}
            ).raise_for_status()
    return pairs


def set_latency(base_url: str, latency_ms: int) -> None:
    httpx.put(f"{base_url}/_admin/faults", json={"latency_ms": latency_ms}, timeout=30).raise_for_status()


@contextmanager
def fresh_database(engine_kind: str, workdir: Path, label: str) -> Iterator[str]:
    """The URL of an empty database for one setup (a SQLite file, or a PostgreSQL database)."""
    if engine_kind == "sqlite":
        yield f"sqlite:///{workdir / f'{label}.db'}"
        return
    name = f"bench_mt_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 10})
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        admin.dispose()
        raise SystemExit(
            f"PostgreSQL is not reachable at {make_url(POSTGRES_URL).host}: run `make postgres` "
            f"(or set BENCH_POSTGRES_URL), or pass --engines sqlite. {str(exc).splitlines()[0]}"
        ) from None
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def set_up(url: str, base_url: str, credentials: list[tuple[str, str]]) -> None:
    """The organizations, each with its integration active and its automatic run due now."""
    engine = make_engine(url)
    # The owners never log in here: one real hash for all, instead of 0.75 s of argon2 per org.
    owner_hash = hash_password("bench-password")
    with patch.object(organizations, "hash_password", lambda _password: owner_hash):
        for n, (client_id, secret) in enumerate(credentials):
            org = organizations.create_organization(
                engine,
                slug=f"tenant{n:03d}",
                name=f"Tenant {n}",
                owner_email=f"owner@tenant{n:03d}.example",
                owner_password="bench-password",
            )
            assert org.id is not None
            save_settings(
                engine,
                org.id,
                client_id=client_id,
                client_secret=secret,
                base_url=base_url,
                team_attributes=["department", "supervisor"],
            )
    due = utcnow() - timedelta(minutes=1)
    with write_session(engine) as session:
        session.execute(update(Integration).values(state=IntegrationState.ACTIVE, next_run_at=due))
    engine.dispose()


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def run_schedulers(
    url: str, base_url: str, orgs: int, processes: int, workers: int, workdir: Path, label: str
) -> tuple[int, dict[str, int], float]:
    """Start the schedulers, wait until every organization's run finished, stop them.

    Returns (succeeded, failures by error code, seconds from the first start to the last finish).
    """
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "SCHEDULER_WORKERS": str(workers),
        "SCHEDULER_TICK_SECONDS": "1",
        "PERSONIO_ALLOWED_BASE_URLS": base_url,
        "PYTHONPATH": str(ROOT),
    }
    started: list[subprocess.Popen[bytes]] = []
    for n in range(processes):
        with (workdir / f"{label}-scheduler-{n + 1}.log").open("wb") as log:
            started.append(
                subprocess.Popen(
                    [sys.executable, "-m", "sync.scheduler"],
                    cwd=ROOT,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
    engine = make_engine(url)
    finished_statuses = (RunStatus.SUCCEEDED, RunStatus.FAILED)
    try:
        deadline = time.monotonic() + RUNS_DEADLINE_SECONDS
        while True:
            with read_session(engine) as session:
                done = session.exec(
                    select(func.count()).select_from(Run).where(col(Run.status).in_(finished_statuses))
                ).one()
            if done >= orgs:
                break
            if any(process.poll() is not None for process in started):
                raise SystemExit(f"a scheduler exited early; see {workdir}/{label}-scheduler-*.log")
            if time.monotonic() > deadline:
                raise SystemExit(
                    f"{label}: only {done} of {orgs} runs finished in {RUNS_DEADLINE_SECONDS:.0f} s"
                )
            time.sleep(0.5)
        with read_session(engine) as session:
            runs = session.exec(select(Run)).all()
    finally:
        for process in started:
            process.send_signal(signal.SIGTERM)
        for process in started:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
        engine.dispose()
    succeeded = sum(1 for run in runs if run.status == RunStatus.SUCCEEDED)
    failed: dict[str, int] = {}
    for run in runs:
        if run.status == RunStatus.FAILED:
            failed[str(run.error_code)] = failed.get(str(run.error_code), 0) + 1
    first = min(_utc(run.started_at) for run in runs if run.started_at is not None)
    last = max(_utc(run.finished_at) for run in runs if run.finished_at is not None)
    return succeeded, failed, (last - first).total_seconds()


def measure(engine_kind: str, args: argparse.Namespace, base_url: str, workdir: Path) -> list[Figure]:
    credentials = [(f"papi-bench-{n}", f"papi-bench-secret-{n}") for n in range(args.orgs)]
    figures = []
    for processes, workers in SETUPS:
        label = f"{engine_kind}-{processes}x{workers}"
        with fresh_database(engine_kind, workdir, label) as url:
            set_up(url, base_url, credentials)
            succeeded, failed, seconds = run_schedulers(
                url, base_url, args.orgs, processes, workers, workdir, label
            )
        figure = Figure(engine_kind, processes, workers, succeeded, failed, seconds)
        figures.append(figure)
        print(row(figure), flush=True)
    return figures


def row(figure: Figure) -> str:
    workers = "worker " if figure.workers == 1 else "workers"
    failed = (
        "  failed: " + ", ".join(f"{n} {code}" for code, n in sorted(figure.failed.items()))
        if figure.failed
        else ""
    )
    return (
        f"  {figure.engine:<11} {figure.processes} x {figure.workers} {workers}"
        f"  {figure.runs_per_minute:7.1f} runs/min"
        f"  ({figure.succeeded} succeeded in {figure.seconds:.1f} s){failed}"
    )


def ratios(figures: list[Figure]) -> str:
    by_setup = {(f.processes, f.workers): f.runs_per_minute for f in figures}
    one, four, two_processes = by_setup[(1, 1)], by_setup[(1, 4)], by_setup[(2, 4)]
    engine = figures[0].engine
    goal = " (goal >= 1.8)" if engine == "postgresql" else ""
    return (
        f"  ratio       4 workers / 1 worker = {four / one:.2f}x (goal >= 3);"
        f" 2 processes / 1 process = {two_processes / four:.2f}x{goal}\n"
    )


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench multitenant",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--orgs", type=int, default=100)
    parser.add_argument("--employees", type=int, default=300)
    parser.add_argument("--latency-ms", type=int, default=150)
    parser.add_argument("--engines", default="sqlite,postgresql")
    args = parser.parse_args(argv)
    engines = [kind.strip() for kind in args.engines.split(",") if kind.strip()]
    unknown = set(engines) - {"sqlite", "postgresql"}
    if unknown or not engines or args.orgs < 1 or args.employees < 1 or args.latency_ms < 0:
        parser.error("--engines takes sqlite and/or postgresql; --orgs and --employees at least 1")
    print(
        f"Multi-tenant: {args.orgs} organizations x {args.employees} employees, all due at once,"
        f" sandbox latency {args.latency_ms} ms per request, per-credential pacing on\n"
    )
    with tempfile.TemporaryDirectory(prefix="bench-multitenant-") as tmp:
        workdir = Path(tmp)
        # The key that encrypts the Client Secrets: the same here (set-up) and in the schedulers.
        os.environ["APP_SECRET_KEY"] = "bench-key"
        os.environ["DATA_DIR"] = str(workdir)
        sandbox, base_url = start_sandbox(args.employees, workdir)
        os.environ["PERSONIO_ALLOWED_BASE_URLS"] = base_url
        try:
            add_credentials(base_url, args.orgs)
            set_latency(base_url, args.latency_ms)
            for engine_kind in engines:
                print(ratios(measure(engine_kind, args, base_url, workdir)), flush=True)
        finally:
            sandbox.terminate()
            sandbox.wait(timeout=30)
