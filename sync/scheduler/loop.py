"""The scheduler loop: what one scheduler instance does every tick (the process is `process`).

Every tick (SCHEDULER_TICK_SECONDS, default 5) it
1. records its heartbeat,
2. fails runs whose lease expired (their process died),
3. enqueues the automatic runs that are due, moving `next_run_at` to the next slot in the
   same transaction (a slot missed while no scheduler was up runs once, not once per day),
   and one `webhook` run per organization whose Personio events are due (near-real-time
   updates, `sync.integration.webhook_runs`: WEBHOOK_QUIET_SECONDS / WEBHOOK_MAX_DELAY_SECONDS),
4. claims queued runs, oldest first, while one of its SCHEDULER_WORKERS (default 4) threads is
   free, and hands each to a worker; the tick never waits for a run. A worker that finishes a
   run claims the next one itself, so a long queue does not wait for ticks,
5. delivers the email outbox,
6. once a day, prunes the details of old runs (`sync.integration.retention`), and once an hour
   the webhook events older than four days.

Several schedulers may share one database: they coordinate only through it (leases,
conditional updates, a unique index on running runs), never through memory. Each run has its own
lease; the queue never lets one organization run twice at once, so the workers always run
different organizations.
SIGTERM / SIGINT stop taking work: runs still fetching from Personio are abandoned and go back to
the queue (they wrote nothing), runs already applying finish, the heartbeat is marked stopped and
the process exits 0.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

import schedule
from sqlalchemy import Engine, func
from sqlalchemy.engine import make_url
from sqlmodel import select

from storage.clock import utcnow
from storage.config import (
    DEFAULT_SCHEDULER_TICK_SECONDS,
    DEFAULT_SCHEDULER_WORKERS,
    DEFAULT_WEBHOOK_MAX_DELAY_SECONDS,
    DEFAULT_WEBHOOK_QUIET_SECONDS,
    SchedulerSettings,
    WebhookSettings,
    read,
)
from storage.db import read_session
from storage.models import Integration, Organization, OutboxEmail, Run
from sync.core.changes import counts_text
from sync.core.errors import describe_exception, internal_error
from sync.core.states import IntegrationState, RunStatus
from sync.integration import queue
from sync.integration.recovery import recover_expired_runs
from sync.integration.retention import DailyPruning
from sync.integration.runner import execute_run
from sync.integration.webhook_runs import enqueue_webhook_runs, prune_webhook_events
from sync.mail import delivery as mailer
from sync.scheduler.heartbeat import forget_old_heartbeats, mark_stopped, new_instance_id, record_heartbeat

log = logging.getLogger("sync.scheduler")
_T = TypeVar("_T")

EMAIL_NOT_CONFIGURED = "Email is not configured (SMTP_URL unset): messages stay in the outbox."


@dataclass(frozen=True)
class SchedulerConfig:
    """How the scheduler behaves; `from_env` reads it from the environment."""

    tick_seconds: int = DEFAULT_SCHEDULER_TICK_SECONDS
    lease_seconds: int = queue.LEASE_SECONDS
    smtp: mailer.SmtpConfig | None = None
    workers: int = DEFAULT_SCHEDULER_WORKERS
    webhook_quiet_seconds: int = DEFAULT_WEBHOOK_QUIET_SECONDS
    webhook_max_delay_seconds: int = DEFAULT_WEBHOOK_MAX_DELAY_SECONDS

    @classmethod
    def from_env(cls) -> SchedulerConfig:
        """SCHEDULER_TICK_SECONDS, SCHEDULER_LEASE_SECONDS, SCHEDULER_WORKERS, WEBHOOK_QUIET_SECONDS,
        WEBHOOK_MAX_DELAY_SECONDS and the SMTP_* settings.

        Raises storage.config.InvalidSchedulerSetting (InvalidWebhookSetting, InvalidSmtpUrl) for
        unusable values.
        """
        settings = read(SchedulerSettings)
        webhooks = read(WebhookSettings)
        return cls(
            tick_seconds=settings.scheduler_tick_seconds,
            lease_seconds=settings.scheduler_lease_seconds,
            smtp=mailer.smtp_config_from_env(),
            workers=settings.scheduler_workers,
            webhook_quiet_seconds=webhooks.webhook_quiet_seconds,
            webhook_max_delay_seconds=webhooks.webhook_max_delay_seconds,
        )


class RunExecutor(Protocol):
    """Executes a run already claimed by `worker_id` (sync.integration.runner.execute_run), in a worker
    thread. Once `stop` is set, a run still fetching is abandoned and released to the queue; a run
    already applying finishes. Its result is not used: the Run row is the record of what happened."""

    def __call__(
        self, engine: Engine, run_id: int, *, worker_id: str, lease_seconds: int, stop: threading.Event
    ) -> object: ...


@dataclass(frozen=True)
class TickReport:
    """What one tick did (for `--once` and for tests)."""

    expired: int = 0
    enqueued: int = 0
    executed: int = 0  # runs this tick claimed and handed to a worker (they may still be running)
    emails_sent: int = 0
    emails_failed: int = 0


# --- the scheduler ---------------------------------------------------------------------


class Scheduler:
    """One scheduler instance: call `start`, then `run_forever` (or `tick`), then `close`."""

    def __init__(
        self,
        engine: Engine,
        config: SchedulerConfig,
        *,
        execute: RunExecutor = execute_run,
        clock: Callable[[], datetime] = utcnow,
        instance_id: str | None = None,
    ) -> None:
        self.engine = engine
        self.config = config
        self.instance_id = instance_id or new_instance_id()
        self._execute = execute
        self._clock = clock
        self._stop = threading.Event()
        self._workers = ThreadPoolExecutor(max_workers=config.workers, thread_name_prefix="run")
        self._busy = threading.Condition()  # guards _running: the run each busy worker executes
        self._running: dict[int, str] = {}  # run id -> label
        self._taken = 0  # workers executing a run or about to (claiming one)
        self._pruning = DailyPruning(engine, clock=clock, should_stop=self._stop.is_set)
        self._next_event_prune: datetime | None = None  # None: at the first tick
        # While runs execute outside the loop (--once, close), this thread keeps the heartbeat fresh.
        self._keepalive_stop = threading.Event()
        self._keepalive = threading.Thread(target=self._keep_alive, name="heartbeat", daemon=True)

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def start(self) -> None:
        """Record the heartbeat and say how the scheduler is set up."""
        now = self._clock()
        forget_old_heartbeats(self.engine, now=now)
        record_heartbeat(self.engine, instance_id=self.instance_id, now=now)
        url = make_url(str(self.engine.url)).render_as_string(hide_password=True)
        log.info(
            "scheduler %s started (tick %ss, lease %ss, %s worker(s), database %s)",
            self.instance_id,
            self.config.tick_seconds,
            self.config.lease_seconds,
            self.config.workers,
            url,
        )
        if self.config.smtp is None:
            log.info(EMAIL_NOT_CONFIGURED)
        else:
            log.info("email goes to %s as %s", self.config.smtp.display, self.config.smtp.sender)
        self._keepalive.start()

    def request_stop(self, reason: str) -> None:
        """Stop taking work; runs still fetching are abandoned (back to the queue), runs applying
        finish. Safe to call from a signal handler (it takes no lock)."""
        first = not self._stop.is_set()
        self._stop.set()
        current = sorted(dict(self._running))  # a copy without the lock: a signal may land anywhere
        runs = ", ".join(str(run_id) for run_id in current)
        if not first:
            log.info("%s received: still stopping%s", reason, f" (runs {runs} finishing)" if current else "")
        elif current:
            log.info(
                "%s received: stopping; of runs %s, those still fetching go back to the queue, "
                "those applying finish",
                reason,
                runs,
            )
        else:
            log.info("%s received: stopping", reason)

    def wait_for_runs(self, timeout: float | None = None) -> bool:
        """Wait until no worker executes a run (True), or `timeout` seconds passed (False)."""
        with self._busy:
            return self._busy.wait_for(lambda: self._taken == 0, timeout=timeout)

    def run_forever(self) -> None:
        """Tick every `tick_seconds` (with the `schedule` package) until a stop is requested."""
        jobs = schedule.Scheduler()
        jobs.every(self.config.tick_seconds).seconds.do(self.tick)
        self.tick()
        while not self._stop.is_set():
            jobs.run_pending()
            idle = jobs.idle_seconds
            # Short waits keep a stop request prompt; Event.wait also wakes at once on request_stop.
            self._stop.wait(timeout=min(max(idle if idle is not None else 1.0, 0.05), 1.0))

    def close(self) -> None:
        """Wait for the workers' runs, stop the heartbeat thread and mark this instance stopped."""
        self._workers.shutdown(wait=True)
        self._keepalive_stop.set()
        if self._keepalive.is_alive():
            self._keepalive.join(timeout=10)
        try:
            mark_stopped(self.engine, instance_id=self.instance_id, now=self._clock())
        except Exception as exc:  # the exit should still be clean; the heartbeat then just goes stale
            _log_failure("marking the heartbeat stopped", exc)
        log.info("scheduler %s stopped", self.instance_id)

    def tick(self) -> TickReport:
        """One pass over the five duties. A failing duty is logged; the others still run."""
        expired = enqueued = executed = 0
        delivery = mailer.DeliveryReport()
        if self._stop.is_set():
            return TickReport()
        self._guarded("recording the heartbeat", self._beat)
        expired = self._guarded("failing expired runs", self._fail_expired) or 0
        if not self._stop.is_set():
            enqueued = self._guarded("queueing due runs", self._enqueue_due) or 0
        if not self._stop.is_set():
            enqueued += self._guarded("queueing runs for Personio's changes", self._enqueue_webhook_runs) or 0
        if not self._stop.is_set():
            executed = self._guarded("executing queued runs", self._execute_queued) or 0
        if not self._stop.is_set() and self.config.smtp is not None:
            delivery = self._guarded("delivering email", self._deliver) or delivery
        if not self._stop.is_set():
            self._guarded("pruning old run details", self._pruning.run_if_due)
        if not self._stop.is_set():
            self._guarded("pruning old webhook events", self._prune_webhook_events)
        return TickReport(
            expired=expired,
            enqueued=enqueued,
            executed=executed,
            emails_sent=delivery.sent,
            emails_failed=delivery.failed,
        )

    # -- duties --

    def _beat(self) -> None:
        record_heartbeat(self.engine, instance_id=self.instance_id, now=self._clock())

    def _fail_expired(self) -> int:
        expired = recover_expired_runs(self.engine)
        for item in expired:
            log.warning(
                "%s failed: its lease expired (the scheduler running it stopped without finishing); %s",
                _run_label(self.engine, item.org_id, item.run_id),
                item.follow_up,
            )
        return len(expired)

    def _enqueue_due(self) -> int:
        queued = queue.enqueue_due_runs(self.engine, now=self._clock())
        for item in queued:
            log.info(
                "%s queued (automatic); next automatic run %s",
                _run_label(self.engine, item.org_id, item.run_id),
                item.next_run_at.strftime("%Y-%m-%d %H:%MZ"),
            )
        return len(queued)

    def _enqueue_webhook_runs(self) -> int:
        queued = enqueue_webhook_runs(
            self.engine,
            now=self._clock(),
            quiet=timedelta(seconds=self.config.webhook_quiet_seconds),
            max_delay=timedelta(seconds=self.config.webhook_max_delay_seconds),
        )
        for item in queued:
            log.info(
                "%s queued (Personio change: %s event(s): %s)",
                _run_label(self.engine, item.org_id, item.run_id),
                item.events,
                ", ".join(item.event_names),
            )
        return len(queued)

    def _prune_webhook_events(self) -> None:
        """Hourly: events older than four days (Personio's retries are over) are deleted."""
        now = self._clock()
        if self._next_event_prune is not None and now < self._next_event_prune:
            return
        self._next_event_prune = now + timedelta(hours=1)
        deleted = prune_webhook_events(self.engine, now=now)
        if deleted:
            log.info("%s webhook events older than four days deleted", deleted)

    def _execute_queued(self) -> int:
        """Claim runs, oldest first, while a worker is free; each goes to a worker at once."""
        started = 0
        while not self._stop.is_set() and self._claim_and_start():
            started += 1
        return started

    def _claim_and_start(self) -> bool:
        """Take a free worker, claim the oldest claimable run and hand it over. False when no worker
        was free or no run claimable.

        The worker is taken before the claim, so a claimed run never waits for a thread while its
        lease runs out.
        """
        with self._busy:
            if self._taken >= self.config.workers:
                return False
            self._taken += 1
        handed_over = False
        try:
            run = queue.claim_run(
                self.engine, worker_id=self.instance_id, lease_seconds=self.config.lease_seconds
            )
            if run is None or run.id is None:
                return False
            label = _run_label(self.engine, run.org_id, run.id)
            if self._stop.is_set():
                # Claimed but not started: back to the queue for the next scheduler.
                queue.release_run(self.engine, run_id=run.id, worker_id=self.instance_id)
                log.info("%s released: this scheduler is stopping", label)
                return False
            with self._busy:
                self._running[run.id] = label
            try:
                self._workers.submit(self._work, run, label)
            except RuntimeError:  # the pool was shut down meanwhile (close)
                with self._busy:
                    self._running.pop(run.id, None)
                queue.release_run(self.engine, run_id=run.id, worker_id=self.instance_id)
                return False
            handed_over = True
            return True
        finally:
            if not handed_over:
                self._free_worker()

    def _free_worker(self) -> None:
        with self._busy:
            self._taken -= 1
            self._busy.notify_all()

    def _work(self, run: Run, label: str) -> None:
        """A worker: execute the run, then claim the next one itself while there is work."""
        assert run.id is not None
        try:
            self._run_one(run, label)
        finally:
            with self._busy:
                self._running.pop(run.id, None)
            self._free_worker()
        if not self._stop.is_set():
            self._guarded("claiming the next run", self._claim_and_start)

    def _run_one(self, run: Run, label: str) -> None:
        assert run.id is not None
        run_id = run.id
        log.info("%s started (%s)", label, _trigger_text(run))
        began = time.monotonic()
        try:
            self._execute(
                self.engine,
                run_id,
                worker_id=self.instance_id,
                lease_seconds=self.config.lease_seconds,
                stop=self._stop,
            )
        except Exception as exc:
            # The runner records its own failures: this is a bug or a database outage. Fail the
            # run now if the database lets us; else its lease expires like a dead process's.
            _log_failure(f"{label}: executing", exc)
            error = internal_error(exc)
            self._guarded(
                "recording the failed run",
                lambda: queue.fail_run(self.engine, run_id=run_id, worker_id=self.instance_id, error=error),
            )
        self._guarded(
            "logging the outcome", lambda: self._log_outcome(run_id, label, time.monotonic() - began)
        )

    def _log_outcome(self, run_id: int, label: str, seconds: float) -> None:
        with read_session(self.engine) as session:
            run = session.get(Run, run_id)
            if run is None:
                return
            if run.status == RunStatus.SUCCEEDED:
                log.info("%s succeeded in %.1fs: %s", label, seconds, counts_text(run.counts))
                return
            if run.status == RunStatus.QUEUED and self._stop.is_set():
                log.info("%s abandoned while fetching: back in the queue (this scheduler is stopping)", label)
                return
            if run.status != RunStatus.FAILED:
                log.warning("%s is still %s after the runner returned", label, run.status)
                return
            log.warning("%s failed in %.1fs: %s: %s", label, seconds, run.error_code, run.error_message)
            integration = session.exec(select(Integration).where(Integration.org_id == run.org_id)).first()
            if (
                integration is not None
                and integration.state == IntegrationState.PAUSED
                and integration.paused_run_id == run.id
            ):
                emails = session.exec(
                    select(func.count()).select_from(OutboxEmail).where(OutboxEmail.run_id == run.id)
                ).one()
                log.warning("%s: automatic runs paused; %s owner email(s) queued", label, emails)

    def _deliver(self) -> mailer.DeliveryReport:
        assert self.config.smtp is not None
        report = mailer.deliver_outbox(self.engine, self.config.smtp, clock=self._clock)
        if report.sent:
            log.info("email: %s message(s) delivered", report.sent)
        return report

    # -- plumbing --

    def _guarded(self, what: str, duty: Callable[[], _T]) -> _T | None:
        try:
            return duty()
        except Exception as exc:  # one failing duty (e.g. a locked database) must not end the process
            _log_failure(what, exc)
            return None

    def _keep_alive(self) -> None:
        while not self._keepalive_stop.wait(self.config.tick_seconds):
            with self._busy:
                if not self._taken:
                    continue  # the main loop's ticks record the heartbeat
            try:
                self._beat()
            except Exception as exc:
                _log_failure("recording the heartbeat", exc)


def _run_label(engine: Engine, org_id: int, run_id: int | None) -> str:
    with read_session(engine) as session:
        org = session.get(Organization, org_id)
    return f"org={org.slug if org else org_id} run={run_id}"


def _trigger_text(run: Run) -> str:
    who = run.triggered_by_label
    if who is None and run.triggered_by_user_id is not None:
        who = f"user {run.triggered_by_user_id}"
    if who is None and run.triggered_by_staff_id is not None:
        who = f"staff {run.triggered_by_staff_id}"
    return f"{run.trigger}, by {who}" if who else run.trigger


def _log_failure(what: str, exc: BaseException) -> None:
    log.error("%s failed: %s", what, describe_exception(exc))
