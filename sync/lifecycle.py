"""Switching an integration on and off, Run now, and the staff-only schedule and add-on."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlmodel import select

from storage.clock import utcnow
from storage.db import write_session
from storage.models import Integration, Organization, Run
from sync import queue
from sync.errors import SyncError
from sync.settings import get_integration, is_tested
from sync.timetable import next_run_after

NOT_TESTED = "not_tested"


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
        integration.state = "active"
        integration.pause_reason = None
        integration.paused_run_id = None
        integration.next_run_at = next_run_after(now, integration.schedule_every_hours)
        integration.updated_at = now
        session.add(integration)
        existing = queue.open_run(session, org_id)
        if existing is not None:
            return existing
        return queue.enqueue_run(
            session,
            org_id=org_id,
            trigger="activation",
            user_id=user_id,
            staff_id=staff_id,
            label=label,
            now=now,
        )


def deactivate(engine: Engine, org_id: int) -> None:
    """Stop automatic runs (settings and history are kept; Activate undoes it)."""
    with write_session(engine) as session:
        integration = get_integration(session, org_id)
        integration.state = "inactive"
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
    """Queue a manual run, or return the organization's run that is already queued or running."""
    with write_session(engine) as session:
        existing = queue.open_run(session, org_id)
        if existing is not None and not (approve_safety and existing.status == queue.QUEUED):
            return existing
        if existing is not None:  # an approval turns the queued run into an approved one
            existing.approve_safety = True
            session.add(existing)
            return existing
        return queue.enqueue_run(
            session,
            org_id=org_id,
            trigger="manual",
            user_id=user_id,
            staff_id=staff_id,
            label=label,
            approve_safety=approve_safety,
        )


def set_schedule(engine: Engine, org_id: int, every_hours: int | None) -> Integration:
    """Daily at 04:00 UTC (None) or every N hours (support staff only)."""
    if every_hours is not None and not 1 <= every_hours <= 24:
        raise ValueError("The schedule is every 1 to 24 hours, or daily at 04:00 UTC.")
    with write_session(engine) as session:
        integration = get_integration(session, org_id)
        integration.schedule_every_hours = every_hours
        if integration.state == "active":
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
