"""Retention of run details: a finished run's change log and warnings are kept for
RUN_DETAIL_RETENTION_DAYS (default 180), the run row and its counts for ever.

A 100k company's initial run writes 100k+ change rows, so the log would grow without end. The
scheduler prunes once a day (`DailyPruning`, one per scheduler instance) in small batches: each
batch is one short transaction deleting at most `batch_rows` rows, so neither the dashboard nor a
running sync waits long for the write lock. A run is marked (`Run.details_pruned_after_days`)
only once all its rows are gone, so the mark never claims more than is true; a prune that was
interrupted (budget, SIGTERM) simply continues at the next call. Pruning twice, or by
two schedulers at once, deletes nothing twice and marks each run once.

The decisions (which runs are due, when to prune next) are pure functions; `prune_run_details`
is the thin shell that executes them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, delete, select, update
from sqlmodel import col

from storage.clock import utcnow
from storage.config import SchedulerSettings, read
from storage.db import read_session, write_session
from storage.models import Run, RunChange, RunWarning, table
from sync.core.states import RunStatus

log = logging.getLogger("sync.retention")

DEFAULT_BATCH_ROWS = 1000  # rows deleted per transaction
RUNS_PER_CHUNK = 100  # runs handled together (their rows deleted, then marked in one statement)
DEFAULT_MAX_BATCHES = 50  # per call: a large backlog is worked off over several ticks
PRUNE_EVERY = timedelta(days=1)
RETRY_AFTER = timedelta(minutes=15)  # after a failed prune (e.g. the database was unreachable)
FINISHED = (RunStatus.SUCCEEDED, RunStatus.FAILED)


# --- the decisions (pure) ---------------------------------------------------------------


@dataclass(frozen=True)
class RetentionPolicy:
    """How long run details are kept, and how much one transaction deletes."""

    keep_days: int
    batch_rows: int = DEFAULT_BATCH_ROWS
    max_batches: int = DEFAULT_MAX_BATCHES

    def cutoff(self, now: datetime) -> datetime:
        """Runs that finished before this moment lose their details."""
        return now - timedelta(days=self.keep_days)

    @classmethod
    def from_env(cls) -> RetentionPolicy:
        """RUN_DETAIL_RETENTION_DAYS (default 180). Raises InvalidSchedulerSetting for a bad value."""
        return cls(keep_days=read(SchedulerSettings).run_detail_retention_days)


def details_due(*, status: str, finished_at: datetime | None, pruned: bool, cutoff: datetime) -> bool:
    """True when a run's details are to be pruned: finished before `cutoff` and not pruned yet.

    Open runs (queued, running) are never pruned, however old.
    """
    return status in FINISHED and finished_at is not None and finished_at < cutoff and not pruned


@dataclass(frozen=True)
class PruneReport:
    """What one call of `prune_run_details` did."""

    runs: int = 0  # runs marked as pruned
    changes: int = 0  # change rows deleted
    warnings: int = 0  # warning rows deleted
    batches: int = 0  # write transactions
    complete: bool = True  # False: it stopped (budget or stop request) with more to prune


def next_prune_at(now: datetime, report: PruneReport) -> datetime:
    """When to prune again: tomorrow when all was done, at the next tick when a backlog is left."""
    return now + PRUNE_EVERY if report.complete else now


# --- the shell (I/O) ---------------------------------------------------------------------


def _due_runs(engine: Engine, *, cutoff: datetime, limit: int) -> list[int]:
    with read_session(engine) as session:
        rows = session.execute(
            select(col(Run.id), col(Run.status), col(Run.finished_at), col(Run.details_pruned_after_days))
            .where(
                col(Run.status).in_(FINISHED),
                col(Run.finished_at) < cutoff,
                col(Run.details_pruned_after_days).is_(None),
            )
            .order_by(col(Run.id))
            .limit(limit)
        ).all()
    return [
        run_id
        for run_id, status, finished_at, pruned in rows
        if details_due(status=status, finished_at=finished_at, pruned=pruned is not None, cutoff=cutoff)
    ]


def _delete_batch(
    engine: Engine, model: type[RunChange] | type[RunWarning], run_ids: list[int], rows: int
) -> int:
    """Delete at most `rows` rows of `model` belonging to `run_ids`, in one short transaction."""
    rows_table = table(model)
    batch = (
        select(rows_table.c.id).where(rows_table.c.run_id.in_(run_ids)).order_by(rows_table.c.id).limit(rows)
    )
    with write_session(engine) as session:
        result = session.execute(delete(rows_table).where(rows_table.c.id.in_(batch)))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


def _mark_pruned(engine: Engine, run_ids: list[int], keep_days: int) -> int:
    with write_session(engine) as session:
        result = session.execute(
            update(table(Run))
            .where(table(Run).c.id.in_(run_ids), table(Run).c.details_pruned_after_days.is_(None))
            .values(details_pruned_after_days=keep_days)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


def prune_run_details(
    engine: Engine,
    *,
    now: datetime,
    policy: RetentionPolicy,
    should_stop: Callable[[], bool] = lambda: False,
) -> PruneReport:
    """Delete the change log and warnings of runs that finished more than `policy.keep_days` ago,
    `policy.batch_rows` rows per transaction, and mark each run once its rows are gone.

    Stops early (report.complete False) after `policy.max_batches` transactions or when
    `should_stop()` says so; calling it again continues where it stopped. Idempotent.
    """
    cutoff = policy.cutoff(now)
    runs = changes = warnings = batches = 0

    def report(*, complete: bool) -> PruneReport:
        return PruneReport(runs=runs, changes=changes, warnings=warnings, batches=batches, complete=complete)

    while True:
        run_ids = _due_runs(engine, cutoff=cutoff, limit=RUNS_PER_CHUNK)
        if not run_ids:
            return report(complete=True)
        for model in (RunChange, RunWarning):
            while True:
                if should_stop() or batches >= policy.max_batches:
                    return report(complete=False)
                deleted = _delete_batch(engine, model, run_ids, policy.batch_rows)
                batches += 1
                if model is RunChange:
                    changes += deleted
                else:
                    warnings += deleted
                if deleted < policy.batch_rows:
                    break
        # Every row of these runs is gone: say so on the runs (once, even with two schedulers).
        runs += _mark_pruned(engine, run_ids, policy.keep_days)
        batches += 1


class DailyPruning:
    """The scheduler's daily duty: prune when due, then again a day later (sooner while a backlog
    is left). One per scheduler instance; several instances pruning at once do no harm."""

    def __init__(
        self,
        engine: Engine,
        *,
        policy: RetentionPolicy | None = None,
        clock: Callable[[], datetime] = utcnow,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> None:
        self.engine = engine
        self._policy = policy  # None: RUN_DETAIL_RETENTION_DAYS, read at each prune
        self._clock = clock
        self._should_stop = should_stop
        self._next_at: datetime | None = None  # None: at the first call

    def run_if_due(self) -> PruneReport | None:
        """Prune if it is time; returns what was done, or None when it was not due.

        Raises what the database raises, and InvalidSchedulerSetting for a bad retention setting;
        the next attempt is then RETRY_AFTER later.
        """
        now = self._clock()
        if self._next_at is not None and now < self._next_at:
            return None
        self._next_at = now + RETRY_AFTER  # if this attempt fails, try again later, not every tick
        policy = self._policy or RetentionPolicy.from_env()
        report = prune_run_details(self.engine, now=now, policy=policy, should_stop=self._should_stop)
        self._next_at = next_prune_at(now, report)
        if report.runs or report.changes or report.warnings:
            log.info(
                "run details older than %s days pruned: %s change rows and %s warnings of %s runs%s",
                policy.keep_days,
                report.changes,
                report.warnings,
                report.runs,
                "" if report.complete else " (more to prune next tick)",
            )
        return report
