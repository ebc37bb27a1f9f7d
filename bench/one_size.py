"""One benchmark size in its own process, so that its peak memory is its own.

    python -m bench.one_size --employees 10000 --base-url URL --client-id ID --client-secret S \
        --db-url URL --floor-db-url URL

Prints one JSON object: phase times (fetch, plan, apply, log) of an initial sync and of the
fastest of three no-op runs after it, peak memory (max RSS), SQL statement counts, and the two
floors: the fastest of three bare downloads (httpx, orjson, taken in turn with the no-op runs),
and a raw write of the same rows into the same tables of an empty database with the database's
own driver (`schema_write_floor`).
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import orjson
from sqlalchemy import Engine, event
from sqlmodel import select

from storage.clock import utcnow
from storage.db import make_engine, read_session, write_session
from storage.models import Integration, Run
from sync.accounts.organizations import create_organization
from sync.core.employees import SYNC_ATTRIBUTES
from sync.core.plan import Plan
from sync.core.settings import TEAM_ATTRIBUTES
from sync.integration.apply import apply_directory, log_run
from sync.integration.settings import save_settings, settings_of
from sync.integration.source import fetch_source, paused_gc, plan_source

REPEATS = 3  # no-op runs and bare downloads per size: the fastest of each counts


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
            apply_directory(
                session, plan, org_id=org_id, org_name="Bench", run_id=run_id, language="en", now=utcnow()
            )
        with timed(phases, "log"), paused_gc():
            assert run_id is not None
            log_run(session, plan, run_id)
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
    """A bare httpx loop: sign in, fetch every page of 100, parse the JSON (orjson, as the client
    does). Nothing else."""
    start = time.perf_counter()
    with httpx.Client(base_url=args.base_url, timeout=60) as http:
        token = http.post("/v1/auth", json={"client_id": args.client_id, "client_secret": args.client_secret})
        headers = {"Authorization": f"Bearer {token.json()['data']['token']}"}
        params: list[tuple[str, str | int]] = [("attributes[]", a) for a in SYNC_ATTRIBUTES]
        offset = 0
        while True:
            page = http.get(
                "/v1/company/employees", params=[*params, ("limit", 100), ("offset", offset)], headers=headers
            )
            body = orjson.loads(page.content)
            offset += 100
            if offset >= body["metadata"]["total_elements"]:
                break
    return time.perf_counter() - start


def schema_write_floor(url: str, rows: dict[str, int]) -> float:
    """The rows an initial run wrote (as many users, teams, memberships, changes and emails), written
    into the product's own tables of a fresh database by the driver alone, one transaction: SQLite
    by sqlite3's executemany, PostgreSQL by psycopg's COPY. What remains above it is our own work.
    """
    engine = make_engine(url)
    org = create_organization(
        engine, slug="floor", name="Floor", owner_email="owner@floor.test", owner_password="floor-password"
    )
    assert org.id is not None
    with write_session(engine) as session:
        run = Run(org_id=org.id, trigger="manual", status="running", queued_at=utcnow(), started_at=utcnow())
        session.add(run)
        session.flush()
        run_id = run.id
    sqlite = url.startswith("sqlite")
    now: Any = utcnow().strftime("%Y-%m-%d %H:%M:%S.%f") if sqlite else utcnow().replace(tzinfo=None)
    users = [
        (
            org.id,
            f"u{i}@x.io",
            f"u{i}@x.io",
            "First",
            "Last",
            "Engineer",
            "active",
            "member",
            "en",
            str(i),
            "personio",
            now,
            now,
        )
        for i in range(rows["users"])
    ]
    teams = [(org.id, f"Team {i}", "department", str(i), now) for i in range(rows["teams"])]
    after = orjson.dumps({"email": "u0@x.io", "first_name": "First", "last_name": "Last"}).decode()
    changes = [(run_id, "user", "create", f"u{i}@x.io", str(i), None, after) for i in range(rows["changes"])]
    emails = [
        (org.id, f"u{i}@x.io", "Welcome", "Hello " * 40, "welcome", "en", run_id, now, 0, now)
        for i in range(rows["emails"])
    ]
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()

        def write(table: str, columns: str, values: list[tuple[Any, ...]]) -> None:
            names = [c.strip() for c in columns.split(",")]
            quoted = ", ".join(f'"{n}"' for n in names)
            if sqlite:
                marks = ", ".join("?" for _ in names)
                cursor.executemany(f'INSERT INTO "{table}" ({quoted}) VALUES ({marks})', values)
                return
            with cursor.copy(f'COPY "{table}" ({quoted}) FROM STDIN') as copy:
                for value in values:
                    copy.write_row(value)

        start = time.perf_counter()
        if sqlite:
            cursor.execute("BEGIN IMMEDIATE")
        write(
            "user",
            "org_id, email, email_key, first_name, last_name, job_title, status, role, language, "
            "personio_id, source, created_at, updated_at",
            users,
        )
        write("team", "org_id, name, source_attribute, source_key, created_at", teams)
        cursor.execute('SELECT id FROM "user" WHERE personio_id IS NOT NULL ORDER BY id')
        user_ids = [r[0] for r in cursor.fetchall()]
        cursor.execute('SELECT id FROM "team" ORDER BY id')
        team_ids = [r[0] for r in cursor.fetchall()] or [0]
        pairs = [
            (team_ids[i % len(team_ids)], user_ids[(i // len(team_ids)) % len(user_ids)], "member")
            for i in range(min(rows["memberships"], len(team_ids) * len(user_ids)))
        ]
        write("teammember", "team_id, user_id, role", pairs)
        write("runchange", "run_id, entity, action, key, personio_id, before, after", changes)
        write(
            "outboxemail",
            "org_id, to, subject, body, kind, language, run_id, created_at, attempts, next_attempt_at",
            emails,
        )
        raw.commit()
        elapsed = time.perf_counter() - start
    finally:
        raw.close()
        engine.dispose()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--employees", type=int, required=True)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--client-secret", required=True)
    parser.add_argument("--db-url", required=True)
    parser.add_argument("--floor-db-url", required=True, help="an empty database for the raw write floor")
    args = parser.parse_args()

    engine = make_engine(args.db_url)
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
    # A no-op run and a bare download can be repeated: the best of a few, alternating, so that a
    # noisy neighbour on the machine does not decide the ratio (an initial run happens once).
    noops: list[dict[str, Any]] = []
    downloads: list[float] = []
    for _ in range(REPEATS):
        noops.append(one_run(engine, org.id, counter))
        downloads.append(download_floor(args))
    result = {
        "employees": args.employees,
        "initial": initial,
        "noop": min(noops, key=lambda run: float(run["phases"]["total"])),
        "peak_rss_mib": peak_initial,
        "peak_rss_mib_after_noop": peak_rss_mib(),
        "download_floor": min(downloads),
        "write_floor": schema_write_floor(args.floor_db_url, initial["rows"]),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
