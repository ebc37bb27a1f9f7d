"""One run end to end, and the Test that previews it.

    fetch (no lock) -> [write transaction: directory, plan, safety, apply, outcome] -> notify

A failure at any point leaves the directory exactly as it was: the only writes are
inside one transaction, and a failed run writes nothing but its own record.
"""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, select

from storage.clock import utcnow
from storage.config import personio_retry_backoff_seconds
from storage.db import read_session, write_session
from storage.models import Integration, Organization, Run
from sync import queue
from sync.apply import apply_plan
from sync.directory import load_directory
from sync.employees import Employee, SkippedRecord
from sync.errors import NOT_CONFIGURED, ErrorInfo, SyncError, describe_exception, internal_error
from sync.notify import record_failure, record_success, resume
from sync.personio import FetchProgress, PersonioClient
from sync.plan import COUNT_KEYS, Change, Plan, check_safety, make_plan
from sync.rules import desired_state, required_attributes
from sync.settings import TEAM_ATTRIBUTES, SyncSettings, credentials, settings_hash, settings_of

log = logging.getLogger("sync.runner")

ProgressCallback = Callable[[str, float], None]
ClientFactory = Callable[..., PersonioClient]
EXAMPLES_PER_ATTRIBUTE = 3


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


@dataclass(frozen=True)
class TestResult:
    ok: bool
    error: ErrorInfo | None
    counts: dict[str, int]
    changes: list[dict[str, Any]]
    warnings: list[dict[str, Any]]
    team_examples: dict[str, list[str]]
    employees: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "error": self.error.as_dict() if self.error else None,
            "counts": self.counts,
            "changes": self.changes,
            "warnings": self.warnings,
        }


def empty_counts() -> dict[str, int]:
    return {key: 0 for key in COUNT_KEYS}


def _warnings_json(plan: Plan) -> list[dict[str, Any]]:
    return [{"personio_id": w.personio_id, "reason": w.reason} for w in plan.warnings]


@dataclass(frozen=True)
class Source:
    """What Personio returned: the employees, the records that could not be read, and which
    attribute keys came back at all (Personio silently withholds attributes)."""

    employees: list[Employee]
    skipped: list[SkippedRecord]
    present_attributes: frozenset[str] | None = None


def _load_integration(session: Session, org_id: int) -> tuple[Integration, Organization]:
    integration = session.exec(select(Integration).where(Integration.org_id == org_id)).first()
    org = session.get(Organization, org_id)
    if integration is None or org is None:
        raise SyncError(
            NOT_CONFIGURED, "This organization has no Personio integration yet.", "Create it first."
        )
    return integration, org


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector around bulk work.

    A run creates hundreds of thousands of small, long-lived objects; the collector would
    rescan them again and again (over half of plan time at 10,000 employees). Reference
    counting still frees everything; the collector resumes afterwards.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def fetch_source(
    integration: Integration,
    settings: SyncSettings,
    *,
    on_progress: Callable[[FetchProgress], None] | None,
    client_factory: ClientFactory | None,
) -> Source:
    client_id, secret = credentials(integration)
    factory = client_factory or PersonioClient
    with (
        factory(
            base_url=integration.base_url,
            client_id=client_id,
            client_secret=secret,
            on_progress=on_progress,
            backoff_base=personio_retry_backoff_seconds(),
        ) as client,
        paused_gc(),
    ):
        result = client.fetch_employees(required=required_attributes(settings))
    return Source(
        employees=result.employees,
        skipped=list(result.skipped),
        present_attributes=result.present_attributes,
    )


def plan_source(source: Source, session: Session, org_id: int, settings: SyncSettings) -> Plan:
    """The plan for this organization's directory as it is in `session`."""
    with paused_gc():
        desired = desired_state(source.employees, settings, present_attributes=source.present_attributes)
        if source.skipped:
            desired = replace(desired, warnings=tuple(source.skipped) + desired.warnings)
        return make_plan(desired, load_directory(session, org_id), settings)


def team_examples(employees: list[Employee], settings: SyncSettings) -> dict[str, list[str]]:
    """A few team names each team attribute would create from these employees (for the settings page)."""
    every = replace(settings, team_attributes=TEAM_ATTRIBUTES, sync_external=True)
    examples: dict[str, list[str]] = {a: [] for a in TEAM_ATTRIBUTES}
    for team in desired_state(employees, every).teams:
        names = examples[team.attribute]
        if len(names) < EXAMPLES_PER_ATTRIBUTE:
            names.append(team.name)
    return examples


# --- Test --------------------------------------------------------------------------------


def test_integration(
    engine: Engine,
    org_id: int,
    *,
    on_progress: ProgressCallback | None = None,
    client_factory: ClientFactory | None = None,
) -> TestResult:
    """Everything a run would do, up to the plan and the safety check; never writes the directory.

    A passing Test is recorded against the settings' hash (it enables Activate) and resumes
    paused automatic runs; a failing one withdraws an earlier pass.
    """
    report = on_progress or (lambda _message, _fraction: None)

    def fetch_progress(event: FetchProgress) -> None:
        fraction = 0.05 if event.total in (None, 0) else 0.05 + 0.8 * event.fetched / max(event.total or 1, 1)
        report(event.message, min(fraction, 0.85))

    examples: dict[str, list[str]] = {}
    tested_hash: str | None = None
    try:
        with read_session(engine) as session:
            integration, _org = _load_integration(session, org_id)
            settings = settings_of(integration)
            tested_hash = settings_hash(integration)
        report("Signing in to Personio", 0.02)
        source = fetch_source(
            integration, settings, on_progress=fetch_progress, client_factory=client_factory
        )
        examples = team_examples(source.employees, settings)
        report(f"Planning changes for {len(source.employees)} employees", 0.9)
        with read_session(engine) as session:
            plan = plan_source(source, session, org_id, settings)
        error = check_safety(plan, settings)
        result = TestResult(
            ok=error is None,
            error=error,
            counts=plan.counts,
            changes=[c.as_dict() for c in plan.changes],
            warnings=_warnings_json(plan),
            team_examples=examples,
            employees=len(source.employees),
        )
    except SyncError as exc:
        result = TestResult(False, exc.info, empty_counts(), [], [], examples)
    except Exception as exc:  # never a traceback for a person: log it, show a plain message
        log.error("test of org %s failed unexpectedly: %s", org_id, describe_exception(exc))
        result = TestResult(False, internal_error(exc), empty_counts(), [], [], examples)
    _record_test(engine, org_id, passed=result.ok, tested_hash=tested_hash)
    report("Done", 1.0)
    return result


def _record_test(engine: Engine, org_id: int, *, passed: bool, tested_hash: str | None) -> None:
    with write_session(engine) as session:
        integration = session.exec(select(Integration).where(Integration.org_id == org_id)).first()
        if integration is None:
            return
        # Settings saved while the Test ran are not what it tested.
        if passed and tested_hash == settings_hash(integration):
            integration.last_test_ok_at = utcnow()
            integration.last_test_settings_hash = tested_hash
            if integration.state == "paused":
                resume(session, integration)
        elif not passed:
            integration.last_test_ok_at = None
            integration.last_test_settings_hash = None
        session.add(integration)


# --- Run ---------------------------------------------------------------------------------


class _LeaseKeeper:
    """Renews a run's lease in the background while the run fetches, plans and applies."""

    def __init__(self, engine: Engine, run_id: int, worker_id: str, lease_seconds: int) -> None:
        self._stop = threading.Event()
        self._args = (engine, run_id, worker_id, lease_seconds)
        self._thread = threading.Thread(target=self._loop, name=f"lease-{run_id}", daemon=True)

    def _loop(self) -> None:
        engine, run_id, worker_id, lease_seconds = self._args
        while not self._stop.wait(max(lease_seconds / 3, 1)):
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


def execute_run(
    engine: Engine,
    run_id: int,
    *,
    worker_id: str,
    lease_seconds: int = queue.LEASE_SECONDS,
    client_factory: ClientFactory | None = None,
) -> RunOutcome:
    """Execute a run already claimed by `worker_id`. Never raises for a sync failure."""
    with read_session(engine) as session:
        run = session.get(Run, run_id)
        if run is None:
            raise ValueError(f"run {run_id} does not exist")
        org_id = run.org_id
    try:
        with read_session(engine) as session:
            integration, org = _load_integration(session, org_id)
            settings = settings_of(integration)
        # The lease is renewed for the whole run: a long apply must not look like a dead process.
        with _LeaseKeeper(engine, run_id, worker_id, lease_seconds):
            source = fetch_source(integration, settings, on_progress=None, client_factory=client_factory)
            return _apply_and_record(engine, run_id, worker_id, source, settings, org)
    except SyncError as exc:
        return _record_failure(engine, run_id, worker_id, exc.info)
    except Exception as exc:
        log.error("run %s failed unexpectedly: %s", run_id, describe_exception(exc))
        return _record_failure(engine, run_id, worker_id, internal_error(exc))


class _LeaseLost(Exception):
    pass


def _apply_and_record(
    engine: Engine, run_id: int, worker_id: str, source: Source, settings: SyncSettings, org: Organization
) -> RunOutcome:
    failure: tuple[ErrorInfo, int] | None = None
    try:
        with write_session(engine) as session:
            run = _owned_run(session, run_id, worker_id)
            assert org.id is not None
            plan = plan_source(source, session, org.id, settings)
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
            _finish(run, status=queue.SUCCEEDED, counts=plan.counts, now=now)
            session.add(run)
            integration = session.exec(select(Integration).where(Integration.org_id == org.id)).one()
            record_success(session, run=run, integration=integration)
    except _SafetyStop:
        assert failure is not None
        return _record_failure(engine, run_id, worker_id, failure[0], would_deactivate=failure[1])
    except _LeaseLost:
        return RunOutcome(run_id, queue.FAILED, queue.LEASE_EXPIRED_ERROR, empty_counts())
    log.info("run %s of org %s succeeded: %s", run_id, org.slug, _summary(plan.counts))
    return RunOutcome(
        run_id,
        queue.SUCCEEDED,
        None,
        plan.counts,
        plan.changes,
        _warnings_json(plan),
    )


class _SafetyStop(Exception):
    pass


def _owned_run(session: Session, run_id: int, worker_id: str) -> Run:
    """The run, locked for this transaction (PostgreSQL: FOR UPDATE; SQLite holds the write lock)."""
    run = session.get(Run, run_id, with_for_update=True)
    if run is None or run.status != queue.RUNNING or run.lease_owner != worker_id:
        raise _LeaseLost()
    return run


def _finish(
    run: Run, *, status: str, counts: dict[str, int], now: datetime, error: ErrorInfo | None = None
) -> None:
    run.status = status
    run.finished_at = now
    run.counts = dict(counts)
    run.lease_owner = None
    run.lease_expires_at = None
    if error is not None:
        run.error_code, run.error_message, run.error_hint = error.code, error.message, error.hint


def _record_failure(
    engine: Engine, run_id: int, worker_id: str, error: ErrorInfo, *, would_deactivate: int | None = None
) -> RunOutcome:
    with write_session(engine) as session:
        try:
            run = _owned_run(session, run_id, worker_id)
        except _LeaseLost:
            return RunOutcome(run_id, queue.FAILED, queue.LEASE_EXPIRED_ERROR, empty_counts())
        _finish(run, status=queue.FAILED, counts=empty_counts(), now=utcnow(), error=error)
        session.add(run)
        integration = session.exec(select(Integration).where(Integration.org_id == run.org_id)).first()
        if integration is not None:
            record_failure(
                session, run=run, integration=integration, error=error, would_deactivate=would_deactivate
            )
    log.warning("run %s failed: %s (%s)", run_id, error.code, error.message)
    return RunOutcome(run_id, queue.FAILED, error, empty_counts())


def _summary(counts: dict[str, int]) -> str:
    shown = [f"{key}={value}" for key, value in counts.items() if value]
    return ", ".join(shown) or "no changes"
