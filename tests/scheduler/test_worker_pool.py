"""The scheduler's workers in process (sync.scheduler.loop): the tick hands runs to free workers,
oldest first, and never waits for them; a worker that finishes claims the next run itself; a set
stop sends a run still fetching back to the queue (sync.integration.runner.execute_run), on SQLite
and PostgreSQL. The executors here wait on events, so the tests never depend on timing.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import col, select

from storage.clock import utcnow
from storage.db import read_session, write_session
from storage.models import Run, User
from sync.accounts.organizations import create_organization
from sync.core.states import RunStatus
from sync.integration import queue
from sync.integration.runner import execute_run
from sync.integration.settings import save_settings
from sync.scheduler.loop import Scheduler, SchedulerConfig
from tests.support.sandbox import SandboxProcess

WAIT = 60.0  # generous: only a broken scheduler waits this long


def make_orgs(engine: Engine, count: int) -> list[int]:
    ids = []
    for n in range(count):
        org = create_organization(
            engine,
            slug=f"org{n}",
            name=f"Org {n}",
            owner_email=f"o@org{n}.example",
            owner_password="pw-123456",
        )
        assert org.id is not None
        ids.append(org.id)
    return ids


def queue_runs(engine: Engine, org_ids: list[int]) -> list[int]:
    """One manual run per organization, the first one queued earliest."""
    start = utcnow() - timedelta(minutes=10)
    with write_session(engine) as session:
        runs = [
            queue.enqueue_run(session, org_id=org_id, trigger="manual", now=start + timedelta(seconds=n))
            for n, org_id in enumerate(org_ids)
        ]
        return [run.id for run in runs if run.id is not None]


def statuses(engine: Engine) -> dict[int, str]:
    with read_session(engine) as session:
        return {run.id: run.status for run in session.exec(select(Run).order_by(col(Run.id))).all() if run.id}


class HeldRuns:
    """An executor that marks each run succeeded only once the test lets it go."""

    def __init__(self) -> None:
        self.started: list[int] = []
        self.go = threading.Event()
        self._lock = threading.Lock()
        self.two_started = threading.Event()

    def __call__(
        self, engine: Engine, run_id: int, *, worker_id: str, lease_seconds: int, stop: threading.Event
    ) -> object:
        with self._lock:
            self.started.append(run_id)
            if len(self.started) == 2:
                self.two_started.set()
        assert self.go.wait(WAIT)
        with write_session(engine) as session:
            run = session.get(Run, run_id)
            assert run is not None and run.lease_owner == worker_id
            run.status, run.finished_at, run.lease_owner = RunStatus.SUCCEEDED, utcnow(), None
            session.add(run)
        return None


def test_the_tick_hands_the_oldest_runs_to_free_workers_and_does_not_wait_for_them(engine: Engine) -> None:
    run_ids = queue_runs(engine, make_orgs(engine, 3))
    held = HeldRuns()
    scheduler = Scheduler(engine, SchedulerConfig(tick_seconds=1, workers=2), execute=held)
    try:
        report = scheduler.tick()  # returns while both runs still wait

        assert report.executed == 2
        assert held.two_started.wait(WAIT)
        assert sorted(held.started) == run_ids[:2]
        assert statuses(engine) == {
            run_ids[0]: RunStatus.RUNNING,
            run_ids[1]: RunStatus.RUNNING,
            run_ids[2]: RunStatus.QUEUED,
        }
        assert not scheduler.wait_for_runs(timeout=0.1)
        assert scheduler.tick().executed == 0  # no worker free

        held.go.set()
        assert scheduler.wait_for_runs(timeout=WAIT)
        # The worker freed by a finished run claimed the third one without waiting for a tick.
        assert sorted(held.started) == run_ids
        assert set(statuses(engine).values()) == {RunStatus.SUCCEEDED}
    finally:
        held.go.set()
        scheduler.close()


def test_close_waits_for_the_runs_in_progress(engine: Engine) -> None:
    [run_id] = queue_runs(engine, make_orgs(engine, 1))
    held = HeldRuns()
    scheduler = Scheduler(engine, SchedulerConfig(tick_seconds=1, workers=4), execute=held)
    assert scheduler.tick().executed == 1
    releaser = threading.Timer(0.5, held.go.set)
    releaser.start()

    scheduler.close()

    assert statuses(engine) == {run_id: RunStatus.SUCCEEDED}
    releaser.join()


@pytest.fixture
def acme_run(engine: Engine, sandbox: SandboxProcess) -> int:
    [org_id] = make_orgs(engine, 1)
    save_settings(
        engine,
        org_id,
        client_id=sandbox.client_id,
        client_secret=sandbox.client_secret,
        base_url=sandbox.base_url,
        team_attributes=["department"],
    )
    [run_id] = queue_runs(engine, [org_id])
    claimed = queue.claim_run(engine, worker_id="worker-1", run_id=run_id)
    assert claimed is not None
    return run_id


def test_a_run_stopped_while_fetching_goes_back_to_the_queue_and_wrote_nothing(
    engine: Engine, sandbox: SandboxProcess, acme_run: int
) -> None:
    stop = threading.Event()
    stop.set()

    outcome = execute_run(engine, acme_run, worker_id="worker-1", stop=stop)

    assert (outcome.status, outcome.error) == (RunStatus.QUEUED, None)
    with read_session(engine) as session:
        run = session.get(Run, acme_run)
        assert run is not None
        assert (run.status, run.lease_owner, run.started_at, run.error_code) == (
            RunStatus.QUEUED,
            None,
            None,
            None,
        )
        assert session.exec(select(User).where(col(User.personio_id).is_not(None))).all() == []
    assert sandbox.stats()["requests"] == 0

    # The next worker that claims it runs it to the end.
    assert queue.claim_run(engine, worker_id="worker-2", run_id=acme_run) is not None
    assert execute_run(engine, acme_run, worker_id="worker-2", stop=threading.Event()).status == "succeeded"
