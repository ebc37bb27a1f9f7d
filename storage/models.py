"""All tables of the product (DESIGN.md section 3), in one module.

Timestamps are aware UTC datetimes (SQLite stores them as UTC without an offset);
`storage.clock.utcnow` produces them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Optional, cast

from sqlalchemy import JSON, Column, Index, Table, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from storage.config import DEFAULT_PERSONIO_BASE_URL


class Organization(SQLModel, table=True):
    id: Optional[int] = Field(default=None, primary_key=True)
    slug: str = Field(unique=True, index=True)
    name: str
    addon_enabled: bool = False
    created_at: datetime


class User(SQLModel, table=True):
    """A platform user of one organization."""

    __table_args__ = (
        UniqueConstraint("org_id", "email_key", name="uq_user_org_email"),
        UniqueConstraint("org_id", "personio_id", name="uq_user_org_personio"),
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id", index=True)
    email: str
    # lower-cased email: uniqueness and matching are case-insensitive
    email_key: str
    first_name: str = ""
    last_name: str = ""
    job_title: Optional[str] = None
    status: str = "active"  # active | deactivated
    role: str = "member"  # owner | admin | member
    language: str = "en"
    personio_id: Optional[str] = None
    supervisor_id: Optional[int] = Field(default=None, foreign_key="user.id")
    source: str = "manual"  # personio | manual
    password_hash: Optional[str] = None
    created_at: datetime
    updated_at: datetime
    deactivated_at: Optional[datetime] = None


class StaffAccount(SQLModel, table=True):
    """Support staff and account managers: global, across organizations."""

    id: Optional[int] = Field(default=None, primary_key=True)
    email: str = Field(unique=True)
    name: str = ""
    password_hash: str
    created_at: datetime


class Team(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("org_id", "name", name="uq_team_org_name"),
        Index("ix_team_org_source", "org_id", "source_attribute", "source_key"),
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id", index=True)
    name: str
    # supervisor | team | department | office | employment_type; None = manual team
    source_attribute: Optional[str] = None
    source_key: Optional[str] = None
    created_at: datetime


class TeamMember(SQLModel, table=True):
    team_id: int = Field(foreign_key="team.id", primary_key=True)
    user_id: int = Field(foreign_key="user.id", primary_key=True, index=True)
    role: str = "member"  # member | lead


class Integration(SQLModel, table=True):
    """The Personio integration of one organization."""

    id: Optional[int] = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id", unique=True)
    client_id: str = ""
    client_secret_encrypted: Optional[str] = None
    secret_set_at: Optional[datetime] = None
    base_url: str = DEFAULT_PERSONIO_BASE_URL
    language: str = "en"
    sync_external: bool = False
    sync_job_title: bool = True
    team_attributes: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    safety_threshold_pct: int = 25
    state: str = "inactive"  # inactive | active | paused
    pause_reason: Optional[str] = None
    paused_run_id: Optional[int] = None
    schedule_every_hours: Optional[int] = None  # None = daily at 04:00 UTC
    next_run_at: Optional[datetime] = None
    last_test_ok_at: Optional[datetime] = None
    last_test_settings_hash: Optional[str] = None
    updated_at: datetime
    # Near-real-time updates through Personio webhooks (migration 4; sync/webhooks/).
    near_real_time: bool = False  # the owner's switch
    # The opaque id in this organization's receiver URL (/personio/webhooks/{id}): random, no meaning.
    webhook_path_id: Optional[str] = Field(default=None, index=True, unique=True)
    webhook_token_encrypted: Optional[str] = None  # sent back by Personio in Authorization
    webhook_id: Optional[str] = None  # Personio's id of the registration (uuid)
    webhook_url: Optional[str] = None  # the URL registered (PUBLIC_WEBHOOK_BASE_URL + path)
    webhook_registered_at: Optional[datetime] = None
    webhook_error_code: Optional[str] = None  # why the last (de)registration failed
    webhook_error_message: Optional[str] = None
    webhook_error_hint: Optional[str] = None


OPEN_RUN_INDEX = "uq_run_one_open_per_org"
OPEN_RUN_WHERE = "status IN ('queued', 'running')"


class Run(SQLModel, table=True):
    __table_args__ = (
        Index("ix_run_org_queued", "org_id", "queued_at"),
        Index("ix_run_status", "status"),
        # The database itself guarantees that an organization never has two runs at once.
        Index(
            "uq_run_one_running_per_org",
            "org_id",
            unique=True,
            sqlite_where=text("status = 'running'"),
            postgresql_where=text("status = 'running'"),
        ),
        # ... and never more than one open (queued or running) run: concurrent queuing finds the
        # one that is there (migration 2 created it on older databases).
        Index(
            OPEN_RUN_INDEX,
            "org_id",
            unique=True,
            sqlite_where=text(OPEN_RUN_WHERE),
            postgresql_where=text(OPEN_RUN_WHERE),
        ),
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id")
    trigger: str  # automatic | manual | activation | webhook
    triggered_by_user_id: Optional[int] = Field(default=None, foreign_key="user.id")
    triggered_by_staff_id: Optional[int] = Field(default=None, foreign_key="staffaccount.id")
    # who asked, as text, for runs started from the command line ("cli:root@host")
    triggered_by_label: Optional[str] = None
    approve_safety: bool = False
    status: str = "queued"  # queued | running | succeeded | failed
    queued_at: datetime
    started_at: Optional[datetime] = None
    finished_at: Optional[datetime] = None
    lease_owner: Optional[str] = None
    lease_expires_at: Optional[datetime] = None
    counts: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    error_code: Optional[str] = None
    error_message: Optional[str] = None
    error_hint: Optional[str] = None
    # The run whose lease expired and which this run retries automatically (migration 2).
    retry_of_run_id: Optional[int] = Field(default=None, foreign_key="run.id")
    # Set when the run's change log and warnings were pruned: the retention (days) then in force.
    details_pruned_after_days: Optional[int] = None
    # trigger "webhook": the distinct event names that caused the run (migration 4).
    trigger_events: Optional[list[str]] = Field(default=None, sa_column=Column(JSON))


class WebhookEvent(SQLModel, table=True):
    """A Personio webhook delivery the receiver accepted (migration 4).

    Deliveries are dataless: the event only marks the organization as changed; the scheduler
    runs one ordinary full sync after a quiet period. `dedupe_key` (a hash of the delivery's body)
    makes Personio's retries of the same event no second row. `run_id` is the run that consumed it.
    """

    __table_args__ = (
        UniqueConstraint("org_id", "dedupe_key", name="uq_webhookevent_org_dedupe"),
        Index("ix_webhookevent_org_pending", "org_id", "run_id", "received_at"),
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id")
    event_name: str
    occurred_at: Optional[datetime] = None
    received_at: datetime
    dedupe_key: str
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    run_id: Optional[int] = Field(default=None, foreign_key="run.id")


class RunChange(SQLModel, table=True):
    id: Optional[int] = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="run.id", index=True)
    entity: str  # user | team | membership
    action: str
    key: str
    personio_id: Optional[str] = None
    before: Optional[dict[str, Any]] = Field(default=None, sa_column=Column(JSON))
    after: Optional[dict[str, Any]] = Field(default=None, sa_column=Column(JSON))


class RunWarning(SQLModel, table=True):
    id: Optional[int] = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="run.id", index=True)
    personio_id: Optional[str] = None
    reason: str


class UnchangedPlan(SQLModel, table=True):
    """An organization's last plan that found nothing to change, and what it was planned from
    (migration 6; sync/integration/unchanged.py). A run that fetches the same answer from Personio
    with the same settings and rules, and finds the same directory, has nothing to change either."""

    org_id: int = Field(foreign_key="organization.id", primary_key=True)
    source_key: str  # SHA-256 of Personio's answer, the sync settings and the rules' code
    directory_digest: str  # SHA-256 of the directory as the plan read it
    # the plan's warnings, counts and active users before and after (what a run records)
    outcome: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    recorded_at: datetime


class OutboxEmail(SQLModel, table=True):
    id: Optional[int] = Field(default=None, primary_key=True)
    org_id: Optional[int] = Field(default=None, foreign_key="organization.id", index=True)
    to: str
    subject: str
    body: str
    kind: str  # welcome | run_failed | safety_stop
    language: str = "en"
    run_id: Optional[int] = Field(default=None, foreign_key="run.id")
    created_at: datetime
    attempts: int = 0
    next_attempt_at: Optional[datetime] = None
    sent_at: Optional[datetime] = Field(default=None, index=True)
    last_error: Optional[str] = None


class SchedulerHeartbeat(SQLModel, table=True):
    instance_id: str = Field(primary_key=True)
    host: str
    pid: int
    started_at: datetime
    last_seen: datetime
    stopped_at: Optional[datetime] = None


class LoginAttempt(SQLModel, table=True):
    """Failed dashboard logins, for throttling."""

    id: Optional[int] = Field(default=None, primary_key=True)
    email_key: str = Field(index=True)
    attempted_at: datetime


class DashboardSession(SQLModel, table=True):
    """A signed-in browser: the dashboard's server-side session (sync/accounts/sessions.py).

    Only the SHA-256 of the session's random token is stored; the browser keeps the token in a
    cookie. The account is named by kind and id (no foreign key: deleting an account must not
    fail on its sessions) and by its email, so a reused id never inherits a session.
    """

    id: Optional[int] = Field(default=None, primary_key=True)
    token_hash: str = Field(unique=True)
    account_kind: str  # owner | staff
    account_id: int = Field(index=True)  # User.id for owners, StaffAccount.id for staff
    email_key: str
    method: str = "password"  # password | sso:<provider>
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime  # absolute: created_at + 12 h
    revoked_at: Optional[datetime] = None


class SchemaVersion(SQLModel, table=True):
    version: int = Field(primary_key=True)
    applied_at: datetime


def table(model: type[SQLModel]) -> Table:
    """The Core table of a model, typed, for set-based statements (bulk insert, update, delete)."""
    return cast(Table, model.__table__)  # type: ignore[attr-defined]
