"""Retention of run details (sync/integration/retention.py): old runs lose their change log and
warnings in small batches, keep their counts, and say that their details were pruned."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, inspect, select, text
from sqlmodel import col

from storage import db
from storage.clock import utcnow
from storage.config import InvalidSchedulerSetting, SchedulerSettings, read
from storage.db import read_session, write_session
from storage.models import Run, RunChange, RunWarning
from sync.accounts.organizations import create_organization
from sync.integration.retention import (
    PRUNE_EVERY,
    RETRY_AFTER,
    DailyPruning,
    PruneReport,
    RetentionPolicy,
    details_due,
    next_prune_at,
    prune_run_details,
)
from sync.scheduler.loop import Scheduler, SchedulerConfig
from sync.views.runs import run_detail, runs_json
from tests.support.cli import Cli

NOW = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)
COUNTS = {"users_created": 7, "memberships_added": 3, "skipped": 2}


@pytest.fixture
def org_id(engine: Engine) -> int:
    org = create_organization(
        engine, slug="acme", name="Acme", owner_email="olga@acme.test", owner_password="correct horse"
    )
    assert org.id is not None
    return org.id


def add_run(
    engine: Engine,
    org_id: int,
    *,
    finished_days_ago: float | None,
    changes: int = 0,
    warnings: int = 0,
    status: str = "succeeded",
    now: datetime = NOW,
) -> int:
    """A run that finished `finished_days_ago` before `now` (None: still queued) with its log rows."""
    finished = now - timedelta(days=finished_days_ago) if finished_days_ago is not None else None
    queued = (finished or now - timedelta(days=400)) - timedelta(minutes=1)
    with write_session(engine) as session:
        run = Run(
            org_id=org_id,
            trigger="automatic",
            status=status,
            queued_at=queued,
            started_at=queued if finished else None,
            finished_at=finished,
            counts=COUNTS,
        )
        session.add(run)
        session.flush()
        assert run.id is not None
        for n in range(changes):
            session.add(
                RunChange(
                    run_id=run.id,
                    entity="user",
                    action="create",
                    key=f"p{n}@acme.test",
                    after={"email": f"p{n}@acme.test"},
                )
            )
        for n in range(warnings):
            session.add(RunWarning(run_id=run.id, personio_id=str(n), reason="No email address in Personio."))
        return run.id


def rows_of(engine: Engine, run_id: int) -> tuple[int, int]:
    with read_session(engine) as session:
        changes = session.execute(
            select(func.count()).select_from(RunChange).where(col(RunChange.run_id) == run_id)
        ).scalar_one()
        warnings = session.execute(
            select(func.count()).select_from(RunWarning).where(col(RunWarning.run_id) == run_id)
        ).scalar_one()
    return int(changes), int(warnings)


def run_of(engine: Engine, run_id: int) -> Run:
    with read_session(engine) as session:
        run = session.get(Run, run_id)
    assert run is not None
    return run


# --- the decisions ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "finished_days_ago", "pruned", "due"),
    [
        ("succeeded", 181, False, True),
        ("failed", 181, False, True),
        ("succeeded", 179, False, False),
        ("succeeded", 181, True, False),  # pruned already
        ("queued", None, False, False),  # open runs never, however old
        ("running", None, False, False),
    ],
)
def test_a_run_is_due_when_it_finished_before_the_cutoff_and_was_not_pruned(
    status: str, finished_days_ago: int | None, pruned: bool, due: bool
) -> None:
    cutoff = RetentionPolicy(keep_days=180).cutoff(NOW)
    assert cutoff == NOW - timedelta(days=180)
    finished = NOW - timedelta(days=finished_days_ago) if finished_days_ago is not None else None
    assert details_due(status=status, finished_at=finished, pruned=pruned, cutoff=cutoff) is due


def test_the_next_prune_is_tomorrow_unless_a_backlog_is_left() -> None:
    assert next_prune_at(NOW, PruneReport(complete=True)) == NOW + PRUNE_EVERY == NOW + timedelta(days=1)
    assert next_prune_at(NOW, PruneReport(complete=False)) == NOW


def test_the_retention_defaults_to_180_days_and_refuses_unusable_values(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("RUN_DETAIL_RETENTION_DAYS", raising=False)
    assert read(SchedulerSettings).run_detail_retention_days == 180
    assert RetentionPolicy.from_env() == RetentionPolicy(keep_days=180)
    monkeypatch.setenv("RUN_DETAIL_RETENTION_DAYS", "")
    assert read(SchedulerSettings).run_detail_retention_days == 180
    monkeypatch.setenv("RUN_DETAIL_RETENTION_DAYS", " 30 ")
    assert read(SchedulerSettings).run_detail_retention_days == 30
    for bad, complaint in (("0", "at least 1"), ("half a year", "whole number of days")):
        monkeypatch.setenv("RUN_DETAIL_RETENTION_DAYS", bad)
        with pytest.raises(InvalidSchedulerSetting, match=f"RUN_DETAIL_RETENTION_DAYS must be .*{complaint}"):
            read(SchedulerSettings)


# --- pruning on both engines -------------------------------------------------------------


def test_old_runs_lose_their_details_in_batches_and_keep_their_counts(engine: Engine, org_id: int) -> None:
    old = add_run(engine, org_id, finished_days_ago=200, changes=10, warnings=4)
    old_failed = add_run(engine, org_id, finished_days_ago=181, changes=2, status="failed")
    recent = add_run(engine, org_id, finished_days_ago=10, changes=5, warnings=1)
    open_run = add_run(engine, org_id, finished_days_ago=None, status="queued")

    deletes: list[int] = []

    def count_deletes(
        _conn: Any, _cursor: Any, statement: str, _params: Any, _context: Any, _many: Any
    ) -> None:
        if statement.lstrip().upper().startswith("DELETE"):
            deletes.append(1)

    event.listen(engine, "before_cursor_execute", count_deletes)
    try:
        report = prune_run_details(engine, now=NOW, policy=RetentionPolicy(keep_days=180, batch_rows=3))
    finally:
        event.remove(engine, "before_cursor_execute", count_deletes)

    # 12 change rows of the two old runs at 3 a batch: 4 full batches and one empty one; 4
    # warnings: one full batch and a short one. Each batch its own transaction; then one mark.
    assert report == PruneReport(runs=2, changes=12, warnings=4, batches=8, complete=True)
    assert len(deletes) == 7
    assert rows_of(engine, old) == rows_of(engine, old_failed) == (0, 0)
    assert rows_of(engine, recent) == (5, 1)
    for run_id in (old, old_failed):
        run = run_of(engine, run_id)
        assert run.details_pruned_after_days == 180 and run.counts == COUNTS
    assert run_of(engine, recent).details_pruned_after_days is None
    assert run_of(engine, open_run).details_pruned_after_days is None
    assert run_of(engine, recent).counts == COUNTS


def test_pruning_twice_changes_nothing_more(engine: Engine, org_id: int) -> None:
    old = add_run(engine, org_id, finished_days_ago=365, changes=3, warnings=1)
    recent = add_run(engine, org_id, finished_days_ago=1, changes=2)
    policy = RetentionPolicy(keep_days=180)
    first = prune_run_details(engine, now=NOW, policy=policy)
    assert (first.runs, first.changes, first.warnings, first.complete) == (1, 3, 1, True)
    again = prune_run_details(engine, now=NOW, policy=policy)
    assert again == PruneReport()
    assert rows_of(engine, old) == (0, 0) and rows_of(engine, recent) == (2, 0)
    # A later, shorter retention does not re-mark a pruned run: it says what was true then.
    later = prune_run_details(engine, now=NOW, policy=RetentionPolicy(keep_days=30))
    assert later == PruneReport()
    assert run_of(engine, old).details_pruned_after_days == 180


def test_a_prune_cut_short_marks_nothing_half_done_and_the_next_call_finishes(
    engine: Engine, org_id: int
) -> None:
    old = add_run(engine, org_id, finished_days_ago=200, changes=9)
    policy = RetentionPolicy(keep_days=180, batch_rows=2, max_batches=2)
    first = prune_run_details(engine, now=NOW, policy=policy)
    assert (first.changes, first.runs, first.complete) == (4, 0, False)
    assert rows_of(engine, old) == (5, 0) and run_of(engine, old).details_pruned_after_days is None

    stopped = prune_run_details(engine, now=NOW, policy=policy, should_stop=lambda: True)
    assert stopped == PruneReport(complete=False)

    finished = prune_run_details(engine, now=NOW, policy=RetentionPolicy(keep_days=180, batch_rows=2))
    assert (finished.changes, finished.runs, finished.complete) == (5, 1, True)
    assert rows_of(engine, old) == (0, 0) and run_of(engine, old).details_pruned_after_days == 180


def test_the_panel_and_the_command_line_say_the_details_were_pruned(engine: Engine, org_id: int) -> None:
    old = add_run(engine, org_id, finished_days_ago=200, changes=3, warnings=1)
    recent = add_run(engine, org_id, finished_days_ago=3, changes=2, warnings=1)
    prune_run_details(engine, now=NOW, policy=RetentionPolicy(keep_days=180))

    detail = run_detail(engine, old, org_id=org_id)
    assert detail is not None
    assert detail.changes == [] and detail.warnings == [] and detail.changes_total == 0
    assert detail.pruned_text is not None and "pruned after 180 days" in detail.pruned_text
    assert detail.counts["users_created"] == 7
    kept = run_detail(engine, recent, org_id=org_id)
    assert kept is not None and kept.pruned_text is None and len(kept.changes) == 2

    listed = {row["run_id"]: row for row in runs_json(engine, org_id=org_id, limit=10)}
    assert listed[old]["changes"] is None and listed[old]["warnings"] is None
    assert listed[old]["details_pruned_after_days"] == 180
    assert "pruned after 180 days" in listed[old]["details_pruned"]
    assert listed[old]["counts"] == COUNTS
    assert (listed[recent]["changes"], listed[recent]["warnings"]) == (2, 1)
    assert listed[recent]["details_pruned_after_days"] is None and listed[recent]["details_pruned"] is None


def test_the_command_lines_run_list_says_pruned_instead_of_a_count(
    engine: Engine, org_id: int, cli: Cli
) -> None:
    old = add_run(engine, org_id, finished_days_ago=200, changes=3)
    recent = add_run(engine, org_id, finished_days_ago=3, changes=2)
    prune_run_details(engine, now=NOW, policy=RetentionPolicy(keep_days=180))
    result = cli("runs", "acme")
    assert result.code == 0, result.err
    lines = {int(line.split()[0]): line for line in result.out.splitlines()}
    assert "pruned after 180 days" in lines[old] and "changes" not in lines[old]
    assert "2 changes" in lines[recent]
    assert cli.json("runs", "acme", "--json")[-1]["details_pruned_after_days"] == 180


# --- the scheduler's daily duty ----------------------------------------------------------


def never_called(
    engine: Engine, run_id: int, *, worker_id: str, lease_seconds: int, stop: threading.Event
) -> object:
    raise AssertionError(f"run {run_id} should not have been executed")


def test_the_scheduler_prunes_once_a_day_with_the_configured_retention(
    engine: Engine, org_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUN_DETAIL_RETENTION_DAYS", "30")
    now = utcnow()
    clock = [now]
    first = add_run(engine, org_id, finished_days_ago=31, changes=4, now=now)
    kept = add_run(engine, org_id, finished_days_ago=29, changes=2, now=now)
    scheduler = Scheduler(
        engine, SchedulerConfig(tick_seconds=1), execute=never_called, clock=lambda: clock[0]
    )

    scheduler.tick()
    assert rows_of(engine, first) == (0, 0) and run_of(engine, first).details_pruned_after_days == 30
    assert rows_of(engine, kept) == (2, 0)

    # Two days pass for `kept`, but the next prune is a day after the first one.
    clock[0] = now + timedelta(hours=23)
    scheduler.tick()
    assert rows_of(engine, kept) == (2, 0)
    clock[0] = now + timedelta(days=1, minutes=1)
    scheduler.tick()
    assert rows_of(engine, kept) == (0, 0) and run_of(engine, kept).details_pruned_after_days == 30


def test_daily_pruning_tries_again_later_after_a_failure(
    engine: Engine, org_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = add_run(engine, org_id, finished_days_ago=200, changes=1)
    clock = [NOW]
    pruning = DailyPruning(engine, clock=lambda: clock[0])
    monkeypatch.setenv("RUN_DETAIL_RETENTION_DAYS", "soon")
    with pytest.raises(InvalidSchedulerSetting):
        pruning.run_if_due()
    monkeypatch.setenv("RUN_DETAIL_RETENTION_DAYS", "180")
    assert pruning.run_if_due() is None  # not at every tick: after RETRY_AFTER
    clock[0] = NOW + RETRY_AFTER
    report = pruning.run_if_due()
    assert report is not None and report.runs == 1 and rows_of(engine, old) == (0, 0)
    assert pruning.run_if_due() is None  # and then not again the same day


# --- migration 5 -------------------------------------------------------------------------


def test_migration_5_adds_the_column_to_an_older_database_and_is_idempotent(
    engine: Engine, org_id: int
) -> None:
    run_id = add_run(engine, org_id, finished_days_ago=1)
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE run DROP COLUMN details_pruned_after_days"))
        conn.execute(text("DELETE FROM schemaversion WHERE version = 5"))
    assert 5 not in db.applied_versions(engine)

    db.migrate(engine)
    db.migrate(engine)
    assert 5 in db.applied_versions(engine)
    with engine.connect() as conn:
        assert "details_pruned_after_days" in {c["name"] for c in inspect(conn).get_columns("run")}
    with engine.begin() as conn:
        dict(db.MIGRATIONS)[5](conn)  # again on a database that has the column: nothing to do
    assert run_of(engine, run_id).details_pruned_after_days is None
