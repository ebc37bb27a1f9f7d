"""Read-only queries the dashboard pages need, returned as plain values.

Runs are in `sync.views_runs`; change formatting in `sync.views_changes`. Nothing
here writes, and no value here holds a client secret: the settings view says only
whether one is set and when.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Engine, func, select
from sqlmodel import col
from sqlmodel import select as model_select

from storage.clock import utcnow
from storage.config import personio_base_url
from storage.db import read_session
from storage.models import Integration, Organization, OutboxEmail, Run, SchedulerHeartbeat
from sync.directory import load_directory
from sync.errors import ErrorInfo
from sync.settings import TEAM_ATTRIBUTE_LABELS, TEAM_ATTRIBUTES, is_tested
from sync.timetable import describe_schedule

HEARTBEAT_FRESH = timedelta(seconds=60)


def as_utc(moment: datetime) -> datetime:
    """Aware UTC; a naive value from the database is UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def table_time(moment: datetime | None) -> datetime | None:
    """A time for a table column headed "(UTC)": naive, so no "+00:00" is shown."""
    return as_utc(moment).replace(tzinfo=None) if moment is not None else None


# Shown next to each team checkbox until a Test has fetched real names.
GENERIC_TEAM_EXAMPLES: dict[str, list[str]] = {
    "supervisor": ["Peter Wright's team", "Anna Schmidt's team"],
    "team": ["Team Platform", "Team Payroll"],
    "department": ["Department IT", "Department Sales"],
    "office": ["Office Berlin", "Office Munich"],
    "employment_type": ["Employment type Internal", "Employment type External"],
}
STATE_LABELS = {"inactive": "Not active", "active": "Active", "paused": "Paused"}


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


def _last_run(run: Run | None) -> LastRun | None:
    if run is None or run.id is None:
        return None
    error = None
    if run.status == "failed":
        error = ErrorInfo(
            code=run.error_code or "internal",
            message=run.error_message or "The run failed.",
            hint=run.error_hint or "Try again with Run now.",
        )
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
            integration = Integration(org_id=org_id, base_url=personio_base_url(), updated_at=utcnow())
        open_run = session.exec(
            model_select(Run)
            .where(Run.org_id == org_id, col(Run.status).in_(("queued", "running")))
            .order_by(col(Run.id))
        ).first()
        last_run = session.exec(
            model_select(Run)
            .where(Run.org_id == org_id, col(Run.status).in_(("succeeded", "failed")))
            .order_by(col(Run.id).desc())
        ).first()
        paused_run = session.get(Run, integration.paused_run_id) if integration.paused_run_id else None
    paused = _last_run(paused_run)
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
        open_run=_last_run(open_run),
        last_run=_last_run(last_run),
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


def team_attribute_options() -> list[tuple[str, str]]:
    return [(a, TEAM_ATTRIBUTE_LABELS[a]) for a in TEAM_ATTRIBUTES]


# --- scheduler ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SchedulerStatus:
    running: bool
    last_seen: datetime | None
    live_instances: int


def scheduler_status(engine: Engine, *, now: datetime | None = None) -> SchedulerStatus:
    """Whether a scheduler is running: its latest heartbeat is younger than HEARTBEAT_FRESH."""
    now = now or utcnow()
    with read_session(engine) as session:
        last_seen = session.execute(
            select(func.max(col(SchedulerHeartbeat.last_seen))).where(
                col(SchedulerHeartbeat.stopped_at).is_(None)
            )
        ).scalar_one()
        live = session.execute(
            select(func.count())
            .select_from(SchedulerHeartbeat)
            .where(
                col(SchedulerHeartbeat.stopped_at).is_(None),
                col(SchedulerHeartbeat.last_seen) >= now - HEARTBEAT_FRESH,
            )
        ).scalar_one()
    return SchedulerStatus(
        running=int(live) > 0, last_seen=as_utc(last_seen) if last_seen else None, live_instances=int(live)
    )


def heartbeats_frame(engine: Engine, *, now: datetime | None = None, limit: int = 50) -> pd.DataFrame:
    now = now or utcnow()
    with read_session(engine) as session:
        beats = session.exec(
            model_select(SchedulerHeartbeat).order_by(col(SchedulerHeartbeat.last_seen).desc()).limit(limit)
        ).all()
    records = []
    for beat in beats:
        if beat.stopped_at is not None:
            state = "⏹ Stopped"
        elif as_utc(now) - as_utc(beat.last_seen) <= HEARTBEAT_FRESH:
            state = "🟢 Running"
        else:
            state = "🔴 Silent"
        records.append(
            {
                "State": state,
                "Instance": beat.instance_id,
                "Host": beat.host,
                "PID": beat.pid,
                "Started (UTC)": table_time(beat.started_at),
                "Last seen (UTC)": table_time(beat.last_seen),
                "Seconds ago": int((as_utc(now) - as_utc(beat.last_seen)).total_seconds()),
            }
        )
    return pd.DataFrame(
        records,
        columns=["State", "Instance", "Host", "PID", "Started (UTC)", "Last seen (UTC)", "Seconds ago"],
    )


# --- directory ---------------------------------------------------------------------------


def directory_frames(engine: Engine, org_id: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The organization's users and teams as the platform holds them now."""
    with read_session(engine) as session:
        directory = load_directory(session, org_id)
    by_id = {u.id: u for u in directory.users}
    teams_of: dict[int, list[str]] = {}
    for team in sorted(directory.teams, key=lambda t: t.name.lower()):
        for user_id in team.members:
            teams_of.setdefault(user_id, []).append(team.name)

    def name(user_id: int | None) -> str:
        user = by_id.get(user_id) if user_id is not None else None
        if user is None:
            return ""
        return f"{user.first_name} {user.last_name}".strip() or user.email

    users = pd.DataFrame(
        [
            {
                "Name": f"{u.first_name} {u.last_name}".strip(),
                "Email": u.email,
                "Status": "Active" if u.status == "active" else "Deactivated",
                "Role": u.role.capitalize(),
                "Job title": u.job_title or "",
                "Supervisor": name(u.supervisor_id),
                "Teams": ", ".join(teams_of.get(u.id, [])),
                "Source": "Personio" if u.source == "personio" else "Manual",
                "Personio ID": u.personio_id or "",
            }
            for u in sorted(
                directory.users, key=lambda u: (u.last_name.lower(), u.first_name.lower(), u.email)
            )
        ],
        columns=[
            "Name",
            "Email",
            "Status",
            "Role",
            "Job title",
            "Supervisor",
            "Teams",
            "Source",
            "Personio ID",
        ],
    )
    teams = pd.DataFrame(
        [
            {
                "Team": t.name,
                "Source": TEAM_ATTRIBUTE_LABELS.get(t.source_attribute, t.source_attribute)
                if t.source_attribute
                else "Manual",
                "Members": len(t.members),
                "Lead": ", ".join(name(uid) for uid, role in t.members.items() if role == "lead"),
                "Member names": ", ".join(sorted(name(uid) for uid in t.members)),
            }
            for t in sorted(directory.teams, key=lambda t: t.name.lower())
        ],
        columns=["Team", "Source", "Members", "Lead", "Member names"],
    )
    return users, teams


def search_frame(frame: pd.DataFrame, text: str) -> pd.DataFrame:
    """Rows in which any column holds `text` (case-insensitive)."""
    needle = text.strip().lower()
    if not needle or frame.empty:
        return frame
    haystack = frame.astype(str).agg(" ".join, axis=1).str.lower()
    return frame[haystack.str.contains(needle, regex=False)]


# --- support -----------------------------------------------------------------------------


@dataclass(frozen=True)
class OrganizationOverview:
    id: int
    slug: str
    name: str
    addon_enabled: bool
    state: str
    configured: bool
    schedule_every_hours: int | None
    next_run_at: datetime | None
    last_run: LastRun | None

    @property
    def schedule_text(self) -> str:
        return describe_schedule(self.schedule_every_hours)


def organizations_overview(engine: Engine) -> list[OrganizationOverview]:
    """Every organization with its add-on, integration state, schedule and runs. No secret."""
    with read_session(engine) as session:
        orgs = session.exec(model_select(Organization).order_by(col(Organization.name))).all()
        integrations = {i.org_id: i for i in session.exec(model_select(Integration)).all()}
        latest_ids = session.execute(
            select(col(Run.org_id), func.max(col(Run.id)))
            .where(col(Run.status).in_(("succeeded", "failed")))
            .group_by(col(Run.org_id))
        ).all()
        ids = [run_id for _, run_id in latest_ids]
        latest = {r.org_id: r for r in session.exec(model_select(Run).where(col(Run.id).in_(ids))).all()}
    overview = []
    for org in orgs:
        assert org.id is not None
        integration = integrations.get(org.id)
        overview.append(
            OrganizationOverview(
                id=org.id,
                slug=org.slug,
                name=org.name,
                addon_enabled=org.addon_enabled,
                state=integration.state if integration else "inactive",
                configured=bool(
                    integration and integration.client_id and integration.client_secret_encrypted
                ),
                schedule_every_hours=integration.schedule_every_hours if integration else None,
                next_run_at=integration.next_run_at if integration else None,
                last_run=_last_run(latest.get(org.id)),
            )
        )
    return overview


def _when(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def organizations_frame(overview: list[OrganizationOverview]) -> pd.DataFrame:
    icons = {"succeeded": "✅", "failed": "❌"}
    records: list[dict[str, Any]] = []
    for org in overview:
        last = org.last_run
        records.append(
            {
                "Organization": org.name,
                "Slug": org.slug,
                "Add-on": "Enabled" if org.addon_enabled else "Not enabled",
                "Integration": STATE_LABELS.get(org.state, org.state)
                + ("" if org.configured else " (not configured)"),
                "Schedule": org.schedule_text,
                "Last run": (
                    f"{icons.get(last.status, '')} #{last.id} {_when(last.finished_at or last.queued_at)}"
                    if last
                    else "—"
                ),
                "Next run": _when(org.next_run_at) if org.next_run_at and org.state == "active" else "—",
            }
        )
    return pd.DataFrame(
        records,
        columns=["Organization", "Slug", "Add-on", "Integration", "Schedule", "Last run", "Next run"],
    )


@dataclass(frozen=True)
class OutboxSummary:
    pending: int
    failing: int  # pending with at least one failed attempt
    sent: int


def outbox_summary(engine: Engine) -> OutboxSummary:
    with read_session(engine) as session:
        pending = session.execute(
            select(func.count()).select_from(OutboxEmail).where(col(OutboxEmail.sent_at).is_(None))
        ).scalar_one()
        failing = session.execute(
            select(func.count())
            .select_from(OutboxEmail)
            .where(col(OutboxEmail.sent_at).is_(None), col(OutboxEmail.last_error).is_not(None))
        ).scalar_one()
        sent = session.execute(
            select(func.count()).select_from(OutboxEmail).where(col(OutboxEmail.sent_at).is_not(None))
        ).scalar_one()
    return OutboxSummary(pending=int(pending), failing=int(failing), sent=int(sent))


def outbox_frame(engine: Engine, *, failures_only: bool = False, limit: int = 200) -> pd.DataFrame:
    """The latest emails (newest first); with `failures_only`, those not sent after a failed attempt."""
    with read_session(engine) as session:
        query = model_select(OutboxEmail, Organization).join(
            Organization, col(Organization.id) == col(OutboxEmail.org_id), isouter=True
        )
        if failures_only:
            query = query.where(col(OutboxEmail.sent_at).is_(None), col(OutboxEmail.last_error).is_not(None))
        rows = session.exec(query.order_by(col(OutboxEmail.id).desc()).limit(limit)).all()
    records = []
    for email, org in rows:
        if email.sent_at is not None:
            state = "✅ Sent"
        elif email.last_error:
            state = "❌ Failing"
        else:
            state = "⏳ Pending"
        records.append(
            {
                "State": state,
                "Created (UTC)": table_time(email.created_at),
                "Organization": org.name if org else "",
                "To": email.to,
                "Kind": email.kind.replace("_", " "),
                "Subject": email.subject,
                "Attempts": email.attempts,
                "Sent (UTC)": table_time(email.sent_at),
                "Last error": email.last_error or "",
            }
        )
    return pd.DataFrame(
        records,
        columns=[
            "State",
            "Created",
            "Organization",
            "To",
            "Kind",
            "Subject",
            "Attempts",
            "Sent",
            "Last error",
        ],
    )
