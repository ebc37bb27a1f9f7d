"""One benchmark size in its own process, so that its peak memory is its own.

    python -m bench.one_size --employees 10000 --base-url URL --client-id ID --client-secret S \
        --db-url URL [--db-url URL ...] --floor-db-url URL [--floor-db-url URL ...]

Prints one JSON object: phase times (fetch, plan, apply, log) of the fastest initial sync (one per
fresh database given), of the first no-op run after it (which compares everything) and of the
fastest of three no-op runs after that (which find nothing changed and skip planning), peak
memory (max RSS), SQL statement counts, and the two floors: the fastest of four bare downloads
(httpx, orjson, taken in turn with the no-op runs), and the fastest raw write of the very rows the
initial run wrote into the same tables of an empty database (one per --floor-db-url) with the
database's own driver (`schema_write_floor`).
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
from sqlalchemy import JSON, Engine, event
from sqlmodel import SQLModel, select

from storage.clock import utcnow
from storage.db import make_engine, read_session, write_session
from storage.models import Integration, OutboxEmail, Run, RunChange, RunWarning, Team, TeamMember, User, table
from sync.accounts.organizations import create_organization
from sync.core.employees import SYNC_ATTRIBUTES
from sync.core.plan import Plan
from sync.core.settings import TEAM_ATTRIBUTES
from sync.integration.apply import apply_directory, log_run, supervisors_first
from sync.integration.settings import save_settings, settings_of
from sync.integration.source import fetch_source, paused_gc, plan_source
from sync.integration.unchanged import DigestWhileFetching, remember_unchanged

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
    with timed(phases, "fetch"), DigestWhileFetching(engine, org_id) as early:
        source = fetch_source(integration, settings, on_progress=None, client_factory=None)
    with write_session(engine) as session:
        run = Run(org_id=org_id, trigger="manual", status="running", queued_at=utcnow(), started_at=utcnow())
        session.add(run)
        session.flush()
        run_id = run.id
    with write_session(engine) as session:
        with timed(phases, "plan"):
            plan: Plan = plan_source(source, session, org_id, settings, early=early)
        with timed(phases, "apply"), paused_gc():
            apply_directory(
                session, plan, org_id=org_id, org_name="Bench", run_id=run_id, language="en", now=utcnow()
            )
        with timed(phases, "log"), paused_gc():
            assert run_id is not None
            log_run(session, plan, run_id)
            remember_unchanged(session, org_id, plan)
            finished = session.get(Run, run_id)
            assert finished is not None
            finished.status, finished.finished_at = "succeeded", utcnow()
            session.add(finished)
    phases["total"] = sum(phases.values())
    return {
        "run_id": run_id,
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


def schema_write_floor(
    app_url: str, floor_url: str, org_id: int, run_id: int, counts: dict[str, int]
) -> float:
    """The very rows the initial run wrote (its users, teams, memberships, change log, warnings
    and welcome emails, every column as stored), read back from the run's database and written
    into the product's own tables of a fresh one by the driver alone, in one transaction: SQLite
    by sqlite3's executemany, PostgreSQL by psycopg's COPY. What remains above it is our own work.

    Users go in supervisors first, each with its link (as a run writes them); a link that closes
    a loop of supervisors is set by an UPDATE afterwards, as a run does.
    """
    tables = _rows_written(app_url, org_id, run_id)
    read = {
        "users": "user",
        "teams": "team",
        "memberships": "teammember",
        "changes": "runchange",
        "emails": "outboxemail",
    }
    assert {key: len(tables[name][1]) for key, name in read.items()} == counts, (
        "the floor must write what the run did"
    )
    engine = make_engine(floor_url)
    org = create_organization(
        engine, slug="floor", name="Floor", owner_email="owner@floor.test", owner_password="floor-password"
    )
    assert org.id is not None
    with write_session(engine) as session:
        run = Run(org_id=org.id, trigger="manual", status="running", queued_at=utcnow(), started_at=utcnow())
        session.add(run)
        session.flush()
        floor_run_id = run.id
    for name, (columns, rows) in tables.items():  # the floor's own organization and run
        ids = {"org_id": org.id, "run_id": floor_run_id}
        at = [(i, ids[c]) for i, c in enumerate(columns) if c in ids]
        tables[name] = (columns, [_with(row, at) for row in rows])
    users_columns, users = tables.pop("user")
    ordered, loops = _supervisors_before_reports(users_columns, users)
    sqlite = floor_url.startswith("sqlite")
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()

        def write(table: str, columns: tuple[str, ...], values: list[tuple[Any, ...]]) -> None:
            quoted = ", ".join(f'"{n}"' for n in columns)
            if sqlite:
                marks = ", ".join("?" for _ in columns)
                cursor.executemany(f'INSERT INTO "{table}" ({quoted}) VALUES ({marks})', values)
                return
            with cursor.copy(f'COPY "{table}" ({quoted}) FROM STDIN') as copy:
                for value in values:
                    copy.write_row(value)

        mark = "?" if sqlite else "%s"
        start = time.perf_counter()
        if sqlite:
            cursor.execute("BEGIN IMMEDIATE")
        write("user", users_columns, ordered)
        cursor.executemany(f'UPDATE "user" SET supervisor_id = {mark} WHERE id = {mark}', loops)
        for name, (columns, rows) in tables.items():
            write(name, columns, rows)
        raw.commit()
        elapsed = time.perf_counter() - start
    finally:
        raw.close()
        engine.dispose()
    return elapsed


def _with(row: tuple[Any, ...], at: list[tuple[int, Any]]) -> tuple[Any, ...]:
    values = list(row)
    for index, value in at:
        values[index] = value
    return tuple(values)


def _rows_written(
    url: str, org_id: int, run_id: int
) -> dict[str, tuple[tuple[str, ...], list[tuple[Any, ...]]]]:
    """table -> (columns, rows) of what the run wrote, in the order they are written; JSON as text."""
    engine = make_engine(url)
    owned: dict[str, tuple[type[SQLModel], str]] = {
        "user": (User, f"org_id = {org_id} AND source = 'personio' ORDER BY id"),
        "team": (Team, f"org_id = {org_id} ORDER BY id"),
        "teammember": (
            TeamMember,
            f"team_id IN (SELECT id FROM team WHERE org_id = {org_id}) ORDER BY team_id, user_id",
        ),
        "runchange": (RunChange, f"run_id = {run_id} ORDER BY id"),
        "runwarning": (RunWarning, f"run_id = {run_id} ORDER BY id"),
        "outboxemail": (OutboxEmail, f"run_id = {run_id} ORDER BY id"),
    }
    result: dict[str, tuple[tuple[str, ...], list[tuple[Any, ...]]]] = {}
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        for name, (model, where) in owned.items():
            # Users and teams keep their ids (memberships and supervisor links point at them).
            kept = [c for c in table(model).columns if c.name != "id" or name in ("user", "team")]
            columns = tuple(c.name for c in kept)
            selected = ", ".join(
                f'CAST("{c.name}" AS TEXT)' if isinstance(c.type, JSON) else f'"{c.name}"' for c in kept
            )
            cursor.execute(f'SELECT {selected} FROM "{name}" WHERE {where}')
            result[name] = (columns, [tuple(row) for row in cursor.fetchall()])
    finally:
        raw.close()
        engine.dispose()
    return result


def _supervisors_before_reports(
    columns: tuple[str, ...], users: list[tuple[Any, ...]]
) -> tuple[list[tuple[Any, ...]], list[tuple[int, int]]]:
    """The users in the order a run inserts them (`supervisors_first`), and the (supervisor id,
    user id) links that close a loop (written as NULL, then updated, as a run does)."""
    id_at, sup_at = columns.index("id"), columns.index("supervisor_id")
    by_key = {str(row[id_at]): row for row in users}
    supervisor_of = {key: str(row[sup_at]) for key, row in by_key.items() if row[sup_at] is not None}
    order = supervisors_first(list(by_key), supervisor_of)
    position = {key: i for i, key in enumerate(order)}
    ordered: list[tuple[Any, ...]] = []
    loops: list[tuple[int, int]] = []
    for key in order:
        row = by_key[key]
        supervisor = supervisor_of.get(key)
        if supervisor in position and position[supervisor] > position[key]:  # not written yet
            loops.append((row[sup_at], row[id_at]))
            row = tuple(None if i == sup_at else value for i, value in enumerate(row))
        ordered.append(row)
    return ordered, loops


def initial_run(url: str, args: argparse.Namespace) -> tuple[Engine, int, StatementCounter, dict[str, Any]]:
    """A first sync of the sandbox's company into an organization of the fresh database `url`."""
    engine = make_engine(url)
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
    return engine, org.id, counter, one_run(engine, org.id, counter)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--employees", type=int, required=True)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--client-secret", required=True)
    parser.add_argument("--db-url", action="append", required=True, help="a fresh database per initial run")
    parser.add_argument("--floor-db-url", action="append", required=True, help="a fresh one per raw write")
    args = parser.parse_args()

    # The initial run happens once per database: it is taken in as many fresh databases as there
    # are no-op runs, and the fastest counts, as for the no-op runs and the floors.
    first, *others = args.db_url
    initials = [(first, *initial_run(first, args))]
    peak_initial = peak_rss_mib()  # the peak of one initial run (the others reuse freed memory)
    initials += [(url, *initial_run(url, args)) for url in others]
    url, engine, org_id, counter, initial = min(initials, key=lambda i: float(i[4]["phases"]["total"]))
    # The first no-op run after the initial one compares everything (and remembers that nothing
    # changed); the ones after it find the same answer and directory and skip planning. Those
    # and a bare download can be repeated: the best of a few, alternating, so that a noisy
    # neighbour on the machine does not decide the ratio.
    downloads = [download_floor(args)]
    first_noop = one_run(engine, org_id, counter)
    noops: list[dict[str, Any]] = []
    for _ in range(REPEATS):
        noops.append(one_run(engine, org_id, counter))
        downloads.append(download_floor(args))
    writes = [
        schema_write_floor(url, floor_url, org_id, initial["run_id"], initial["rows"])
        for floor_url in args.floor_db_url
    ]
    result = {
        "employees": args.employees,
        "initial": initial,
        "first_noop": first_noop,
        "noop": min(noops, key=lambda run: float(run["phases"]["total"])),
        "peak_rss_mib": peak_initial,
        "peak_rss_mib_after_noop": peak_rss_mib(),
        "download_floor": min(downloads),
        "write_floor": min(writes),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
