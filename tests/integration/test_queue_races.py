"""One open run per organization under concurrency, on SQLite and PostgreSQL: concurrent Run now,
Run now racing the scheduler's due slots, concurrent claims, and migration 2 on a database that
already holds duplicates. Each contender has its own engine (its own connections), as separate
dashboards, CLIs and schedulers would."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import TypeVar

import pytest
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from storage.clock import utcnow
from storage.db import make_engine, read_session, write_session
from storage.models import OPEN_RUN_INDEX, Integration, Run
from sync.accounts.organizations import create_organization
from sync.core.states import RunStatus
from sync.integration import lifecycle, queue

ROUNDS = 5
CONTENDERS = 8
_T = TypeVar("_T")


def _org(engine: Engine, slug: str = "acme") -> int:
    org = create_organization(
        engine,
        slug=slug,
        name=slug.capitalize(),
        owner_email=f"owner@{slug}.test",
        owner_password="password1",
    )
    assert org.id is not None
    return org.id


@contextmanager
def _engines(database: str, count: int) -> Iterator[list[Engine]]:
    engines = [make_engine(database) for _ in range(count)]
    try:
        yield engines
    finally:
        for own in engines:
            own.dispose()


def _race(engines: list[Engine], actions: list[Callable[[Engine], _T]]) -> list[_T]:
    """Run each action on its own engine in its own thread, all released at once; re-raise any error."""
    barrier = threading.Barrier(len(actions))
    results: list[_T | None] = [None] * len(actions)
    errors: list[BaseException] = []

    def contend(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = actions[index](engines[index])
        except BaseException as exc:  # reported to the test below
            errors.append(exc)

    threads = [threading.Thread(target=contend, args=(i,)) for i in range(len(actions))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    if errors:
        raise errors[0]
    return [result for result in results if result is not None]


def _open_runs(engine: Engine, org_id: int) -> list[Run]:
    with read_session(engine) as session:
        return list(
            session.exec(
                select(Run).where(Run.org_id == org_id, col(Run.status).in_(("queued", "running")))
            ).all()
        )


def _finish_open_runs(engine: Engine, org_id: int) -> None:
    with write_session(engine) as session:
        for run in session.exec(
            select(Run).where(Run.org_id == org_id, col(Run.status).in_(("queued", "running")))
        ).all():
            run.status = RunStatus.SUCCEEDED
            run.finished_at = utcnow()
            session.add(run)


def test_eight_concurrent_run_now_leave_one_open_run(engine: Engine, database: str) -> None:
    org_id = _org(engine)
    with _engines(database, CONTENDERS) as engines:
        for _round in range(ROUNDS):
            returned = _race(engines, [lambda own: lifecycle.run_now(own, org_id, label="test")] * CONTENDERS)

            [open_run] = _open_runs(engine, org_id)
            assert {run.id for run in returned} == {open_run.id}, "every caller is told about the same run"
            _finish_open_runs(engine, org_id)
    with read_session(engine) as session:
        assert len(session.exec(select(Run).where(Run.org_id == org_id)).all()) == ROUNDS


def test_run_now_racing_the_due_slot_leaves_one_open_run(engine: Engine, database: str) -> None:
    org_id = _org(engine)
    with _engines(database, 2) as engines:
        for _round in range(ROUNDS):
            due = utcnow() - timedelta(minutes=1)
            with write_session(engine) as session:
                integration = session.exec(select(Integration).where(Integration.org_id == org_id)).one()
                integration.state = "active"
                integration.next_run_at = due
                session.add(integration)

            def enqueue_due(own: Engine) -> bool:
                queue.enqueue_due_runs(own, now=utcnow())
                return True

            def run_now(own: Engine) -> bool:
                lifecycle.run_now(own, org_id, label="test")
                return True

            _race(engines, [enqueue_due, run_now])

            [open_run] = _open_runs(engine, org_id)
            with read_session(engine) as session:
                stored = session.exec(select(Integration).where(Integration.org_id == org_id)).one()
            # The slot moved only if its automatic run is the open one; else it stays due.
            assert (stored.next_run_at != due) == (open_run.trigger == "automatic")
            _finish_open_runs(engine, org_id)


def test_concurrent_claims_one_wins_and_the_others_get_none(engine: Engine, database: str) -> None:
    org_id = _org(engine)
    with _engines(database, CONTENDERS) as engines:
        for _round in range(ROUNDS):
            with write_session(engine) as session:
                run_id = queue.enqueue_run(session, org_id=org_id, trigger="manual").id
            claims = [
                (
                    lambda own, n=n, run_id=run_id: [
                        queue.claim_run(own, worker_id=f"worker-{n}", run_id=run_id)
                    ]
                )
                for n in range(CONTENDERS)
            ]

            results = [claimed for [claimed] in _race(engines, claims)]

            winners = [claimed for claimed in results if claimed is not None]
            assert len(results) == CONTENDERS and len(winners) == 1
            with read_session(engine) as session:
                stored = session.get(Run, run_id)
            assert stored is not None and (stored.status, stored.lease_owner) == (
                "running",
                winners[0].lease_owner,
            )
            _finish_open_runs(engine, org_id)


def test_concurrent_claims_of_any_run_take_each_run_once(engine: Engine, database: str) -> None:
    org_ids = [_org(engine, f"org{n}") for n in range(3)]
    with write_session(engine) as session:
        for org_id in org_ids:
            queue.enqueue_run(session, org_id=org_id, trigger="manual")
    with _engines(database, CONTENDERS) as engines:
        claims = [
            (lambda own, n=n: [queue.claim_run(own, worker_id=f"worker-{n}")]) for n in range(CONTENDERS)
        ]
        results = [claimed for [claimed] in _race(engines, claims)]

    claimed_ids = [claimed.id for claimed in results if claimed is not None]
    assert len(results) == CONTENDERS
    assert len(claimed_ids) == len(set(claimed_ids)) <= len(org_ids)


def test_migration_2_fails_duplicate_open_runs_as_superseded_then_enforces_one(
    engine: Engine, database: str
) -> None:
    acme, globex = _org(engine, "acme"), _org(engine, "globex")
    # A database from before migration 2: no index, duplicates of open runs.
    with engine.begin() as conn:
        conn.execute(text(f"DROP INDEX {OPEN_RUN_INDEX}"))
        conn.execute(text("DELETE FROM schemaversion WHERE version = 2"))
    now = utcnow()
    with write_session(engine) as session:
        rows = [
            Run(org_id=acme, trigger="automatic", status="queued", queued_at=now),
            Run(org_id=acme, trigger="manual", status="running", queued_at=now, lease_owner="w"),
            Run(org_id=acme, trigger="manual", status="queued", queued_at=now),
            Run(org_id=globex, trigger="manual", status="queued", queued_at=now),
            Run(org_id=globex, trigger="manual", status="queued", queued_at=now),
        ]
        for row in rows:
            session.add(row)
            session.flush()
        ids = [row.id for row in rows]

    migrated = make_engine(database)
    try:
        with read_session(migrated) as session:
            status = {run.id: (run.status, run.error_code) for run in session.exec(select(Run)).all()}
        assert status == {
            ids[0]: ("failed", "superseded"),
            ids[1]: ("running", None),
            ids[2]: ("failed", "superseded"),
            ids[3]: ("queued", None),
            ids[4]: ("failed", "superseded"),
        }
        assert OPEN_RUN_INDEX in {index["name"] for index in inspect(migrated).get_indexes("run")}
        with pytest.raises(IntegrityError), write_session(migrated) as session:
            session.add(Run(org_id=globex, trigger="manual", status="queued", queued_at=now))
    finally:
        migrated.dispose()
