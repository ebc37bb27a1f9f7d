"""The integration's state machine, in one place: inactive -> active <-> paused.

    activate        inactive/paused -> active, queues the first run
    deactivate      any -> inactive
    run_now         queues a manual run (or returns the open one; an approval marks it approved)
    record_failure  active -> paused when an unattended run fails or a safety stop hits; owners emailed
    record_success  paused -> active when a manual or activation run succeeded
    record_test     a passing Test of the saved settings enables Activate and resumes; a failing one
                    withdraws an earlier pass
    resume          paused -> active

Plus the staff-only schedule and add-on switches.
"""

from __future__ import annotations

from sqlalchemy import Engine
from sqlmodel import Session, select

from storage.clock import utcnow
from storage.db import write_session
from storage.models import Integration, Organization, Run
from sync.core.errors import SAFETY_STOP, ErrorInfo, SyncError
from sync.core.states import IntegrationState, RunStatus, Trigger
from sync.core.timetable import next_run_after
from sync.integration import near_real_time, queue
from sync.integration.settings import get_integration, is_tested, settings_hash
from sync.mail.outbox import notify_owners_of_failure

NOT_TESTED = "not_tested"
# Triggers whose failure pauses automatic runs: nobody watches them, so the owners are told.
# A failed manual run pauses nothing: the person who started it sees the result.
_UNATTENDED_TRIGGERS = (Trigger.AUTOMATIC, Trigger.ACTIVATION, Trigger.WEBHOOK)


def activate(
    engine: Engine,
    org_id: int,
    *,
    user_id: int | None = None,
    staff_id: int | None = None,
    label: str | None = None,
    require_test: bool = True,
) -> Run:
    """Switch automatic runs on and queue the first run (trigger `activation`).

    Raises SyncError(not_tested) when the settings as saved have no passing Test
    (operators on the command line may skip that check with require_test=False).
    """
    now = utcnow()
    with write_session(engine) as session:
        integration = get_integration(session, org_id)
        if require_test and not is_tested(integration):
            raise SyncError(
                NOT_TESTED,
                "The current settings have not passed a Test yet.",
                "Click Test, check the preview, then Activate.",
            )
        integration.state = IntegrationState.ACTIVE
        integration.pause_reason = None
        integration.paused_run_id = None
        integration.next_run_at = next_run_after(now, integration.schedule_every_hours)
        integration.updated_at = now
        session.add(integration)
        return queue.enqueue_run(
            session,
            org_id=org_id,
            trigger=Trigger.ACTIVATION,
            user_id=user_id,
            staff_id=staff_id,
            label=label,
            now=now,
        )


def deactivate(engine: Engine, org_id: int) -> None:
    """Stop automatic runs (settings and history are kept; Activate undoes it). Near-real-time
    updates go off too: their webhook is deleted in Personio (best effort, see `switch_off`)."""
    with write_session(engine) as session:
        integration = get_integration(session, org_id)
        registered = integration.near_real_time or integration.webhook_id is not None
    if registered:
        near_real_time.switch_off(engine, org_id)
    with write_session(engine) as session:
        integration = get_integration(session, org_id)
        integration.state = IntegrationState.INACTIVE
        integration.next_run_at = None
        integration.pause_reason = None
        integration.paused_run_id = None
        integration.updated_at = utcnow()
        session.add(integration)


def run_now(
    engine: Engine,
    org_id: int,
    *,
    user_id: int | None = None,
    staff_id: int | None = None,
    label: str | None = None,
    approve_safety: bool = False,
) -> Run:
    """Queue a manual run, or return the organization's run that is already queued or running.

    Safe against concurrent callers on both engines: the database keeps one open run per
    organization, and every caller gets that run.
    """
    with write_session(engine) as session:
        outcome = queue.queue_run(
            session,
            org_id=org_id,
            trigger=Trigger.MANUAL,
            user_id=user_id,
            staff_id=staff_id,
            label=label,
            approve_safety=approve_safety,
        )
        run = outcome.run
        if not outcome.created and approve_safety and run.status == RunStatus.QUEUED:
            run.approve_safety = True  # an approval turns the queued run into an approved one
            session.add(run)
        return run


def set_schedule(engine: Engine, org_id: int, every_hours: int | None) -> Integration:
    """Daily at 04:00 UTC (None) or every N hours (support staff only)."""
    if every_hours is not None and not 1 <= every_hours <= 24:
        raise ValueError("The schedule is every 1 to 24 hours, or daily at 04:00 UTC.")
    with write_session(engine) as session:
        integration = get_integration(session, org_id)
        integration.schedule_every_hours = every_hours
        if integration.state == IntegrationState.ACTIVE:
            integration.next_run_at = next_run_after(utcnow(), every_hours)
        integration.updated_at = utcnow()
        session.add(integration)
        return integration


def set_addon(engine: Engine, org_id: int, enabled: bool) -> Organization:
    """Enable or disable the paid Personio add-on of an organization (support staff only)."""
    with write_session(engine) as session:
        org = session.exec(select(Organization).where(Organization.id == org_id)).one()
        org.addon_enabled = enabled
        session.add(org)
        return org


# --- what a run or a Test means for the state ------------------------------------------


def record_failure(
    session: Session,
    *,
    run: Run,
    integration: Integration,
    error: ErrorInfo,
    would_deactivate: int | None = None,
) -> None:
    """Pause automatic runs and email the owners once, when an automatic run failed or a safety stop hit.

    Call it inside the transaction that records the failed run. A failure while already
    paused sends nothing new: owners hear once per incident, not once per tick. A safety stop
    of an integration that is not active (an operator's manual run) pauses nothing but is
    still reported to the owners.
    """
    pauses = run.trigger in _UNATTENDED_TRIGGERS or error.code == SAFETY_STOP
    if not pauses or integration.state == IntegrationState.PAUSED:
        return
    if integration.state == IntegrationState.ACTIVE:
        integration.state = IntegrationState.PAUSED
        integration.pause_reason = error.message
        integration.paused_run_id = run.id
        integration.updated_at = utcnow()
        session.add(integration)
    elif error.code != SAFETY_STOP:
        return
    notify_owners_of_failure(
        session,
        run=run,
        error=error,
        would_deactivate=would_deactivate,
        paused=integration.state == IntegrationState.PAUSED,
    )


def record_success(session: Session, *, run: Run, integration: Integration) -> None:
    """A successful manual (or activation) run resumes paused automatic runs.

    A slot that passed while paused is not caught up: this run just brought the directory
    in step, so the next automatic run is the next slot from now.
    """
    if integration.state == IntegrationState.PAUSED and run.trigger in (Trigger.MANUAL, Trigger.ACTIVATION):
        resume(session, integration)
        now = utcnow()
        if integration.next_run_at is None or integration.next_run_at <= now:
            integration.next_run_at = next_run_after(now, integration.schedule_every_hours)


def resume(session: Session, integration: Integration) -> None:
    """Resume automatic runs of a paused integration (a manual run or a Test passed).

    The stored next run time is kept: a slot missed while paused runs once, at the next tick.
    """
    integration.state = IntegrationState.ACTIVE
    integration.pause_reason = None
    integration.paused_run_id = None
    integration.updated_at = utcnow()
    session.add(integration)


def record_test(engine: Engine, org_id: int, *, passed: bool, tested_hash: str | None) -> None:
    """The Test's verdict: a pass of the settings as saved enables Activate and resumes a pause."""
    with write_session(engine) as session:
        integration = session.exec(select(Integration).where(Integration.org_id == org_id)).first()
        if integration is None:
            return
        # Settings saved while the Test ran are not what it tested.
        if passed and tested_hash == settings_hash(integration):
            integration.last_test_ok_at = utcnow()
            integration.last_test_settings_hash = tested_hash
            if integration.state == IntegrationState.PAUSED:
                resume(session, integration)
        elif not passed:
            integration.last_test_ok_at = None
            integration.last_test_settings_hash = None
        session.add(integration)
