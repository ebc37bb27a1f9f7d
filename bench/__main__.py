"""`make bench`: initial and no-op syncs of 1,000, 20,000 and 100,000 employees on SQLite and
PostgreSQL, phase by phase (fetch, plan, apply, log), as ratios to floors measured in the same run.

    python -m bench [--sizes 1000,20000,100000] [--engines sqlite,postgresql]
    python -m bench multitenant [--orgs N] [--employees N] [--latency-ms N] [--engines ...]
    python -m bench latency [--changes 20] [--employees 300] [--big 100000] [--engine sqlite]

Each size runs in its own process against its own sandbox (rate limits off, so that the figures
measure our overhead, not Personio's 300 requests/minute) and a fresh database (PostgreSQL:
BENCH_POSTGRES_URL, default the local server of `make postgres`). A run's total includes the
start of `python -m sync`; its floor is the start of a bare interpreter with httpx and
SQLModel, a bare download and parse, and (initial runs) a raw write of the same rows into the
same tables with the database's own driver (sqlite3's executemany, psycopg's COPY).

"no-op" is the first run after the initial one: nothing changed, and it compares everything to
find that out. "same" is a run after that: Personio's answer and the directory are the same as
at that no-op run, so it skips planning (sync/integration/unchanged.py).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from bench.one_size import REPEATS
from bench.sandbox import CLIENT_ID, CLIENT_SECRET, ROOT, start_sandbox

POSTGRES_SERVER_URL = os.environ.get(
    "BENCH_POSTGRES_URL", "postgresql+psycopg://sync:sync@127.0.0.1:5432/postgres"
)


@contextmanager
def database(engine: str, workdir: Path, name: str) -> Iterator[str]:
    """A fresh database: the SQLite file `name`.db, or a PostgreSQL database dropped afterwards."""
    if engine == "sqlite":
        yield f"sqlite:///{workdir / name}.db"
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"bench_{name}_{uuid.uuid4().hex[:12]}"
    server = create_engine(POSTGRES_SERVER_URL, isolation_level="AUTOCOMMIT")
    try:
        with server.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        raise SystemExit(
            f"PostgreSQL at {make_url(POSTGRES_SERVER_URL).render_as_string()} cannot be used ({exc}). "
            "Hint: run `make postgres`, set BENCH_POSTGRES_URL, or pass --engines sqlite."
        ) from None
    try:
        yield make_url(POSTGRES_SERVER_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with server.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        server.dispose()


def measure(employees: int, engine: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"bench-{employees}-") as tmp:
        workdir = Path(tmp)
        sandbox, base_url = start_sandbox(employees, workdir)
        try:
            with ExitStack() as databases:
                # A fresh database for each initial run and for each raw write (the floor).
                tries = range(REPEATS)
                db_urls = [databases.enter_context(database(engine, workdir, f"app{i}")) for i in tries]
                floor_urls = [databases.enter_context(database(engine, workdir, f"floor{i}")) for i in tries]
                env = {
                    **os.environ,
                    "DATA_DIR": str(workdir),
                    "APP_SECRET_KEY": "bench-key",
                    # Pacing off, as the floors do not pace: the per-credential pace and the
                    # process's ceiling per host (1,800 requests a minute would hold the no-op run
                    # of 100,000 employees, its second 1,000 pages within one minute, for ~15 s).
                    "PERSONIO_RATE_LIMIT_PER_MINUTE": "0",
                    "PERSONIO_HOST_RATE_LIMIT_PER_MINUTE": "0",
                    "PERSONIO_ALLOWED_BASE_URLS": base_url,
                }
                child = subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "bench.one_size",
                        "--employees",
                        str(employees),
                        "--base-url",
                        base_url,
                        "--client-id",
                        CLIENT_ID,
                        "--client-secret",
                        CLIENT_SECRET,
                        *(f"--db-url={url}" for url in db_urls),
                        *(f"--floor-db-url={url}" for url in floor_urls),
                    ],
                    cwd=ROOT,
                    env=env,
                    capture_output=True,
                    text=True,
                    check=False,
                )
        finally:
            sandbox.terminate()
            sandbox.wait(timeout=30)
        if child.returncode != 0:
            raise SystemExit(f"the benchmark of {employees} employees on {engine} failed:\n{child.stderr}")
    return json.loads(child.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def start_seconds(command: list[str]) -> float:
    """The fastest of three starts of `command` (a new interpreter each time)."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        subprocess.run(command, cwd=ROOT, capture_output=True, check=True)
        best = min(best, time.perf_counter() - start)
    return best


def row(label: str, run: dict[str, Any], start: float, floor: float) -> str:
    p = run["phases"]
    total = start + p["total"]
    return (
        f"  {label:<8} {p['fetch']:6.2f} {p['plan']:6.2f} {p['apply']:6.2f} {p['log']:6.2f}"
        f" {total:7.2f}  {floor:7.2f}  {total / floor:5.2f}x  {run['statements']:>5}  {run['changes']:>7}"
    )


def main(argv: list[str]) -> None:
    if argv[:1] == ["latency"]:
        from bench.latency import main as latency

        latency(argv[1:])
        return
    if argv[:1] == ["multitenant"]:
        from bench.multitenant import main as multitenant

        multitenant(argv[1:])
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1000,20000,100000")
    parser.add_argument("--engines", default="sqlite,postgresql")
    options = parser.parse_args(argv)
    sizes = [int(s) for s in options.sizes.split(",")]
    engines = [e.strip() for e in options.engines.split(",") if e.strip()]
    unknown = set(engines) - {"sqlite", "postgresql"}
    if unknown:
        raise SystemExit(f"unknown engine(s) {sorted(unknown)}: use sqlite and/or postgresql")
    print("Personio Sync benchmark: sandbox over loopback HTTP (no rate limit), a fresh database per size\n")
    # What a sync program built on the customer's stack starts with at least (an interpreter with
    # httpx and SQLModel loaded), and what `python -m sync` takes to start: added to every run below.
    start_floor = start_seconds([sys.executable, "-c", "import httpx, sqlmodel"])
    cli_start = start_seconds([sys.executable, "-m", "sync", "--help"])
    print(
        f"start    python -m sync {cli_start:.2f}s;"
        f" floor: an interpreter with httpx and SQLModel {start_floor:.2f}s\n"
    )
    header = "           fetch   plan  apply    log   total    floor  ratio   SQL  changes"
    for engine in engines:
        for employees in sizes:
            r = measure(employees, engine)
            initial_floor = start_floor + r["download_floor"] + r["write_floor"]
            noop_floor = start_floor + r["download_floor"]
            print(f"{employees:,} employees on {engine}  (peak memory {r['peak_rss_mib']:.0f} MiB)")
            print(header)
            print(row("initial", r["initial"], cli_start, initial_floor))
            print(row("no-op", r["first_noop"], cli_start, noop_floor))
            print(row("same", r["noop"], cli_start, noop_floor))
            print(
                f"  floors   start {start_floor:.2f}s + download and parse {r['download_floor']:.2f}s"
                f" + raw write of the same rows {r['write_floor']:.2f}s (no-op, same: start + download)\n"
            )


if __name__ == "__main__":
    main(sys.argv[1:])
