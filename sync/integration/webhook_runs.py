"""Near-real-time runs: the scheduler's side of Personio's webhooks (thin I/O around sync.core.debounce).

The receiver (sync.webhooks) records each accepted event with `run_id` NULL. Each tick, the
scheduler reads who has waiting events; for an organization whose events are due (quiet for
WEBHOOK_QUIET_SECONDS, or the first one WEBHOOK_MAX_DELAY_SECONDS old) and that has no open run,
it queues ONE ordinary run with trigger `webhook` and marks the waiting events as consumed by it,
in the same write transaction. Events arriving while that run is open stay waiting and cause one
more run after it. Only active integrations with near-real-time updates switched on and the
add-on enabled get such runs; the daily run stays the reconciliation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, delete, func, update
from sqlmodel import col, select

from storage.db import read_session, write_session
from storage.models import Integration, Organization, Run, WebhookEvent
from storage.timestamps import ts
from sync.core.debounce import Pending, run_due
from sync.core.states import IntegrationState, Trigger
from sync.integration.queue import queue_run

EVENT_RETENTION = timedelta(days=4)  # Personio retries for up to 3 days; older events are history
PRUNE_BATCH = 500  # rows per delete, so no long write lock


@dataclass(frozen=True)
class WebhookRun:
    """A run queued for waiting events: which organization, which run, how many events and their names."""

    org_id: int
    run_id: int
    events: int
    event_names: tuple[str, ...]


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def pending_events(engine: Engine) -> dict[int, Pending]:
    """Per organization whose near-real-time updates may run now: its waiting events."""
    with read_session(engine) as session:
        rows = session.exec(
            select(
                WebhookEvent.org_id,
                func.min(WebhookEvent.received_at),
                func.max(WebhookEvent.received_at),
                func.count(col(WebhookEvent.id)),
            )
            .join(Integration, col(Integration.org_id) == col(WebhookEvent.org_id))
            .join(Organization, col(Organization.id) == col(WebhookEvent.org_id))
            .where(
                col(WebhookEvent.run_id).is_(None),
                Integration.state == IntegrationState.ACTIVE,
                col(Integration.near_real_time).is_(True),
                col(Organization.addon_enabled).is_(True),
            )
            .group_by(col(WebhookEvent.org_id))
        ).all()
    return {
        org_id: Pending(first_received_at=_utc(first), last_received_at=_utc(last), count=count)
        for org_id, first, last, count in rows
    }


def enqueue_webhook_runs(
    engine: Engine, *, now: datetime, quiet: timedelta, max_delay: timedelta
) -> list[WebhookRun]:
    """Queue one `webhook` run per organization whose waiting events are due and that has no open run."""
    due = [
        org_id
        for org_id, pending in pending_events(engine).items()
        if run_due(pending, now=now, quiet=quiet, max_delay=max_delay)
    ]
    queued: list[WebhookRun] = []
    for org_id in due:
        with write_session(engine) as session:
            integration = session.exec(select(Integration).where(Integration.org_id == org_id)).first()
            if (
                integration is None
                or integration.state != IntegrationState.ACTIVE
                or not integration.near_real_time
            ):
                continue  # switched off since it was read
            waiting = session.exec(
                select(WebhookEvent.id, WebhookEvent.event_name).where(
                    WebhookEvent.org_id == org_id, col(WebhookEvent.run_id).is_(None)
                )
            ).all()
            if not waiting:
                continue
            outcome = queue_run(session, org_id=org_id, trigger=Trigger.WEBHOOK, now=now)
            if not outcome.created:
                continue  # a run is open: the events wait for the one after it
            run: Run = outcome.run
            names = tuple(sorted({name for _id, name in waiting}))
            run.trigger_events = list(names)
            session.add(run)
            session.flush()
            assert run.id is not None
            last_id = max(event_id for event_id, _name in waiting if event_id is not None)
            session.execute(
                update(WebhookEvent)
                .where(
                    col(WebhookEvent.org_id) == org_id,
                    col(WebhookEvent.run_id).is_(None),
                    col(WebhookEvent.id) <= last_id,
                )
                .values(run_id=run.id)
            )
            queued.append(WebhookRun(org_id=org_id, run_id=run.id, events=len(waiting), event_names=names))
    return queued


def prune_webhook_events(engine: Engine, *, now: datetime, batches: int = 20) -> int:
    """Delete events received more than four days ago, PRUNE_BATCH rows per transaction; returns how many."""
    cutoff = now - EVENT_RETENTION
    deleted = 0
    for _batch in range(batches):
        with write_session(engine) as session:
            ids = session.exec(
                select(WebhookEvent.id)
                .where(ts(col(WebhookEvent.received_at)) < ts(cutoff))
                .order_by(col(WebhookEvent.id))
                .limit(PRUNE_BATCH)
            ).all()
            if not ids:
                break
            session.execute(delete(WebhookEvent).where(col(WebhookEvent.id).in_(ids)))
            deleted += len(ids)
        if len(ids) < PRUNE_BATCH:
            break
    return deleted


def event_stats(engine: Engine, org_id: int, *, now: datetime) -> tuple[datetime | None, int]:
    """The last event received for the organization, and how many arrived in the last 24 hours."""
    with read_session(engine) as session:
        last = session.exec(
            select(func.max(WebhookEvent.received_at)).where(WebhookEvent.org_id == org_id)
        ).one()
        recent = session.exec(
            select(func.count(col(WebhookEvent.id))).where(
                WebhookEvent.org_id == org_id,
                ts(col(WebhookEvent.received_at)) >= ts(now - timedelta(hours=24)),
            )
        ).one()
    return (_utc(last) if last is not None else None), int(recent)
