"""Several runs at once in one scheduler (SCHEDULER_WORKERS), and how a scheduler stops: real
`python -m sync.scheduler` processes, Personio sandboxes over loopback, on SQLite and PostgreSQL.

Tests poll for outcomes with generous deadlines; none asserts on durations.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from storage.clock import utcnow
from sync.core.states import RunStatus
from sync.integration import lifecycle
from tests.scheduler.test_scheduler_runs import (
    directory_snapshot,
    make_org,
    run_by_id,
    runs,
    set_integration,
    synced_users,
    wait_for_run,
)
from tests.support.processes import SchedulerProcesses, wait_until
from tests.support.sandbox import SandboxFactory, SandboxProcess

STOP_DEADLINE = 30.0  # SIGTERM must end the process within this (else the test kills it and fails)


@pytest.fixture
def schedulers(tmp_path: Path, database: str) -> Iterator[SchedulerProcesses]:
    with SchedulerProcesses(tmp_path / "schedulers") as processes:
        yield processes


def test_several_workers_run_several_organizations_at_once_never_one_twice(
    engine: Engine, sandbox: SandboxProcess, schedulers: SchedulerProcesses
) -> None:
    org_ids = [make_org(engine, sandbox, f"org{n}") for n in range(5)]
    sandbox.set_faults(latency_ms=700)  # every run waits on Personio for a while
    for org_id in org_ids:
        set_integration(engine, org_id, state="active", next_run_at=utcnow() - timedelta(minutes=1))
    most_at_once = 0

    def observe() -> bool:
        nonlocal most_at_once
        current = runs(engine)
        running = [r.org_id for r in current if r.status == RunStatus.RUNNING]
        assert len(running) == len(set(running)), f"one organization ran twice at once: {running}"
        most_at_once = max(most_at_once, len(running))
        failed = [r for r in current if r.status == RunStatus.FAILED]
        assert not failed, f"{failed[0].error_code}: {failed[0].error_message}\n{schedulers.outputs()}"
        return len(current) == 5 and all(r.status == RunStatus.SUCCEEDED for r in current)

    schedulers.start(env={"SCHEDULER_WORKERS": "4"})
    wait_until(observe, timeout=300, interval=0.05, message=schedulers.outputs)

    assert most_at_once == 4, f"at most {most_at_once} runs at once\n{schedulers.outputs()}"
    assert all(synced_users(engine, org_id) for org_id in org_ids)
    assert "4 worker(s)" in schedulers.outputs()


def test_a_dripping_personio_fails_its_run_by_the_deadline_while_another_organization_syncs(
    engine: Engine,
    sandbox: SandboxProcess,
    sandbox_factory: SandboxFactory,
    schedulers: SchedulerProcesses,
) -> None:
    dripping = sandbox_factory()
    stuck_org = make_org(engine, dripping, "stuck")
    healthy_org = make_org(engine, sandbox, "healthy")
    dripping.set_faults(drip={"seconds": 1, "forever": True, "count": -1})  # one byte a second, forever
    due = utcnow() - timedelta(minutes=1)
    set_integration(engine, stuck_org, state="active", next_run_at=due - timedelta(seconds=1))
    set_integration(engine, healthy_org, state="active", next_run_at=due)
    schedulers.start(env={"PERSONIO_RUN_DEADLINE_SECONDS": "20"})

    [stuck] = wait_until(lambda: runs(engine, stuck_org), message=schedulers.outputs)
    [healthy] = wait_until(lambda: runs(engine, healthy_org), message=schedulers.outputs)
    assert stuck.id is not None and healthy.id is not None
    wait_for_run(engine, healthy.id, RunStatus.SUCCEEDED, schedulers)
    # The other organization's run was not held up: it finished while the drip still went on.
    assert run_by_id(engine, stuck.id).status == RunStatus.RUNNING

    failed = wait_for_run(engine, stuck.id, RunStatus.FAILED, schedulers)
    assert failed.error_code == "personio_unavailable"
    assert failed.error_message and "too slowly" in failed.error_message
    assert failed.error_hint
    assert synced_users(engine, stuck_org) == []
    assert synced_users(engine, healthy_org)


def test_sigterm_during_a_slow_fetch_exits_at_once_and_the_run_completes_on_the_next_start(
    engine: Engine, sandbox: SandboxProcess, schedulers: SchedulerProcesses
) -> None:
    org_id = make_org(engine, sandbox, "acme")
    before = directory_snapshot(engine, org_id)
    sandbox.set_faults(hang={"seconds": 120, "count": -1})  # Personio does not answer
    process = schedulers.start()
    run = lifecycle.run_now(engine, org_id, label="test")
    assert run.id is not None
    wait_for_run(engine, run.id, RunStatus.RUNNING, schedulers)

    assert process.terminate(timeout=STOP_DEADLINE) == 0

    left = run_by_id(engine, run.id)
    assert (left.status, left.started_at, left.lease_owner, left.error_code) == (
        RunStatus.QUEUED,
        None,
        None,
        None,
    )
    assert directory_snapshot(engine, org_id) == before
    # Back in the queue either way: abandoned mid-fetch, or released when the stop came first.
    assert (
        f"org=acme run={run.id} abandoned while fetching: back in the queue" in process.output
        or f"org=acme run={run.id} released: this scheduler is stopping" in process.output
    )

    sandbox.clear_faults()
    schedulers.start()
    done = wait_for_run(engine, run.id, RunStatus.SUCCEEDED, schedulers)
    assert done.counts["users_created"] == len(synced_users(engine, org_id)) > 0
    assert [r.id for r in runs(engine, org_id)] == [run.id]


def test_a_run_inside_its_apply_transaction_finishes_after_sigterm(
    engine: Engine, sandbox: SandboxProcess, schedulers: SchedulerProcesses, tmp_path: Path
) -> None:
    org_id = make_org(engine, sandbox, "acme")
    go_file = tmp_path / "go"
    process = schedulers.start(module="tests.support.scheduler_paused_in_apply", args=(str(go_file),))
    run = lifecycle.run_now(engine, org_id, label="test")
    assert run.id is not None
    process.wait_for_output(f"APPLYING run {run.id}")

    process.popen.terminate()  # SIGTERM while every row is written but not committed
    process.wait_for_output("SIGTERM received: stopping")
    go_file.touch()
    assert process.terminate(timeout=STOP_DEADLINE) == 0

    done = run_by_id(engine, run.id)
    assert done.status == RunStatus.SUCCEEDED, f"{done.status}: {done.error_message}\n{process.output}"
    assert done.counts["users_created"] == len(synced_users(engine, org_id)) > 0
