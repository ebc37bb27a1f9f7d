"""Read-only queries for the Integration page, returned as plain values.

Nothing here writes, and no value here holds a client secret: the integration view says
only whether one is set and when.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import col
from sqlmodel import select as model_select

from storage.config import WebhookSettings, read
from storage.db import read_session
from storage.models import Integration, Organization, Run
from sync.core.errors import ErrorInfo
from sync.core.settings import TEAM_ATTRIBUTES
from sync.core.states import IntegrationState, RunStatus
from sync.core.timetable import describe_schedule
from sync.integration.settings import default_integration, is_tested
from sync.integration.webhook_runs import event_stats
from sync.views.runs import run_error

# Shown next to each team checkbox until a Test has fetched real names.
GENERIC_TEAM_EXAMPLES: dict[str, list[str]] = {
    "supervisor": ["Peter Wright's team", "Anna Schmidt's team"],
    "team": ["Team Platform", "Team Payroll"],
    "department": ["Department IT", "Department Sales"],
    "office": ["Office Berlin", "Office Munich"],
    "employment_type": ["Employment type Internal", "Employment type External"],
}


@dataclass(frozen=True)
class LastRun:
    id: int
    status: str
    trigger: str
    queued_at: datetime
    finished_at: datetime | None
    error: ErrorInfo | None


@dataclass(frozen=True)
class IntegrationView:
    """What the Integration page shows. `secret_set_at` is all it knows about the secret."""

    org_id: int
    org_name: str
    addon_enabled: bool
    client_id: str
    secret_set_at: datetime | None
    base_url: str
    language: str
    sync_external: bool
    sync_job_title: bool
    team_attributes: tuple[str, ...]
    safety_threshold_pct: int
    state: str  # inactive | active | paused
    pause_reason: str | None
    pause_error: ErrorInfo | None  # the error of the run that paused automatic runs
    schedule_every_hours: int | None
    next_run_at: datetime | None
    tested: bool  # a passing Test covers the settings as saved
    last_test_ok_at: datetime | None
    open_run: LastRun | None  # queued or running now
    last_run: LastRun | None  # the latest finished run

    @property
    def has_secret(self) -> bool:
        return self.secret_set_at is not None

    @property
    def configured(self) -> bool:
        return bool(self.client_id) and self.has_secret

    @property
    def schedule_text(self) -> str:
        return describe_schedule(self.schedule_every_hours)


def last_run_of(run: Run | None) -> LastRun | None:
    """A run as the pages summarise it; None without a (saved) run."""
    if run is None or run.id is None:
        return None
    error = run_error(run) if run.status == RunStatus.FAILED else None
    return LastRun(
        id=run.id,
        status=run.status,
        trigger=run.trigger,
        queued_at=run.queued_at,
        finished_at=run.finished_at,
        error=error,
    )


def integration_view(engine: Engine, org_id: int) -> IntegrationView | None:
    """The organization's integration as the owner sees it; None when the organization does not exist."""
    with read_session(engine) as session:
        org = session.get(Organization, org_id)
        if org is None:
            return None
        integration = session.exec(model_select(Integration).where(Integration.org_id == org_id)).first()
        if integration is None:  # never saved: the defaults, without writing anything
            integration = default_integration(org_id)
        open_run = session.exec(
            model_select(Run)
            .where(Run.org_id == org_id, col(Run.status).in_((RunStatus.QUEUED, RunStatus.RUNNING)))
            .order_by(col(Run.id))
        ).first()
        last_run = session.exec(
            model_select(Run)
            .where(Run.org_id == org_id, col(Run.status).in_((RunStatus.SUCCEEDED, RunStatus.FAILED)))
            .order_by(col(Run.id).desc())
        ).first()
        paused_run = session.get(Run, integration.paused_run_id) if integration.paused_run_id else None
    paused = last_run_of(paused_run)
    pause_error = paused.error if paused else None
    return IntegrationView(
        org_id=org_id,
        org_name=org.name,
        addon_enabled=org.addon_enabled,
        client_id=integration.client_id,
        secret_set_at=integration.secret_set_at if integration.client_secret_encrypted else None,
        base_url=integration.base_url,
        language=integration.language,
        sync_external=integration.sync_external,
        sync_job_title=integration.sync_job_title,
        team_attributes=tuple(a for a in TEAM_ATTRIBUTES if a in (integration.team_attributes or [])),
        safety_threshold_pct=integration.safety_threshold_pct,
        state=integration.state,
        pause_reason=integration.pause_reason,
        pause_error=pause_error,
        schedule_every_hours=integration.schedule_every_hours,
        next_run_at=integration.next_run_at,
        tested=is_tested(integration),
        last_test_ok_at=integration.last_test_ok_at,
        open_run=last_run_of(open_run),
        last_run=last_run_of(last_run),
    )


def addon_enabled(engine: Engine, org_id: int) -> bool:
    with read_session(engine) as session:
        org = session.get(Organization, org_id)
        return bool(org and org.addon_enabled)


def team_examples(
    attribute: str, fetched: dict[str, list[str]] | None = None, *, limit: int = 3
) -> list[str]:
    """Example team names for an attribute: from the last Test's data when it had some, else generic."""
    names = (fetched or {}).get(attribute) or GENERIC_TEAM_EXAMPLES.get(attribute, [])
    return list(names)[:limit]


@dataclass(frozen=True)
class NearRealTimeView:
    """Near-real-time updates of one organization: the switch, the registration, the events."""

    on: bool
    installed: bool  # the installation has a public webhook address (PUBLIC_WEBHOOK_BASE_URL)
    can_switch_on: bool  # an integration that is not inactive
    registered_at: datetime | None
    last_event_at: datetime | None
    events_24h: int
    error: ErrorInfo | None  # why the last registration or deletion failed
    left_in_personio: bool  # switched off but the registration could not be deleted there


def near_real_time_view(engine: Engine, org_id: int, *, now: datetime) -> NearRealTimeView:
    """The state the Integration and Support pages show for near-real-time updates."""
    with read_session(engine) as session:
        integration = session.exec(model_select(Integration).where(Integration.org_id == org_id)).first()
    if integration is None:
        integration = default_integration(org_id)
    try:
        installed = bool(read(WebhookSettings).public_webhook_base_url)
    except ValueError:  # a setting the operator got wrong: not usable, and the hint says so
        installed = False
    last_event_at, events_24h = event_stats(engine, org_id, now=now)
    error = None
    if integration.webhook_error_code:
        error = ErrorInfo(
            code=integration.webhook_error_code,
            message=integration.webhook_error_message or "",
            hint=integration.webhook_error_hint or "",
        )
    return NearRealTimeView(
        on=integration.near_real_time,
        installed=installed,
        can_switch_on=integration.state != IntegrationState.INACTIVE,
        registered_at=integration.webhook_registered_at if integration.near_real_time else None,
        last_event_at=last_event_at,
        events_24h=events_24h,
        error=error,
        left_in_personio=not integration.near_real_time and bool(integration.webhook_id),
    )
