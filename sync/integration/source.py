"""The source side of a run or a Test: fetch the employees from Personio, then plan against a snapshot.

No lock is held while fetching; `plan_source` reads the directory in the caller's session.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session, col, func, select

from storage.config import PersonioSettings, allowed_personio_origins, read
from storage.models import Integration, Organization, Run, User
from sync.core.employees import Employee, SkippedRecord
from sync.core.errors import NOT_CONFIGURED, SyncError
from sync.core.plan import Plan, make_plan
from sync.core.rules import desired_state, required_attributes
from sync.core.settings import TEAM_ATTRIBUTES, SyncSettings
from sync.core.states import RunStatus
from sync.integration.settings import credentials
from sync.integration.snapshot import load_directory
from sync.integration.unchanged import DigestWhileFetching, source_key
from sync.personio.client import FetchProgress, PersonioClient
from sync.personio.pacing import host_rate_limit_per_minute, rate_limit_per_minute

ClientFactory = Callable[..., PersonioClient]
EXAMPLES_PER_ATTRIBUTE = 3


@dataclass(frozen=True)
class Source:
    """What Personio returned: the employees, the records that could not be read, and which
    attribute keys came back at all (Personio silently withholds attributes)."""

    employees: list[Employee]
    skipped: list[SkippedRecord]
    present_attributes: frozenset[str] | None = None
    digest: str = ""  # of Personio's answer (`FetchResult.digest`); "" when not fetched from Personio


def load_integration(session: Session, org_id: int) -> tuple[Integration, Organization]:
    integration = session.exec(select(Integration).where(Integration.org_id == org_id)).first()
    org = session.get(Organization, org_id)
    if integration is None or org is None:
        raise SyncError(
            NOT_CONFIGURED, "This organization has no Personio integration yet.", "Create it first."
        )
    return integration, org


def known_employee_count(session: Session, org_id: int) -> int | None:
    """How many employees the last successful run knew: the directory users that came from Personio
    (deactivated ones included). None before the first successful run, and when the Client Secret
    was entered after it (new credentials may read another, larger company): no relative limit then.
    """
    finished = session.exec(
        select(Run.finished_at)
        .where(Run.org_id == org_id, Run.status == RunStatus.SUCCEEDED, col(Run.finished_at).is_not(None))
        .order_by(col(Run.finished_at).desc())
        .limit(1)
    ).first()
    if finished is None:
        return None
    secret_set_at = session.exec(
        select(Integration.secret_set_at).where(Integration.org_id == org_id)
    ).first()
    if secret_set_at is not None and _as_utc(secret_set_at) > _as_utc(finished):
        return None
    from_personio = col(User.personio_id).is_not(None)
    linked = session.exec(
        select(func.count()).select_from(User).where(User.org_id == org_id, from_personio)
    ).one()
    return int(linked)


def _as_utc(moment: datetime) -> datetime:
    """SQLite hands timestamps back without an offset (they are stored as UTC); PostgreSQL with one."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


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
    known_employees: int | None = None,
    stop: threading.Event | None = None,
) -> Source:
    """Fetch the employees with the integration's credentials and this process's Personio settings.

    `known_employees` (`known_employee_count`): a `total_elements` over ten times that fails the
    fetch. `stop`: once set, the fetch is abandoned at the next chunk, page or wait.

    Raises SyncError (the client's, or not_configured for an unusable PERSONIO_RATE_LIMIT_PER_MINUTE,
    PERSONIO_HOST_RATE_LIMIT_PER_MINUTE, PERSONIO_RUN_DEADLINE_SECONDS or PERSONIO_MAX_PAGE_BYTES),
    InvalidSetting for an unusable PERSONIO_RETRY_BACKOFF_SECONDS, and FetchAbandoned once `stop` is set.
    """
    client_id, secret = credentials(integration)
    personio = read(PersonioSettings)
    factory = client_factory or PersonioClient
    with (
        factory(
            base_url=integration.base_url,
            client_id=client_id,
            client_secret=secret,
            on_progress=on_progress,
            backoff_base=personio.personio_retry_backoff_seconds,
            rate_limit=rate_limit_per_minute(personio.personio_rate_limit_per_minute),
            host_rate_limit=host_rate_limit_per_minute(personio.personio_host_rate_limit_per_minute),
            run_deadline=personio.personio_run_deadline_seconds,
            max_page_bytes=personio.personio_max_page_bytes,
            known_employees=known_employees,
            allowed_origins=allowed_personio_origins(),
        ) as client,
        paused_gc(),
    ):
        result = client.fetch_employees(required=required_attributes(settings), stop=stop)
    return Source(
        employees=result.employees,
        skipped=list(result.skipped),
        present_attributes=result.present_attributes,
        digest=result.digest,
    )


def plan_source(
    source: Source,
    session: Session,
    org_id: int,
    settings: SyncSettings,
    *,
    early: DigestWhileFetching,
) -> Plan:
    """The plan for this organization's directory as it is in `session`.

    When Personio returned the same as for the organization's last plan that changed nothing, and
    the directory is the same as then, that plan is the answer (`sync.integration.unchanged`);
    `early` has read the directory's digest while the fetch ran.
    """
    key = source_key(source.digest, settings)
    if key is not None and (remembered := early.plan(key)) is not None:
        return remembered
    with paused_gc():
        desired = desired_state(source.employees, settings, present_attributes=source.present_attributes)
        if source.skipped:
            desired = replace(desired, warnings=tuple(source.skipped) + desired.warnings)
        directory = load_directory(session, org_id)
        plan = make_plan(desired, directory, settings)
    if key is not None and plan.is_empty:
        plan = replace(plan, unchanged_from=(key, directory.digest))
    return plan


def team_names_per_attribute(employees: list[Employee], settings: SyncSettings) -> dict[str, list[str]]:
    """A few team names each team attribute would create from these employees (for the settings page)."""
    every = replace(settings, team_attributes=TEAM_ATTRIBUTES, sync_external=True)
    examples: dict[str, list[str]] = {a: [] for a in TEAM_ATTRIBUTES}
    for team in desired_state(employees, every).teams:
        names = examples[team.attribute]
        if len(names) < EXAMPLES_PER_ATTRIBUTE:
            names.append(team.name)
    return examples


def warnings_json(plan: Plan) -> list[dict[str, Any]]:
    return [{"personio_id": w.personio_id, "reason": w.reason} for w in plan.warnings]
