"""The run queue: enqueue, claim with a lease, renew, and fail runs whose lease expired.

An organization has at most one open (queued or running) run: a partial unique index
(storage.models.Run, migration 2) lets the database refuse a second one, so concurrent
queuing (Run now, the CLI, the scheduler's due slots) on SQLite or PostgreSQL returns the
run already there. A claimed run is `running` with a lease owner and expiry; two
schedulers can never both run it, and a claim that loses a race returns None.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlmodel import Session, col, select

from storage.clock import utcnow
from storage.config import DEFAULT_LEASE_SECONDS
from storage.db import write_session
from storage.models import Integration, Organization, Run
from storage.timestamps import ts
from sync.core.errors import LEASE_EXPIRED, ErrorInfo
from sync.core.states import IntegrationState, RunStatus, Trigger
from sync.core.timetable import next_run_after

LEASE_SECONDS = DEFAULT_LEASE_SECONDS  # SCHEDULER_LEASE_SECONDS overrides it for the scheduler
# Aliases of RunStatus, used here and by runner and cli (edited in parallel); new code uses RunStatus.
QUEUED = RunStatus.QUEUED
RUNNING = RunStatus.RUNNING
SUCCEEDED = RunStatus.SUCCEEDED
FAILED = RunStatus.FAILED
TRIGGERS = tuple(Trigger)

LEASE_EXPIRED_ERROR = ErrorInfo(
    code=LEASE_EXPIRED,
    message="The run stopped before it finished: the process running it ended (for example a restart "
    "or a crash). Nothing was changed.",
    hint="No action is needed: the next run proceeds normally. Use Run now to sync at once.",
)


def enqueue_run(
    session: Session,
    *,
    org_id: int,
    trigger: str,
    user_id: int | None = None,
    staff_id: int | None = None,
    label: str | None = None,
    approve_safety: bool = False,
    retry_of_run_id: int | None = None,
    now: datetime | None = None,
) -> Run:
    """Queue a run (flushed, so it has an id), or return the organization's open run if it has one.

    The database holds at most one open (queued or running) run per organization (a partial
    unique index): the insert runs in a SAVEPOINT, and when a concurrent writer queued one
    first, the unique violation rolls back only the savepoint and that run is returned. A
    caller tells the two apart by `run.status` / `run.id` or with `queue_run`. The caller commits.
    """
    return queue_run(
        session,
        org_id=org_id,
        trigger=trigger,
        user_id=user_id,
        staff_id=staff_id,
        label=label,
        approve_safety=approve_safety,
        retry_of_run_id=retry_of_run_id,
        now=now,
    ).run


@dataclass(frozen=True)
class Queued:
    """What `queue_run` did: the run, and whether it is new (else the open run already there)."""

    run: Run
    created: bool


def queue_run(
    session: Session,
    *,
    org_id: int,
    trigger: str,
    user_id: int | None = None,
    staff_id: int | None = None,
    label: str | None = None,
    approve_safety: bool = False,
    retry_of_run_id: int | None = None,
    now: datetime | None = None,
) -> Queued:
    """`enqueue_run`, saying whether the run is new. Raises ValueError for an unknown trigger."""
    if trigger not in TRIGGERS:
        raise ValueError(f"unknown trigger {trigger!r}")
    for _attempt in range(3):
        existing = open_run(session, org_id)
        if existing is not None:
            return Queued(existing, created=False)
        run = Run(
            org_id=org_id,
            trigger=trigger,
            triggered_by_user_id=user_id,
            triggered_by_staff_id=staff_id,
            triggered_by_label=label,
            approve_safety=approve_safety,
            retry_of_run_id=retry_of_run_id,
            status=QUEUED,
            queued_at=now or utcnow(),
        )
        try:
            with session.begin_nested():
                session.add(run)
        except IntegrityError:
            continue  # another writer queued one first: it is found above (unless it finished already)
        return Queued(run, created=True)
    raise RuntimeError(f"could not queue a run of organization {org_id}: the open run kept changing")


def open_run(session: Session, org_id: int) -> Run | None:
    """The organization's queued or running run, if any (oldest first)."""
    return session.exec(
        select(Run).where(Run.org_id == org_id, col(Run.status).in_((QUEUED, RUNNING))).order_by(col(Run.id))
    ).first()


def claim_run(
    engine: Engine,
    *,
    worker_id: str,
    run_id: int | None = None,
    lease_seconds: int = LEASE_SECONDS,
    now: datetime | None = None,
) -> Run | None:
    """Claim `run_id`, or else the oldest queued run whose organization has no running run.

    Returns the claimed run (status running, leased to `worker_id`) or None when there is
    nothing to claim or another claimer won the race: the conditional update finds the run no
    longer queued, or the database refuses it (unique index, serialization failure or deadlock,
    whichever statement or the commit raised it). Other database errors propagate.
    """
    now = now or utcnow()
    try:
        with write_session(engine) as session:
            query = select(Run).where(Run.status == QUEUED).order_by(col(Run.queued_at), col(Run.id))
            if run_id is not None:
                query = query.where(Run.id == run_id)
            for run in session.exec(query.limit(50)).all():
                others_running = session.exec(
                    select(Run.id).where(Run.org_id == run.org_id, Run.status == RUNNING)
                ).first()
                if others_running is not None:
                    continue
                claimed = session.execute(
                    update(Run)
                    .where(col(Run.id) == run.id, col(Run.status) == QUEUED)
                    .values(
                        status=RUNNING,
                        lease_owner=worker_id,
                        lease_expires_at=now + timedelta(seconds=lease_seconds),
                        started_at=now,
                    )
                )
                if getattr(claimed, "rowcount", 0) != 1:
                    continue
                session.refresh(run)
                return run
    except DBAPIError as exc:
        if lost_race(exc):
            return None
        raise
    return None


# SQLSTATEs of a concurrent writer winning: unique violation, serialization failure, deadlock.
_LOST_RACE_SQLSTATES = frozenset({"23505", "40001", "40P01"})


def lost_race(exc: DBAPIError) -> bool:
    """Whether a database error means another writer got there first (not an outage or a bug)."""
    if isinstance(exc, IntegrityError):
        return True
    return getattr(exc.orig, "sqlstate", None) in _LOST_RACE_SQLSTATES


def renew_lease(engine: Engine, *, run_id: int, worker_id: str, lease_seconds: int = LEASE_SECONDS) -> bool:
    """Extend the lease of a run this worker holds. False when the lease is no longer ours."""
    with write_session(engine) as session:
        result = session.execute(
            update(Run)
            .where(col(Run.id) == run_id, col(Run.status) == RUNNING, col(Run.lease_owner) == worker_id)
            .values(lease_expires_at=utcnow() + timedelta(seconds=lease_seconds))
        )
        return getattr(result, "rowcount", 0) == 1


def release_run(engine: Engine, *, run_id: int, worker_id: str) -> bool:
    """Put a claimed run back in the queue (a scheduler shutting down before it started work)."""
    with write_session(engine) as session:
        result = session.execute(
            update(Run)
            .where(col(Run.id) == run_id, col(Run.status) == RUNNING, col(Run.lease_owner) == worker_id)
            .values(status=QUEUED, lease_owner=None, lease_expires_at=None, started_at=None)
        )
        return getattr(result, "rowcount", 0) == 1


def failed_run_values(error: ErrorInfo, *, now: datetime) -> dict[str, Any]:
    """The columns of a run that failed at `now`: finished, lease released, the error recorded.

    Every writer of a failed run uses these, so a failure reads the same whoever recorded it.
    """
    return {
        "status": FAILED,
        "finished_at": now,
        "lease_owner": None,
        "lease_expires_at": None,
        "error_code": error.code,
        "error_message": error.message,
        "error_hint": error.hint,
    }


def fail_run(engine: Engine, *, run_id: int, worker_id: str, error: ErrorInfo) -> bool:
    """Mark failed a run this worker holds (its executor broke down). False when not ours anymore."""
    with write_session(engine) as session:
        result = session.execute(
            update(Run)
            .where(col(Run.id) == run_id, col(Run.status) == RUNNING, col(Run.lease_owner) == worker_id)
            .values(failed_run_values(error, now=utcnow()))
        )
        return getattr(result, "rowcount", 0) == 1


def fail_expired_runs(engine: Engine, *, now: datetime | None = None) -> list[Run]:
    """Mark failed every running run whose lease expired, in a transaction of its own. Returns them.

    The scheduler and the CLI use `sync.integration.recovery.recover_expired_runs` instead,
    which also retries the run or gives up on it in the same transaction.
    """
    with write_session(engine) as session:
        return expire_runs(session, now=now)


def expire_runs(session: Session, *, now: datetime | None = None) -> list[Run]:
    """Mark failed every running run whose lease expired (its process died), in the caller's transaction.

    Each row is updated only while it is still running with an expired lease, so a run that
    finished (or renewed its lease) in the meantime is never overwritten, and of several
    schedulers exactly one fails a given run.
    """
    now = now or utcnow()
    failed: list[Run] = []
    candidates = session.exec(
        select(Run).where(Run.status == RUNNING, ts(col(Run.lease_expires_at)) < ts(now))
    ).all()
    for run in candidates:
        result = session.execute(
            update(Run)
            .where(col(Run.id) == run.id, col(Run.status) == RUNNING, ts(col(Run.lease_expires_at)) < ts(now))
            .values(failed_run_values(LEASE_EXPIRED_ERROR, now=now))
        )
        if getattr(result, "rowcount", 0) == 1:
            session.refresh(run)
            failed.append(run)
    return failed


@dataclass(frozen=True)
class EnqueuedRun:
    run_id: int
    org_id: int
    next_run_at: datetime


def enqueue_due_runs(engine: Engine, *, now: datetime) -> list[EnqueuedRun]:
    """Queue an automatic run for each active integration that is due and has no open run.

    `next_run_at` moves to the next slot after `now` in the same transaction, with a
    conditional update, so two schedulers cannot both queue the slot and a slot missed
    for days runs once. An active integration without a next run time gets one.
    """
    queued: list[EnqueuedRun] = []
    with write_session(engine) as session:
        integrations = session.exec(
            select(Integration)
            .join(Organization, col(Organization.id) == col(Integration.org_id))
            .where(
                Integration.state == IntegrationState.ACTIVE,
                # The integration is a paid add-on: switched off by support, it stops syncing.
                col(Organization.addon_enabled).is_(True),
                (col(Integration.next_run_at).is_(None)) | (ts(col(Integration.next_run_at)) <= ts(now)),
            )
            .order_by(col(Integration.next_run_at), col(Integration.id))
        ).all()
        for integration in integrations:
            due_at = integration.next_run_at
            if due_at is not None and open_run(session, integration.org_id) is not None:
                continue  # the open run finishes first; the slot stays due until then
            following = next_run_after(now, integration.schedule_every_hours)
            # The slot moves only together with its run: when a Run now queued one meanwhile,
            # the savepoint undoes the move and the slot stays due until that run finished.
            savepoint = session.begin_nested()
            moved = session.execute(
                update(Integration)
                .where(
                    col(Integration.id) == integration.id,
                    col(Integration.state) == IntegrationState.ACTIVE,
                    col(Integration.next_run_at).is_(None)
                    if due_at is None
                    else ts(col(Integration.next_run_at)) == ts(due_at),
                )
                .values(next_run_at=following)
            )
            if getattr(moved, "rowcount", 0) != 1 or due_at is None:
                savepoint.commit()
                continue
            outcome = queue_run(session, org_id=integration.org_id, trigger=Trigger.AUTOMATIC, now=now)
            if not outcome.created:
                savepoint.rollback()
                continue
            savepoint.commit()
            assert outcome.run.id is not None
            queued.append(
                EnqueuedRun(run_id=outcome.run.id, org_id=integration.org_id, next_run_at=following)
            )
    return queued
