"""The run queue (sync.integration.queue) on SQLite and PostgreSQL: enqueue, claim with a lease,
renew, release, fail, expire, and the scheduler's due slots."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import col, select

from storage.db import read_session, write_session
from storage.models import Integration, Organization, Run
from sync.accounts.organizations import create_organization
from sync.core.errors import AUTH_FAILED, LEASE_EXPIRED, ErrorInfo
from sync.core.timetable import next_run_after
from sync.integration import queue
from sync.views.times import as_utc

NOW = datetime(2024, 5, 6, 9, 30, tzinfo=UTC)
EARLIER = NOW - timedelta(minutes=10)
BROKEN = ErrorInfo(
    code=AUTH_FAILED, message="Personio rejected the Client ID / Client Secret (401).", hint="New ones."
)


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


def _enqueue(engine: Engine, org_id: int, *, trigger: str = "manual", at: datetime = NOW) -> int:
    with write_session(engine) as session:
        run = queue.enqueue_run(session, org_id=org_id, trigger=trigger, now=at)
        assert run.id is not None
        return run.id


def _run(engine: Engine, run_id: int) -> Run:
    with read_session(engine) as session:
        run = session.get(Run, run_id)
        assert run is not None
        return run


def _set_run(engine: Engine, run_id: int, **values: Any) -> None:
    with write_session(engine) as session:
        run = session.get(Run, run_id)
        assert run is not None
        for name, value in values.items():
            setattr(run, name, value)
        session.add(run)


def _set_integration(engine: Engine, org_id: int, **values: Any) -> None:
    with write_session(engine) as session:
        integration = session.exec(select(Integration).where(Integration.org_id == org_id)).one()
        for name, value in values.items():
            setattr(integration, name, value)
        session.add(integration)


def _integration(engine: Engine, org_id: int) -> Integration:
    with read_session(engine) as session:
        return session.exec(select(Integration).where(Integration.org_id == org_id)).one()


def _runs_of(engine: Engine, org_id: int) -> list[Run]:
    with read_session(engine) as session:
        return list(session.exec(select(Run).where(Run.org_id == org_id).order_by(col(Run.id))).all())


# --- enqueue and the open run -------------------------------------------------------------


@pytest.mark.parametrize("trigger", ["automatic", "manual", "activation"])
def test_an_enqueued_run_is_the_organizations_open_run(db_engine: Engine, trigger: str) -> None:
    org_id = _org(db_engine)
    run_id = _enqueue(db_engine, org_id, trigger=trigger)

    with read_session(db_engine) as session:
        run = queue.open_run(session, org_id)
    assert run is not None
    assert (run.id, run.status, run.trigger, run.lease_owner) == (run_id, "queued", trigger, None)
    assert as_utc(run.queued_at) == NOW


def test_enqueue_refuses_an_unknown_trigger(db_engine: Engine) -> None:
    org_id = _org(db_engine)
    with pytest.raises(ValueError, match="unknown trigger"), write_session(db_engine) as session:
        queue.enqueue_run(session, org_id=org_id, trigger="nightly")
    assert _runs_of(db_engine, org_id) == []


@pytest.mark.parametrize("finished", ["succeeded", "failed"])
def test_a_finished_run_is_not_open(db_engine: Engine, finished: str) -> None:
    org_id = _org(db_engine)
    _set_run(db_engine, _enqueue(db_engine, org_id), status=finished)
    with read_session(db_engine) as session:
        assert queue.open_run(session, org_id) is None


def test_a_second_enqueue_returns_the_open_run_of_its_organization(db_engine: Engine) -> None:
    acme, globex = _org(db_engine, "acme"), _org(db_engine, "globex")
    first = _enqueue(db_engine, acme)
    other = _enqueue(db_engine, globex)

    assert _enqueue(db_engine, acme) == first
    assert other != first
    with read_session(db_engine) as session:
        run = queue.open_run(session, acme)
    assert run is not None and run.id == first
    assert [r.id for r in _runs_of(db_engine, acme)] == [first]


def test_queue_run_says_whether_the_run_is_new(db_engine: Engine) -> None:
    org_id = _org(db_engine)
    with write_session(db_engine) as session:
        new = queue.queue_run(session, org_id=org_id, trigger="manual")
        again = queue.queue_run(session, org_id=org_id, trigger="automatic")
    assert (new.created, again.created) == (True, False)
    assert again.run.id == new.run.id and again.run.trigger == "manual"


# --- claiming ------------------------------------------------------------------------------


def test_claim_takes_the_oldest_queued_run_and_leases_it_to_the_worker(db_engine: Engine) -> None:
    acme, globex = _org(db_engine, "acme"), _org(db_engine, "globex")
    newer = _enqueue(db_engine, acme, at=NOW)
    older = _enqueue(db_engine, globex, at=EARLIER)  # queued later, but its queued_at is older

    claimed = queue.claim_run(db_engine, worker_id="worker-a", lease_seconds=90, now=NOW)

    assert claimed is not None and claimed.id == older
    stored = _run(db_engine, older)
    assert (stored.status, stored.lease_owner) == ("running", "worker-a")
    assert stored.started_at is not None and as_utc(stored.started_at) == NOW
    assert stored.lease_expires_at is not None and as_utc(stored.lease_expires_at) == NOW + timedelta(
        seconds=90
    )
    assert _run(db_engine, newer).status == "queued"


def test_a_second_claim_of_the_same_run_returns_none(db_engine: Engine) -> None:
    run_id = _enqueue(db_engine, _org(db_engine))
    assert queue.claim_run(db_engine, worker_id="worker-a", run_id=run_id) is not None

    assert queue.claim_run(db_engine, worker_id="worker-b", run_id=run_id) is None
    assert _run(db_engine, run_id).lease_owner == "worker-a"


def test_claim_with_an_empty_queue_returns_none(db_engine: Engine) -> None:
    _org(db_engine)
    assert queue.claim_run(db_engine, worker_id="worker-a") is None


def test_enqueue_while_a_run_is_running_returns_the_running_run(db_engine: Engine) -> None:
    acme, globex = _org(db_engine, "acme"), _org(db_engine, "globex")
    running = _enqueue(db_engine, acme, at=EARLIER)
    assert queue.claim_run(db_engine, worker_id="worker-a", run_id=running) is not None
    other = _enqueue(db_engine, globex, at=NOW)

    assert _enqueue(db_engine, acme, at=EARLIER) == running
    claimed = queue.claim_run(db_engine, worker_id="worker-b")

    assert claimed is not None and claimed.id == other
    assert [r.id for r in _runs_of(db_engine, acme)] == [running]


# --- the lease holder's operations ------------------------------------------------------------


@pytest.mark.parametrize(
    ("worker", "acts"),
    [("holder", True), ("someone-else", False)],
)
def test_renew_lease_acts_only_for_the_lease_holder(db_engine: Engine, worker: str, acts: bool) -> None:
    run_id = _enqueue(db_engine, _org(db_engine))
    queue.claim_run(db_engine, worker_id="holder", run_id=run_id, lease_seconds=10, now=NOW)

    assert queue.renew_lease(db_engine, run_id=run_id, worker_id=worker, lease_seconds=3600) is acts

    expires = _run(db_engine, run_id).lease_expires_at
    assert expires is not None
    claimed_expiry = NOW + timedelta(seconds=10)
    # a renewal counts from the moment of renewing; a refused one leaves the claimed expiry
    assert (as_utc(expires) != claimed_expiry) is acts


@pytest.mark.parametrize(
    ("worker", "acts"),
    [("holder", True), ("someone-else", False)],
)
def test_release_puts_the_run_back_in_the_queue_only_for_the_lease_holder(
    db_engine: Engine, worker: str, acts: bool
) -> None:
    run_id = _enqueue(db_engine, _org(db_engine))
    queue.claim_run(db_engine, worker_id="holder", run_id=run_id)

    assert queue.release_run(db_engine, run_id=run_id, worker_id=worker) is acts

    run = _run(db_engine, run_id)
    expected = ("queued", None, None) if acts else ("running", "holder", run.started_at)
    assert (run.status, run.lease_owner, run.started_at) == expected
    if acts:  # released, it can be claimed again
        assert queue.claim_run(db_engine, worker_id="next", run_id=run_id) is not None


@pytest.mark.parametrize(
    ("worker", "acts"),
    [("holder", True), ("someone-else", False)],
)
def test_fail_run_marks_failed_only_for_the_lease_holder(db_engine: Engine, worker: str, acts: bool) -> None:
    run_id = _enqueue(db_engine, _org(db_engine))
    queue.claim_run(db_engine, worker_id="holder", run_id=run_id)

    assert queue.fail_run(db_engine, run_id=run_id, worker_id=worker, error=BROKEN) is acts

    run = _run(db_engine, run_id)
    if acts:
        assert (run.status, run.error_code, run.error_message, run.error_hint) == (
            "failed",
            BROKEN.code,
            BROKEN.message,
            BROKEN.hint,
        )
        assert run.lease_owner is None and run.finished_at is not None
    else:
        assert (run.status, run.lease_owner, run.error_code) == ("running", "holder", None)


@pytest.mark.parametrize("finished", ["succeeded", "failed"])
def test_the_former_holder_cannot_touch_a_finished_run(db_engine: Engine, finished: str) -> None:
    run_id = _enqueue(db_engine, _org(db_engine))
    queue.claim_run(db_engine, worker_id="holder", run_id=run_id)
    _set_run(db_engine, run_id, status=finished)

    assert queue.renew_lease(db_engine, run_id=run_id, worker_id="holder") is False
    assert queue.release_run(db_engine, run_id=run_id, worker_id="holder") is False
    assert queue.fail_run(db_engine, run_id=run_id, worker_id="holder", error=BROKEN) is False
    assert _run(db_engine, run_id).status == finished


# --- expired leases -------------------------------------------------------------------------


def test_fail_expired_runs_fails_only_running_runs_whose_lease_expired(db_engine: Engine) -> None:
    orgs = [_org(db_engine, slug) for slug in ("expired", "alive", "finished", "waiting")]
    expired, alive, finished, waiting = (_enqueue(db_engine, org_id, at=EARLIER) for org_id in orgs)
    queue.claim_run(db_engine, worker_id="dead", run_id=expired, lease_seconds=60, now=EARLIER)
    queue.claim_run(db_engine, worker_id="alive", run_id=alive, lease_seconds=3600, now=EARLIER)
    queue.claim_run(db_engine, worker_id="done", run_id=finished, lease_seconds=60, now=EARLIER)
    # finished, with its lease still on record: a finished run is never overwritten
    _set_run(db_engine, finished, status="succeeded", finished_at=EARLIER + timedelta(seconds=30))

    failed = queue.fail_expired_runs(db_engine, now=NOW)

    assert [run.id for run in failed] == [expired]
    run = _run(db_engine, expired)
    assert (run.status, run.error_code, run.error_message, run.lease_owner) == (
        "failed",
        LEASE_EXPIRED,
        queue.LEASE_EXPIRED_ERROR.message,
        None,
    )
    assert run.finished_at is not None and as_utc(run.finished_at) == NOW
    assert _run(db_engine, alive).status == "running"
    assert (_run(db_engine, finished).status, _run(db_engine, finished).error_code) == ("succeeded", None)
    assert _run(db_engine, waiting).status == "queued"
    assert queue.fail_expired_runs(db_engine, now=NOW) == []


def test_after_an_expired_lease_fails_the_next_run_of_the_organization_is_claimed(db_engine: Engine) -> None:
    org_id = _org(db_engine)
    dead = _enqueue(db_engine, org_id, at=EARLIER)
    queue.claim_run(db_engine, worker_id="dead", run_id=dead, lease_seconds=60, now=EARLIER)
    assert _enqueue(db_engine, org_id, at=EARLIER) == dead  # still open
    assert queue.claim_run(db_engine, worker_id="next", now=NOW) is None

    queue.fail_expired_runs(db_engine, now=NOW)

    following = _enqueue(db_engine, org_id, at=EARLIER)
    assert following != dead
    claimed = queue.claim_run(db_engine, worker_id="next", now=NOW)
    assert claimed is not None and claimed.id == following


# --- due slots ------------------------------------------------------------------------------


def test_a_due_active_integration_gets_one_automatic_run_and_its_next_slot(db_engine: Engine) -> None:
    org_id = _org(db_engine)
    _set_integration(
        db_engine, org_id, state="active", next_run_at=NOW - timedelta(days=3), schedule_every_hours=6
    )

    queued = queue.enqueue_due_runs(db_engine, now=NOW)

    following = next_run_after(NOW, 6)
    assert [(q.org_id, as_utc(q.next_run_at)) for q in queued] == [(org_id, following)]
    (run,) = _runs_of(db_engine, org_id)
    assert (run.id, run.trigger, run.status) == (queued[0].run_id, "automatic", "queued")
    stored = _integration(db_engine, org_id).next_run_at
    assert stored is not None and as_utc(stored) == following
    # the slot is taken: a second tick (or a second scheduler) at the same moment queues nothing
    assert queue.enqueue_due_runs(db_engine, now=NOW) == []
    assert len(_runs_of(db_engine, org_id)) == 1


@pytest.mark.parametrize(
    ("state", "addon_enabled", "next_run_at"),
    [
        ("paused", True, NOW - timedelta(hours=1)),
        ("inactive", True, NOW - timedelta(hours=1)),
        ("active", False, NOW - timedelta(hours=1)),
        ("active", True, NOW + timedelta(hours=1)),
    ],
    ids=["paused", "inactive", "addon-off", "not-yet-due"],
)
def test_an_integration_that_should_not_sync_gets_no_run_and_keeps_its_slot(
    db_engine: Engine, state: str, addon_enabled: bool, next_run_at: datetime
) -> None:
    org_id = _org(db_engine)
    _set_integration(db_engine, org_id, state=state, next_run_at=next_run_at)
    with write_session(db_engine) as session:
        org = session.get(Organization, org_id)
        assert org is not None
        org.addon_enabled = addon_enabled
        session.add(org)

    assert queue.enqueue_due_runs(db_engine, now=NOW) == []

    assert _runs_of(db_engine, org_id) == []
    stored = _integration(db_engine, org_id).next_run_at
    assert stored is not None and as_utc(stored) == next_run_at


def test_an_organization_with_an_open_run_is_skipped_and_its_slot_stays_due(db_engine: Engine) -> None:
    org_id = _org(db_engine)
    due = NOW - timedelta(hours=1)
    _set_integration(db_engine, org_id, state="active", next_run_at=due)
    manual = _enqueue(db_engine, org_id, at=EARLIER)

    assert queue.enqueue_due_runs(db_engine, now=NOW) == []
    stored = _integration(db_engine, org_id).next_run_at
    assert stored is not None and as_utc(stored) == due

    _set_run(db_engine, manual, status="succeeded")  # the open run finished: the slot runs now
    assert [q.org_id for q in queue.enqueue_due_runs(db_engine, now=NOW)] == [org_id]


def test_an_active_integration_without_a_next_run_time_gets_one_but_no_run(db_engine: Engine) -> None:
    org_id = _org(db_engine)
    _set_integration(db_engine, org_id, state="active", next_run_at=None)

    assert queue.enqueue_due_runs(db_engine, now=NOW) == []

    stored = _integration(db_engine, org_id).next_run_at
    assert stored is not None and as_utc(stored) == next_run_after(NOW, None)
    assert _runs_of(db_engine, org_id) == []
