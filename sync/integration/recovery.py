"""Runs whose lease expired (their process died): fail them, then retry once or give up.

One function, `recover_expired_runs`, called by every scheduler tick (and the CLI while it
waits for a run): in ONE write transaction per pass it fails each expired run (a conditional
update, so of several schedulers exactly one handles a run), and then, as
`sync.core.recovery.after_lease_expired` decides, either queues the retry (same trigger and
requester, `retry_of_run_id` set) or, for the second expiry in a row, pauses the integration
and queues the email to its owners and the support staff. The retry, the pause and the emails
exist exactly when the failure was committed, so they happen once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from storage.clock import utcnow
from storage.db import write_session
from storage.models import Integration, Run
from sync.core.errors import ErrorInfo
from sync.core.recovery import (
    LEASE_EXPIRED_RETRIED,
    LEASE_EXPIRED_TWICE,
    AfterLeaseExpired,
    after_lease_expired,
)
from sync.core.states import IntegrationState, RunStatus
from sync.integration import queue
from sync.mail.outbox import notify_repeated_crash


@dataclass(frozen=True)
class ExpiredRun:
    """What happened to one run whose lease expired."""

    run_id: int
    org_id: int
    decision: AfterLeaseExpired
    retry_run_id: int | None = None  # the retry queued (RETRY)
    previous_run_id: int | None = None  # the run that expired before it (GIVE_UP)
    paused: bool = False
    emails: int = 0

    @property
    def follow_up(self) -> str:
        """What follows, for the log: `run 13 queued (retry of run 12)`, or why not."""
        if self.decision == AfterLeaseExpired.RETRY:
            if self.retry_run_id is None:
                return "not retried: another run of the organization is queued"
            return f"run {self.retry_run_id} queued (retry of run {self.run_id})"
        after = f" (after run {self.previous_run_id})" if self.previous_run_id is not None else ""
        paused = "automatic runs paused, " if self.paused else ""
        if not self.emails and not self.paused:
            return f"the second in a row{after}: not retried; already paused, no new email"
        emails = f"{self.emails} email(s) to owners and support queued"
        return f"the second in a row{after}: not retried; {paused}{emails}"


def recover_expired_runs(engine: Engine, *, now: datetime | None = None) -> list[ExpiredRun]:
    """Fail every running run whose lease expired, and retry or give up on each. Returns what it did."""
    now = now or utcnow()
    done: list[ExpiredRun] = []
    with write_session(engine) as session:
        for run in queue.expire_runs(session, now=now):
            done.append(_after_expiry(session, run, now))
    return done


def _after_expiry(session: Session, run: Run, now: datetime) -> ExpiredRun:
    assert run.id is not None
    previous = session.exec(
        select(Run)
        .where(
            Run.org_id == run.org_id,
            col(Run.id) < run.id,
            col(Run.status).in_((RunStatus.SUCCEEDED, RunStatus.FAILED)),
        )
        .order_by(col(Run.id).desc())
    ).first()
    decision = after_lease_expired(previous.error_code if previous is not None else None)
    if decision == AfterLeaseExpired.RETRY:
        _record_error(session, run, LEASE_EXPIRED_RETRIED)
        retry = queue.queue_run(
            session,
            org_id=run.org_id,
            trigger=run.trigger,
            user_id=run.triggered_by_user_id,
            staff_id=run.triggered_by_staff_id,
            label=run.triggered_by_label,
            approve_safety=run.approve_safety,
            retry_of_run_id=run.id,
            now=now,
        )
        # The expired run was the organization's open run, so the retry is new unless someone
        # queued a run in this very moment: then that one syncs instead.
        retry_id = retry.run.id if retry.created else None
        return ExpiredRun(run.id, run.org_id, decision, retry_run_id=retry_id)
    _record_error(session, run, LEASE_EXPIRED_TWICE)
    previous_id = previous.id if previous is not None else None
    integration = session.exec(select(Integration).where(Integration.org_id == run.org_id)).first()
    if integration is None or integration.state == IntegrationState.PAUSED:
        # Already paused: the owners heard about this incident (or an earlier one) once.
        return ExpiredRun(run.id, run.org_id, decision, previous_run_id=previous_id)
    paused = integration.state == IntegrationState.ACTIVE
    if paused:
        integration.state = IntegrationState.PAUSED
        integration.pause_reason = LEASE_EXPIRED_TWICE.message
        integration.paused_run_id = run.id
        integration.updated_at = now
        session.add(integration)
    emails = notify_repeated_crash(session, run=run, previous_run_id=previous_id, paused=paused)
    return ExpiredRun(run.id, run.org_id, decision, previous_run_id=previous_id, paused=paused, emails=emails)


def _record_error(session: Session, run: Run, error: ErrorInfo) -> None:
    """The failed run says what follows (retried, or given up); its code stays lease_expired."""
    run.error_message = error.message
    run.error_hint = error.hint
    session.add(run)
