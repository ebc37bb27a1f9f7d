"""Leases (SCHEDULER_LEASE_SECONDS): a live run keeps its lease however long it takes, renewed by the
runner in the background; the real client against the sandbox over loopback, both engines."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import Engine

from sync.core.states import RunStatus
from sync.integration import lifecycle, queue
from sync.integration.runner import execute_run, renewal_interval
from tests.scheduler.test_scheduler_runs import make_org, run_by_id
from tests.support.sandbox import SandboxProcess


@pytest.mark.parametrize(("lease", "interval"), [(2, 2 / 3), (9, 3.0), (30, 5.0), (120, 5.0)])
def test_a_lease_is_renewed_every_third_of_it_at_most_every_five_seconds(lease: int, interval: float) -> None:
    assert renewal_interval(lease) == pytest.approx(interval)


def test_a_run_slower_than_its_lease_keeps_it_while_another_scheduler_looks_for_dead_runs(
    engine: Engine, sandbox: SandboxProcess
) -> None:
    org_id = make_org(engine, sandbox, "slow")
    sandbox.set_faults(latency_ms=2500)  # sign-in and the page take longer than the 2 s lease together
    run = lifecycle.run_now(engine, org_id, label="test")
    assert run.id is not None
    assert queue.claim_run(engine, worker_id="alive", run_id=run.id, lease_seconds=2) is not None
    expired: list[int] = []
    done = threading.Event()

    def other_scheduler() -> None:
        while not done.wait(0.2):
            expired.extend(r.id for r in queue.fail_expired_runs(engine) if r.id is not None)

    watcher = threading.Thread(target=other_scheduler)
    watcher.start()
    try:
        outcome = execute_run(engine, run.id, worker_id="alive", lease_seconds=2)
    finally:
        done.set()
        watcher.join()

    assert expired == []
    assert outcome.status == RunStatus.SUCCEEDED and outcome.counts["users_created"] > 0
    assert run_by_id(engine, run.id).status == RunStatus.SUCCEEDED
