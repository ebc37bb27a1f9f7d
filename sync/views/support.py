"""Read-only queries for the Support page (staff): every organization, and the email outbox.

No value here holds a client secret: an organization is only "configured" or not.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Engine, func, select
from sqlmodel import col
from sqlmodel import select as model_select

from storage.db import read_session
from storage.models import Integration, Organization, OutboxEmail, Run
from sync.core.states import IntegrationState, RunStatus
from sync.core.timetable import describe_schedule
from sync.views.integration import LastRun, last_run_of
from sync.views.times import table_time

STATE_LABELS: dict[str, str] = {
    IntegrationState.INACTIVE: "Not active",
    IntegrationState.ACTIVE: "Active",
    IntegrationState.PAUSED: "Paused",
}


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
    near_real_time: bool = False
    near_real_time_failed: bool = False  # the last registration or deletion in Personio failed

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
            .where(col(Run.status).in_((RunStatus.SUCCEEDED, RunStatus.FAILED)))
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
                state=integration.state if integration else IntegrationState.INACTIVE,
                configured=bool(
                    integration and integration.client_id and integration.client_secret_encrypted
                ),
                schedule_every_hours=integration.schedule_every_hours if integration else None,
                next_run_at=integration.next_run_at if integration else None,
                last_run=last_run_of(latest.get(org.id)),
                near_real_time=bool(integration and integration.near_real_time),
                near_real_time_failed=bool(integration and integration.webhook_error_code),
            )
        )
    return overview


def _when(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def organizations_frame(overview: list[OrganizationOverview]) -> pd.DataFrame:
    # Words, not emoji: emoji render as boxes where no emoji font is installed.
    words: dict[str, str] = {RunStatus.SUCCEEDED: "Succeeded", RunStatus.FAILED: "Failed"}
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
                "Near-real-time": ("On" if org.near_real_time else "Off")
                + (" (error)" if org.near_real_time_failed else ""),
                "Last run": (
                    f"{words.get(last.status, last.status.capitalize())} #{last.id} "
                    f"{_when(last.finished_at or last.queued_at)}"
                    if last
                    else "—"
                ),
                "Next run": _when(org.next_run_at)
                if org.next_run_at and org.state == IntegrationState.ACTIVE
                else "—",
            }
        )
    return pd.DataFrame(
        records,
        columns=[
            "Organization",
            "Slug",
            "Add-on",
            "Integration",
            "Schedule",
            "Near-real-time",
            "Last run",
            "Next run",
        ],
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
            state = "Sent"
        elif email.last_error:
            state = "Failing"
        else:
            state = "Pending"
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
            "Created (UTC)",
            "Organization",
            "To",
            "Kind",
            "Subject",
            "Attempts",
            "Sent (UTC)",
            "Last error",
        ],
    )
