"""Read-only queries for the Runs page: the paged run list, one run's detail, the chart data.

The list is read one page at a time (LIMIT/OFFSET over the `ix_run_org_queued`
index), so an organization with 10,000 runs pages as fast as one with ten.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import aliased
from sqlmodel import Session, col
from sqlmodel import select as model_select

from storage.db import read_session
from storage.models import Organization, Run, RunChange, RunWarning, StaffAccount, User
from sync.core.errors import ErrorInfo
from sync.core.states import RunStatus, Trigger
from sync.views.avatars import automatic_avatar_uri, avatar_uri
from sync.views.changes import COUNT_LABELS, count_of, total_changes
from sync.views.times import table_time

PAGE_SIZE = 50
OPEN_STATUSES = (RunStatus.QUEUED, RunStatus.RUNNING)
OPEN_REFRESH_SECONDS = 2.0  # while a run is queued or running, the page follows it closely
IDLE_REFRESH_SECONDS = 30.0  # otherwise it only looks for runs started elsewhere
# Plain words in the table: a table cell cannot draw an icon font, and emoji render as boxes
# where the machine has no emoji font. Markdown (the detail panel) gets Streamlit's own icons.
STATUS_LABELS: dict[str, str] = {
    RunStatus.SUCCEEDED: "Succeeded",
    RunStatus.FAILED: "Failed",
    RunStatus.QUEUED: "Queued",
    RunStatus.RUNNING: "Running",
}
STATUS_ICONS: dict[str, str] = {
    RunStatus.SUCCEEDED: ":material/check_circle:",
    RunStatus.FAILED: ":material/error:",
    RunStatus.QUEUED: ":material/hourglass_top:",
    RunStatus.RUNNING: ":material/autorenew:",
}
ERROR_CELL_CHARS = 120  # the table shows the start of an error; the detail panel the whole text
TRIGGER_LABELS: dict[str, str] = {
    Trigger.AUTOMATIC: "Automatic",
    Trigger.MANUAL: "Run now",
    Trigger.ACTIVATION: "Activation",
    Trigger.WEBHOOK: "Personio change",
}
PERSONIO_CHANGE = "Personio change"  # who triggered a run that Personio's webhook events caused


@dataclass(frozen=True)
class TriggeredBy:
    """Who started a run: a person (owner or staff), a command line, or the scheduler."""

    name: str
    email: str
    avatar: str  # data URI
    handle: str  # one word for a terminal: the email, the command line's label, or "Automatic"

    @property
    def text(self) -> str:
        return f"{self.name} ({self.email})" if self.email else self.name


@dataclass(frozen=True)
class RunRow:
    id: int
    org_id: int
    org_name: str
    trigger: str
    triggered_at: datetime
    triggered_by: TriggeredBy
    status: str
    finished_at: datetime | None
    error_message: str | None
    changes: int
    started_at: datetime | None
    counts: dict[str, Any]  # as the run recorded them
    error_code: str | None
    error_hint: str | None
    details_pruned_after_days: int | None = None  # set: the change log and warnings were pruned
    retry_of_run_id: int | None = None  # set: the automatic retry of a run whose lease expired
    trigger_events: tuple[str, ...] = ()  # trigger webhook: the event names that caused the run

    @property
    def status_label(self) -> str:
        return STATUS_LABELS.get(self.status, self.status)


def pruned_text(days: int) -> str:
    """What a run whose details were pruned says instead of an empty list of changes."""
    return (
        f"The details of this run (each change and warning) were pruned after {days} days; "
        "its counts are kept."
    )


@dataclass(frozen=True)
class RunPage:
    rows: list[RunRow]
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.page_size))


@dataclass(frozen=True)
class RunDetail:
    id: int
    org_id: int
    org_name: str
    trigger: str
    status: str
    triggered_by: TriggeredBy
    queued_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    counts: dict[str, int]
    error: ErrorInfo | None
    changes: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    changes_total: int = 0  # may exceed len(changes) when the list was cut at `change_limit`
    details_pruned_after_days: int | None = None  # set: the change log and warnings were pruned
    trigger_events: tuple[str, ...] = ()  # trigger webhook: the event names that caused the run

    @property
    def pruned_text(self) -> str | None:
        """None, or what the panel says instead of the (pruned) lists of changes and warnings."""
        days = self.details_pruned_after_days
        return pruned_text(days) if days is not None else None

    @property
    def status_label(self) -> str:
        return STATUS_LABELS.get(self.status, self.status)

    @property
    def status_heading(self) -> str:
        """The status for markdown (the panel's heading): a material icon and the word."""
        icon = STATUS_ICONS.get(self.status)
        return f"{icon} {self.status_label}" if icon else self.status_label

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


def _person_name(first: str | None, last: str | None, fallback: str) -> str:
    name = f"{first or ''} {last or ''}".strip()
    return name or fallback


def triggered_by(
    *,
    user: tuple[str | None, str | None, str | None] | None,
    staff: tuple[str | None, str | None] | None,
    label: str | None,
    events: tuple[str, ...] = (),
    webhook: bool = False,
) -> TriggeredBy:
    """`user` is (first, last, email); `staff` is (name, email); `label` is what the CLI recorded;
    `webhook`: Personio's webhook `events` caused the run."""
    if user is not None and user[2]:
        first, last, email = user
        name = _person_name(first, last, email or "")
        return TriggeredBy(
            name=name, email=email or "", avatar=avatar_uri(name, email or ""), handle=email or ""
        )
    if staff is not None and staff[1]:
        staff_name, email = staff
        name = f"{staff_name or email} (support)"
        return TriggeredBy(
            name=name, email=email or "", avatar=avatar_uri(staff_name or "", email or ""), handle=email or ""
        )
    if label:
        return TriggeredBy(
            name=f"Command line: {label}", email="", avatar=automatic_avatar_uri(), handle=label
        )
    if webhook:
        name = f"{PERSONIO_CHANGE}: {', '.join(events)}" if events else PERSONIO_CHANGE
        return TriggeredBy(name=name, email="", avatar=automatic_avatar_uri(), handle=PERSONIO_CHANGE)
    return TriggeredBy(name="Automatic", email="", avatar=automatic_avatar_uri(), handle="Automatic")


_TriggerUser = aliased(User)
_TriggerStaff = aliased(StaffAccount)


def _run_columns() -> Any:
    return (
        select(
            col(Run.id),
            col(Run.org_id),
            col(Organization.name),
            col(Run.trigger),
            col(Run.queued_at),
            col(Run.status),
            col(Run.finished_at),
            col(Run.error_message),
            col(Run.counts),
            col(Run.triggered_by_label),
            col(_TriggerUser.first_name),
            col(_TriggerUser.last_name),
            col(_TriggerUser.email),
            col(_TriggerStaff.name),
            col(_TriggerStaff.email),
            col(Run.started_at),
            col(Run.error_code),
            col(Run.error_hint),
            col(Run.details_pruned_after_days),
            col(Run.retry_of_run_id),
            col(Run.trigger_events),
        )
        .select_from(Run)
        .join(Organization, col(Organization.id) == col(Run.org_id))
        .outerjoin(_TriggerUser, col(_TriggerUser.id) == col(Run.triggered_by_user_id))
        .outerjoin(_TriggerStaff, col(_TriggerStaff.id) == col(Run.triggered_by_staff_id))
    )


def _row(values: Any) -> RunRow:
    (
        run_id,
        org_id,
        org_name,
        trigger,
        queued_at,
        status,
        finished_at,
        error_message,
        counts,
        label,
        u_first,
        u_last,
        u_email,
        s_name,
        s_email,
        started_at,
        error_code,
        error_hint,
        details_pruned_after_days,
        retry_of_run_id,
        trigger_events,
    ) = values
    events = tuple(str(name) for name in trigger_events or ())
    who = triggered_by(
        user=(u_first, u_last, u_email) if u_email else None,
        staff=(s_name, s_email) if s_email else None,
        label=label,
        events=events,
        webhook=trigger == Trigger.WEBHOOK,
    )
    if retry_of_run_id is not None:  # "Automatic · retry of run 12"
        who = replace(who, name=f"{who.name} · retry of run {retry_of_run_id}")
    return RunRow(
        id=run_id,
        org_id=org_id,
        org_name=org_name,
        trigger=trigger,
        triggered_at=queued_at,
        triggered_by=who,
        status=status,
        finished_at=finished_at,
        error_message=error_message,
        changes=total_changes(counts or {}),
        started_at=started_at,
        counts=counts,
        error_code=error_code,
        error_hint=error_hint,
        details_pruned_after_days=details_pruned_after_days,
        retry_of_run_id=retry_of_run_id,
        trigger_events=events,
    )


def list_runs(engine: Engine, *, org_id: int | None, page: int = 1, page_size: int = PAGE_SIZE) -> RunPage:
    """One page of runs, newest first. `org_id=None` lists every organization (support staff)."""
    page_size = max(1, page_size)
    with read_session(engine) as session:
        count_query = select(func.count()).select_from(Run)
        if org_id is not None:
            count_query = count_query.where(col(Run.org_id) == org_id)
        total = int(session.execute(count_query).scalar_one())
        last_page = max(1, math.ceil(total / page_size))
        page = min(max(1, page), last_page)
        query = _run_columns()
        if org_id is not None:
            query = query.where(col(Run.org_id) == org_id)
        query = (
            query.order_by(col(Run.queued_at).desc(), col(Run.id).desc())
            .limit(page_size)
            .offset((page - 1) * page_size)
        )
        rows = [_row(values) for values in session.execute(query).all()]
    return RunPage(rows=rows, total=total, page=page, page_size=page_size)


def runs_json(engine: Engine, *, org_id: int, limit: int) -> list[dict[str, Any]]:
    """The organization's latest `limit` runs, newest first, as `python -m sync runs --json` prints them.

    The runs are the Runs page's rows; `changes` and `warnings` count the run's change log
    and warnings as recorded. For a run whose details were pruned (RUN_DETAIL_RETENTION_DAYS)
    they are null, and `details_pruned` says so (`details_pruned_after_days` holds the days).
    """
    if limit < 1:
        return []
    rows = list_runs(engine, org_id=org_id, page_size=limit).rows
    ids = [row.id for row in rows]
    with read_session(engine) as session:
        logged = _rows_per_run(session, col(RunChange.run_id), ids)
        warned = _rows_per_run(session, col(RunWarning.run_id), ids)
    return [
        {
            "run_id": row.id,
            "trigger": row.trigger,
            "triggered_by": row.triggered_by.handle,
            "status": row.status,
            "queued_at": row.triggered_at.isoformat(),
            "started_at": row.started_at.isoformat() if row.started_at else None,
            "finished_at": row.finished_at.isoformat() if row.finished_at else None,
            "counts": row.counts,
            "changes": None if row.details_pruned_after_days is not None else logged.get(row.id, 0),
            "warnings": None if row.details_pruned_after_days is not None else warned.get(row.id, 0),
            "details_pruned_after_days": row.details_pruned_after_days,
            "retry_of_run_id": row.retry_of_run_id,
            "trigger_events": list(row.trigger_events) if row.trigger == Trigger.WEBHOOK else None,
            "details_pruned": pruned_text(row.details_pruned_after_days)
            if row.details_pruned_after_days is not None
            else None,
            "error": {"code": row.error_code, "message": row.error_message, "hint": row.error_hint}
            if row.error_code
            else None,
        }
        for row in rows
    ]


def _rows_per_run(session: Session, run_id_column: Any, run_ids: list[int]) -> dict[int, int]:
    """How many rows of a run's log table (changes, warnings) each of `run_ids` has."""
    query = select(run_id_column, func.count()).where(run_id_column.in_(run_ids)).group_by(run_id_column)
    return {run_id: int(rows) for run_id, rows in session.execute(query).all()}


def error_cell(message: str | None, *, limit: int = ERROR_CELL_CHARS) -> str:
    """An error message as one table cell: one line, at most `limit` characters (ending in "…"
    when cut). The detail panel shows the whole message and its hint."""
    line = " ".join((message or "").split())
    if len(line) <= limit:
        return line
    return line[: limit - 1].rstrip() + "…"


def runs_columns(*, with_org: bool = False) -> list[str]:
    """The Runs table's columns: status and error first (in view beside the detail panel)."""
    return [
        "Status",
        "Error",
        "Triggered at",
        *(["Organization"] if with_org else []),
        "Avatar",
        "Triggered by",
        "Changes",
        "Run",
    ]


def runs_frame(run_page: RunPage, *, with_org: bool = False) -> pd.DataFrame:
    """The page as the Runs table shows it; the `Run` column holds the run id."""
    records = []
    for row in run_page.rows:
        records.append(
            {
                "Status": row.status_label,
                "Error": error_cell(row.error_message),
                "Triggered at": table_time(row.triggered_at),
                "Organization": row.org_name,
                "Avatar": row.triggered_by.avatar,
                "Triggered by": row.triggered_by.text,
                "Changes": row.changes if row.status == RunStatus.SUCCEEDED else None,
                "Run": row.id,
            }
        )
    columns = runs_columns(with_org=with_org)
    return pd.DataFrame([{name: record[name] for name in columns} for record in records], columns=columns)


def run_detail(
    engine: Engine, run_id: int, *, org_id: int | None = None, change_limit: int = 5000
) -> RunDetail | None:
    """One run with its changes and warnings. With `org_id`, a run of another organization is None."""
    with read_session(engine) as session:
        query = _run_columns().where(col(Run.id) == run_id)
        if org_id is not None:
            query = query.where(col(Run.org_id) == org_id)
        values = session.execute(query).first()
        run = session.get(Run, run_id)
        if values is None or run is None:
            return None
        changes = session.exec(
            model_select(RunChange)
            .where(col(RunChange.run_id) == run_id)
            .order_by(col(RunChange.id))
            .limit(change_limit)
        ).all()
        changes_total = int(
            session.execute(
                select(func.count()).select_from(RunChange).where(col(RunChange.run_id) == run_id)
            ).scalar_one()
        )
        warnings = session.exec(
            model_select(RunWarning).where(col(RunWarning.run_id) == run_id).order_by(col(RunWarning.id))
        ).all()
    row = _row(values)
    error = run_error(run)
    return RunDetail(
        id=row.id,
        org_id=row.org_id,
        org_name=row.org_name,
        trigger=run.trigger,
        status=run.status,
        triggered_by=row.triggered_by,
        queued_at=run.queued_at,
        started_at=run.started_at,
        finished_at=run.finished_at,
        counts={key: count_of(run.counts or {}, key) for key in COUNT_LABELS},
        error=error,
        changes=[
            {
                "entity": c.entity,
                "action": c.action,
                "key": c.key,
                "personio_id": c.personio_id,
                "before": c.before,
                "after": c.after,
            }
            for c in changes
        ],
        warnings=[{"personio_id": w.personio_id, "reason": w.reason} for w in warnings],
        changes_total=changes_total,
        details_pruned_after_days=run.details_pruned_after_days,
        trigger_events=row.trigger_events,
    )


def has_open_run(engine: Engine, *, org_id: int | None) -> bool:
    """True while a run (of the organization, or of any with `None`) is queued or running."""
    with read_session(engine) as session:
        query = select(col(Run.id)).where(col(Run.status).in_(OPEN_STATUSES))
        if org_id is not None:
            query = query.where(col(Run.org_id) == org_id)
        return session.execute(query.limit(1)).first() is not None


def refresh_seconds(*, open_run: bool) -> float:
    """How often the Runs page redraws its run table: every few seconds while a run is open."""
    return OPEN_REFRESH_SECONDS if open_run else IDLE_REFRESH_SECONDS


def changes_per_run(engine: Engine, *, org_id: int | None, limit: int = 200) -> pd.DataFrame:
    """Finished runs (the latest `limit`, oldest first) with what each changed, for a chart.

    Columns: Finished (naive UTC), Run, Label ("#12 · 11-25 04:00", for the chart's axis), Users,
    Teams, Memberships.
    """
    with read_session(engine) as session:
        query = select(col(Run.id), col(Run.finished_at), col(Run.counts)).where(
            col(Run.status) == RunStatus.SUCCEEDED, col(Run.finished_at).is_not(None)
        )
        if org_id is not None:
            query = query.where(col(Run.org_id) == org_id)
        rows = session.execute(query.order_by(col(Run.id).desc()).limit(limit)).all()
    records = []
    for run_id, finished_at, counts in reversed(rows):
        counts = counts or {}
        records.append(
            {
                "Finished": table_time(finished_at),
                "Run": run_id,
                "Label": f"#{run_id} · {table_time(finished_at):%m-%d %H:%M}",
                "Users": sum(
                    count_of(counts, k)
                    for k in ("users_created", "users_updated", "users_deactivated", "users_reactivated")
                ),
                "Teams": sum(
                    count_of(counts, k) for k in ("teams_created", "teams_updated", "teams_deleted")
                ),
                "Memberships": sum(count_of(counts, k) for k in ("memberships_added", "memberships_removed")),
            }
        )
    return pd.DataFrame(records, columns=["Finished", "Run", "Label", "Users", "Teams", "Memberships"])


def run_error(run: Run) -> ErrorInfo | None:
    """The error of a failed run as the pages show it (filled in when a field is missing)."""
    if run.status != RunStatus.FAILED and not run.error_code:
        return None
    return ErrorInfo(
        code=run.error_code or "internal",
        message=run.error_message or "The run failed.",
        hint=run.error_hint or "Try again with Run now.",
    )
