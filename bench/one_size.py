"""One benchmark size in its own process, so that its peak memory is its own.

    python -m bench.one_size --employees 10000 --base-url URL --client-id ID --client-secret S --db PATH

Prints one JSON object: phase times of an initial sync and of an immediate no-op run,
peak memory (max RSS), SQL statement counts, and the two floors.
"""

from __future__ import annotations

import argparse
import json
import resource
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, event
from sqlmodel import select

from storage.clock import utcnow
from storage.db import make_engine, read_session, write_session
from storage.models import Integration, Run
from sync.accounts.organizations import create_organization
from sync.core.employees import SYNC_ATTRIBUTES
from sync.core.plan import Plan
from sync.core.settings import TEAM_ATTRIBUTES
from sync.integration.apply import apply_plan
from sync.integration.settings import save_settings, settings_of
from sync.integration.source import fetch_source, paused_gc, plan_source


class StatementCounter:
    def __init__(self, engine: Engine) -> None:
        self.count = 0
        event.listen(engine, "before_cursor_execute", self._count)

    def _count(self, *_args: Any) -> None:
        self.count += 1


@contextmanager
def timed(results: dict[str, float], name: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    results[name] = time.perf_counter() - start


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def one_run(engine: Engine, org_id: int, counter: StatementCounter) -> dict[str, Any]:
    """The runner's own phases (fetch_source, plan_source, apply_plan), timed one by one."""
    phases: dict[str, float] = {}
    with read_session(engine) as session:
        integration = session.exec(select(Integration).where(Integration.org_id == org_id)).one()
        settings = settings_of(integration)
    before = counter.count
    with timed(phases, "fetch"):
        source = fetch_source(integration, settings, on_progress=None, client_factory=None)
    with write_session(engine) as session:
        run = Run(org_id=org_id, trigger="manual", status="running", queued_at=utcnow(), started_at=utcnow())
        session.add(run)
        session.flush()
        run_id = run.id
    with write_session(engine) as session:
        with timed(phases, "plan"):
            plan: Plan = plan_source(source, session, org_id, settings)
        with timed(phases, "apply"), paused_gc():
            apply_plan(
                session, plan, org_id=org_id, org_name="Bench", run_id=run_id, language="en", now=utcnow()
            )
            finished = session.get(Run, run_id)
            assert finished is not None
            finished.status, finished.finished_at = "succeeded", utcnow()
            session.add(finished)
    phases["total"] = sum(phases.values())
    return {
        "phases": phases,
        "statements": counter.count - before,
        "changes": len(plan.changes),
        "users_created": plan.counts["users_created"],
        "rows": {
            "users": len(plan.new_users),
            "teams": len(plan.new_teams),
            "memberships": len(plan.membership_adds),
            "changes": len(plan.changes),
            "emails": len(plan.new_users),
        },
    }


def download_floor(args: argparse.Namespace) -> float:
    """A bare httpx loop: sign in, fetch every page of 100, parse the JSON. Nothing else."""
    start = time.perf_counter()
    with httpx.Client(base_url=args.base_url, timeout=60) as http:
        token = http.post("/v1/auth", json={"client_id": args.client_id, "client_secret": args.client_secret})
        headers = {"Authorization": f"Bearer {token.json()['data']['token']}"}
        params: list[tuple[str, str | int]] = [("attributes[]", a) for a in SYNC_ATTRIBUTES]
        offset = 0
        while True:
            page = http.get(
                "/v1/company/employees", params=[*params, ("limit", 100), ("offset", offset)], headers=headers
            ).json()
            offset += 100
            if offset >= page["metadata"]["total_elements"]:
                break
    return time.perf_counter() - start


def write_floor(path: Path, rows: dict[str, int]) -> float:
    """Raw sqlite3.executemany of the same number of rows into plain tables, one transaction."""
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.executescript(
        """
        CREATE TABLE users (id INTEGER PRIMARY KEY, org_id INT, email TEXT, email_key TEXT,
          first_name TEXT, last_name TEXT, job_title TEXT, status TEXT, personio_id TEXT,
          created_at TEXT, UNIQUE(org_id, email_key), UNIQUE(org_id, personio_id));
        CREATE TABLE teams (id INTEGER PRIMARY KEY, org_id INT, name TEXT, attr TEXT, key TEXT,
          UNIQUE(org_id, name));
        CREATE TABLE members (team_id INT, user_id INT, role TEXT, PRIMARY KEY (team_id, user_id));
        CREATE TABLE changes (id INTEGER PRIMARY KEY, run_id INT, entity TEXT, action TEXT, key TEXT,
          after TEXT);
        CREATE TABLE emails (id INTEGER PRIMARY KEY, recipient TEXT, subject TEXT, body TEXT);
        """
    )
    start = time.perf_counter()
    with connection:
        connection.executemany(
            "INSERT INTO users (org_id, email, email_key, first_name, last_name, job_title, status,"
            " personio_id, created_at)"
            " VALUES (1, ?, ?, 'First', 'Last', 'Engineer', 'active', ?, '2026-01-01')",
            ((f"u{i}@x.io", f"u{i}@x.io", str(i)) for i in range(rows["users"])),
        )
        connection.executemany(
            "INSERT INTO teams (org_id, name, attr, key) VALUES (1, ?, 'department', ?)",
            ((f"Team {i}", str(i)) for i in range(rows["teams"])),
        )
        connection.executemany(
            "INSERT INTO members VALUES (?, ?, 'member')",
            ((i % max(rows["teams"], 1), i) for i in range(rows["memberships"])),
        )
        connection.executemany(
            "INSERT INTO changes (run_id, entity, action, key, after) VALUES (1, 'user', 'create', ?, ?)",
            (
                (f"u{i}@x.io", json.dumps({"email": f"u{i}@x.io", "first_name": "First"}))
                for i in range(rows["changes"])
            ),
        )
        connection.executemany(
            "INSERT INTO emails (recipient, subject, body) VALUES (?, 'Welcome', ?)",
            ((f"u{i}@x.io", "Hello " * 40) for i in range(rows["emails"])),
        )
    elapsed = time.perf_counter() - start
    connection.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--employees", type=int, required=True)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--client-secret", required=True)
    parser.add_argument("--db", type=Path, required=True)
    args = parser.parse_args()

    engine = make_engine(f"sqlite:///{args.db}")
    counter = StatementCounter(engine)
    org = create_organization(
        engine, slug="bench", name="Bench", owner_email="owner@bench.test", owner_password="bench-password"
    )
    assert org.id is not None
    save_settings(
        engine,
        org.id,
        client_id=args.client_id,
        client_secret=args.client_secret,
        base_url=args.base_url,
        team_attributes=list(TEAM_ATTRIBUTES),
        sync_external=True,
    )
    initial = one_run(engine, org.id, counter)
    peak_initial = peak_rss_mib()
    noop = one_run(engine, org.id, counter)
    result = {
        "employees": args.employees,
        "initial": initial,
        "noop": noop,
        "peak_rss_mib": peak_initial,
        "peak_rss_mib_after_noop": peak_rss_mib(),
        "download_floor": download_floor(args),
        "write_floor": write_floor(args.db.with_name("floor.db"), initial["rows"]),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
