"""One run end to end.

    fetch (no lock) -> [write transaction: directory, plan, safety, apply, outcome, state]

A failure at any point leaves the directory exactly as it was: the only writes are
inside one transaction, and a failed run writes nothing but its own record.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, select

from storage.clock import utcnow
from storage.config import MAX_LEASE_RENEWAL_SECONDS
from storage.db import read_session, write_session
from storage.models import Integration, Organization, Run
from sync.core.changes import counts_text, empty_counts
from sync.core.errors import ErrorInfo, FetchAbandoned, SyncError, describe_exception, internal_error
from sync.core.plan import Change, check_safety
from sync.core.settings import SyncSettings
from sync.integration import queue
from sync.integration.apply import apply_plan
from sync.integration.lifecycle import record_failure, record_success
from sync.integration.settings import settings_of
from sync.integration.source import (
    ClientFactory,
    Source,
    fetch_source,
    known_employee_count,
    load_integration,
    paused_gc,
    plan_source,
    warnings_json,
)
from sync.integration.unchanged import DigestWhileFetching, remember_unchanged

log = logging.getLogger("sync.runner")


@dataclass(frozen=True)
class RunOutcome:
    run_id: int
    status: str
    error: ErrorInfo | None
    counts: dict[str, int]
    # kept as Change values; dicts are made only when someone reads them (a big run has many)
    plan_changes: tuple[Change, ...] = ()
    warnings: list[dict[str, Any]] = field(default_factory=list)

    @property
    def changes(self) -> list[dict[str, Any]]:
        return [change.as_dict() for change in self.plan_changes]

    def as_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "status": self.status,
            "error": self.error.as_dict() if self.error else None,
            "counts": self.counts,
            "changes": self.changes,
            "warnings": self.warnings,
        }


class _LeaseKeeper:
    """Renews a run's lease in the background while the run fetches, plans and applies.

    Every min(lease / 3, 5) seconds: a live run misses two renewals before its lease runs out,
    and a killed one is failed as lease_expired within about SCHEDULER_LEASE_SECONDS.
    """

    def __init__(self, engine: Engine, run_id: int, worker_id: str, lease_seconds: int) -> None:
        self._stop = threading.Event()
        self._args = (engine, run_id, worker_id, lease_seconds)
        self._thread = threading.Thread(target=self._loop, name=f"lease-{run_id}", daemon=True)

    def _loop(self) -> None:
        engine, run_id, worker_id, lease_seconds = self._args
        while not self._stop.wait(renewal_interval(lease_seconds)):
            try:
                if not queue.renew_lease(
                    engine, run_id=run_id, worker_id=worker_id, lease_seconds=lease_seconds
                ):
                    return
            except Exception as exc:  # a busy database: try again at the next beat
                log.warning("could not renew the lease of run %s: %s", run_id, describe_exception(exc))

    def __enter__(self) -> _LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()


def renewal_interval(lease_seconds: float) -> float:
    """How often a lease of `lease_seconds` is renewed: a third of it, at most every 5 s."""
    return max(min(lease_seconds / 3, MAX_LEASE_RENEWAL_SECONDS), 0.1)


def execute_run(
    engine: Engine,
    run_id: int,
    *,
    worker_id: str,
    lease_seconds: int = queue.LEASE_SECONDS,
    client_factory: ClientFactory | None = None,
    stop: threading.Event | None = None,
) -> RunOutcome:
    """Execute a run already claimed by `worker_id`. Never raises for a sync failure.

    `stop` (the scheduler's, set when it is stopping): once set while the run still fetches from
    Personio, the fetch is abandoned, the run goes back to the queue having written nothing, and
    the outcome's status is `queued`. A run already past its fetch (planning, applying) finishes.
    """
    with read_session(engine) as session:
        run = session.get(Run, run_id)
        if run is None:
            raise ValueError(f"run {run_id} does not exist")
        org_id = run.org_id
    try:
        with read_session(engine) as session:
            integration, org = load_integration(session, org_id)
            settings = settings_of(integration)
            known = known_employee_count(session, org_id)
        # The lease is renewed for the whole run: a long apply must not look like a dead process.
        with _LeaseKeeper(engine, run_id, worker_id, lease_seconds):
            try:
                # A remembered plan's check reads the directory's digest while the fetch waits on
                # Personio; it is done when the fetch is, before the write lock is taken.
                with DigestWhileFetching(engine, org_id) as early:
                    source = fetch_source(
                        integration,
                        settings,
                        on_progress=None,
                        client_factory=client_factory,
                        known_employees=known,
                        stop=stop,
                    )
            except FetchAbandoned:
                pass  # released below, once the lease is no longer renewed
            else:
                return _apply_and_record(engine, run_id, worker_id, source, settings, org, early)
        return _release_abandoned(engine, run_id, worker_id)
    except SyncError as exc:
        return _record_failure(engine, run_id, worker_id, exc.info)
    except Exception as exc:
        log.error("run %s failed unexpectedly: %s", run_id, describe_exception(exc))
        return _record_failure(engine, run_id, worker_id, internal_error(exc))


def _release_abandoned(engine: Engine, run_id: int, worker_id: str) -> RunOutcome:
    """A run whose fetch was abandoned (the process is stopping): back to the queue, nothing written."""
    if queue.release_run(engine, run_id=run_id, worker_id=worker_id):
        log.info("run %s abandoned while fetching: back in the queue", run_id)
        return RunOutcome(run_id, queue.QUEUED, None, empty_counts())
    return RunOutcome(run_id, queue.FAILED, queue.LEASE_EXPIRED_ERROR, empty_counts())


class _LeaseLost(Exception):
    pass


def _apply_and_record(
    engine: Engine,
    run_id: int,
    worker_id: str,
    source: Source,
    settings: SyncSettings,
    org: Organization,
    early: DigestWhileFetching,
) -> RunOutcome:
    failure: tuple[ErrorInfo, int] | None = None
    try:
        with write_session(engine) as session:
            run = _owned_run(session, run_id, worker_id)
            assert org.id is not None
            plan = plan_source(source, session, org.id, settings, early=early)
            stop = check_safety(plan, settings, approved=run.approve_safety)
            if stop is not None:
                failure = (stop, plan.counts.get("users_deactivated", 0))
                raise _SafetyStop()
            now = utcnow()
            with paused_gc():
                apply_plan(
                    session,
                    plan,
                    org_id=org.id,
                    org_name=org.name,
                    run_id=run_id,
                    language=settings.language,
                    now=now,
                )
            _finish(run, counts=plan.counts, now=now)
            session.add(run)
            integration = session.exec(select(Integration).where(Integration.org_id == org.id)).one()
            record_success(session, run=run, integration=integration)
            remember_unchanged(session, org.id, plan)
    except _SafetyStop:
        assert failure is not None
        return _record_failure(engine, run_id, worker_id, failure[0], would_deactivate=failure[1])
    except _LeaseLost:
        return RunOutcome(run_id, queue.FAILED, queue.LEASE_EXPIRED_ERROR, empty_counts())
    log.info("run %s of org %s succeeded: %s", run_id, org.slug, counts_text(plan.counts))
    return RunOutcome(
        run_id,
        queue.SUCCEEDED,
        None,
        plan.counts,
        plan.changes,
        warnings_json(plan),
    )


class _SafetyStop(Exception):
    pass


def _owned_run(session: Session, run_id: int, worker_id: str) -> Run:
    """The run, locked for this transaction (PostgreSQL: FOR UPDATE; SQLite holds the write lock)."""
    run = session.get(Run, run_id, with_for_update=True)
    if run is None or run.status != queue.RUNNING or run.lease_owner != worker_id:
        raise _LeaseLost()
    return run


def _finish(run: Run, *, counts: dict[str, int], now: datetime) -> None:
    """Record a run that succeeded (a failed one is `queue.failed_run_values`)."""
    run.status = queue.SUCCEEDED
    run.finished_at = now
    run.counts = dict(counts)
    run.lease_owner = None
    run.lease_expires_at = None


def _record_failure(
    engine: Engine, run_id: int, worker_id: str, error: ErrorInfo, *, would_deactivate: int | None = None
) -> RunOutcome:
    with write_session(engine) as session:
        try:
            run = _owned_run(session, run_id, worker_id)
        except _LeaseLost:
            return RunOutcome(run_id, queue.FAILED, queue.LEASE_EXPIRED_ERROR, empty_counts())
        run.sqlmodel_update({**queue.failed_run_values(error, now=utcnow()), "counts": empty_counts()})
        session.add(run)
        integration = session.exec(select(Integration).where(Integration.org_id == run.org_id)).first()
        if integration is not None:
            record_failure(
                session, run=run, integration=integration, error=error, would_deactivate=would_deactivate
            )
    log.warning("run %s failed: %s (%s)", run_id, error.code, error.message)
    return RunOutcome(run_id, queue.FAILED, error, empty_counts())
