"""The run queue: enqueue, claim with a lease, renew, and fail runs whose lease expired.

A claimed run is `running` with a lease owner and expiry. A partial unique index
(storage.models.Run) lets the database refuse a second running run of one
organization, so two schedulers, on SQLite or PostgreSQL, can never both run it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from storage.clock import utcnow
from storage.config import DEFAULT_LEASE_SECONDS
from storage.db import write_session
from storage.models import Integration, Organization, Run
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
    now: datetime | None = None,
) -> Run:
    """Add a queued run (flushed, so it has an id). The caller commits."""
    if trigger not in TRIGGERS:
        raise ValueError(f"unknown trigger {trigger!r}")
    run = Run(
        org_id=org_id,
        trigger=trigger,
        triggered_by_user_id=user_id,
        triggered_by_staff_id=staff_id,
        triggered_by_label=label,
        approve_safety=approve_safety,
        status=QUEUED,
        queued_at=now or utcnow(),
    )
    session.add(run)
    session.flush()
    return run


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

    Returns the claimed run (status running, leased to `worker_id`) or None.
    """
    now = now or utcnow()
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
            try:
                session.flush()
            except IntegrityError:  # another process started a run of this organization
                session.rollback()
                return None
            session.refresh(run)
            return run
    return None


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
    """Mark failed every running run whose lease expired (its process died). Returns them; the caller logs.

    Each row is updated only while it is still running with an expired lease, so a run that
    finished (or renewed its lease) in the meantime is never overwritten.
    """
    now = now or utcnow()
    failed: list[Run] = []
    with write_session(engine) as session:
        candidates = session.exec(
            select(Run).where(Run.status == RUNNING, col(Run.lease_expires_at) < now)
        ).all()
        for run in candidates:
            result = session.execute(
                update(Run)
                .where(col(Run.id) == run.id, col(Run.status) == RUNNING, col(Run.lease_expires_at) < now)
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
                (col(Integration.next_run_at).is_(None)) | (col(Integration.next_run_at) <= now),
            )
            .order_by(col(Integration.next_run_at), col(Integration.id))
        ).all()
        for integration in integrations:
            due_at = integration.next_run_at
            if due_at is not None and open_run(session, integration.org_id) is not None:
                continue  # the open run finishes first; the slot stays due until then
            following = next_run_after(now, integration.schedule_every_hours)
            moved = session.execute(
                update(Integration)
                .where(
                    col(Integration.id) == integration.id,
                    col(Integration.state) == IntegrationState.ACTIVE,
                    col(Integration.next_run_at).is_(None)
                    if due_at is None
                    else col(Integration.next_run_at) == due_at,
                )
                .values(next_run_at=following)
            )
            if getattr(moved, "rowcount", 0) != 1 or due_at is None:
                continue
            run = enqueue_run(session, org_id=integration.org_id, trigger=Trigger.AUTOMATIC, now=now)
            assert run.id is not None
            queued.append(EnqueuedRun(run_id=run.id, org_id=integration.org_id, next_run_at=following))
    return queued
