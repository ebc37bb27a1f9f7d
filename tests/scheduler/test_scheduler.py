"""The scheduler process without Personio: heartbeat, signals, settings, email, due runs.

Real `python -m sync.scheduler` subprocesses on the test's SQLite file and a real SMTP
server on loopback. Tests poll for outcomes with generous deadlines; none asserts on time.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from storage.clock import utcnow
from storage.db import make_engine, read_session, write_session
from storage.models import Integration, OutboxEmail, Run, SchedulerHeartbeat
from sync.accounts.organizations import create_organization
from sync.core.timetable import next_run_after
from sync.integration import queue
from sync.scheduler.heartbeat import mark_stopped, record_heartbeat
from sync.scheduler.loop import EMAIL_NOT_CONFIGURED, Scheduler, SchedulerConfig, TickReport
from tests.support.processes import SchedulerProcesses, heartbeat_of, live_schedulers, wait_until
from tests.support.smtp import SmtpTestServer


@pytest.fixture
def schedulers(tmp_path: Path, database: str) -> Iterator[SchedulerProcesses]:
    with SchedulerProcesses(tmp_path / "schedulers") as processes:
        yield processes


def add_emails(engine: Engine, count: int) -> None:
    with write_session(engine) as session:
        for n in range(count):
            session.add(
                OutboxEmail(
                    to=f"person{n}@acme.example",
                    subject=f"Grüße {n}",
                    body="Hallo!\n",
                    kind="welcome",
                    created_at=utcnow(),
                )
            )


def outbox(engine: Engine) -> list[OutboxEmail]:
    with read_session(engine) as session:
        return list(session.exec(select(OutboxEmail).order_by(col(OutboxEmail.id))).all())


# --- process lifecycle -------------------------------------------------------------------


def test_heartbeat_is_recorded_kept_fresh_and_marked_stopped_on_sigterm(
    engine: Engine, schedulers: SchedulerProcesses
) -> None:
    process = schedulers.start()

    first = wait_until(lambda: heartbeat_of(engine, process), message=schedulers.outputs)
    assert first.instance_id.split(":")[1] == str(process.pid)
    assert first.host and first.stopped_at is None
    wait_until(
        lambda: (beat := heartbeat_of(engine, process)) is not None and beat.last_seen > first.last_seen,
        message=schedulers.outputs,
    )
    assert [
        beat.instance_id for beat in live_schedulers(engine, now=utcnow(), stale_after=timedelta(minutes=5))
    ] == [first.instance_id]

    assert process.terminate() == 0
    stopped = heartbeat_of(engine, process)
    assert stopped is not None and stopped.stopped_at is not None
    assert live_schedulers(engine, now=utcnow(), stale_after=timedelta(minutes=5)) == []
    assert "SIGTERM received: stopping" in process.output


def test_sigint_stops_cleanly_too(engine: Engine, schedulers: SchedulerProcesses) -> None:
    process = schedulers.start()
    wait_until(lambda: heartbeat_of(engine, process), message=schedulers.outputs)
    process.popen.send_signal(signal.SIGINT)
    assert process.popen.wait(timeout=60) == 0
    beat = heartbeat_of(engine, process)
    assert beat is not None and beat.stopped_at is not None


def test_the_cli_subcommand_runs_the_same_scheduler(engine: Engine, schedulers: SchedulerProcesses) -> None:
    process = schedulers.start(module="sync", args=("scheduler",))
    wait_until(lambda: heartbeat_of(engine, process), message=schedulers.outputs)
    assert process.terminate() == 0


def test_without_smtp_url_it_says_so_once_and_messages_stay_in_the_outbox(
    engine: Engine, schedulers: SchedulerProcesses
) -> None:
    add_emails(engine, 2)
    process = schedulers.start()
    first = wait_until(lambda: heartbeat_of(engine, process), message=schedulers.outputs)
    # Several ticks later nothing was attempted.
    wait_until(
        lambda: (
            (beat := heartbeat_of(engine, process)) is not None
            and beat.last_seen > first.last_seen + timedelta(seconds=2)
        ),
        message=schedulers.outputs,
    )
    assert process.terminate() == 0
    assert process.output.count(EMAIL_NOT_CONFIGURED) == 1
    assert all(row.sent_at is None and row.attempts == 0 for row in outbox(engine))


@pytest.mark.parametrize(
    ("env", "complaint"),
    [
        ({"SCHEDULER_TICK_SECONDS": "0"}, "SCHEDULER_TICK_SECONDS must be at least 1"),
        ({"SCHEDULER_LEASE_SECONDS": "soon"}, "SCHEDULER_LEASE_SECONDS must be a whole number"),
        ({"RUN_DETAIL_RETENTION_DAYS": "0"}, "RUN_DETAIL_RETENTION_DAYS must be at least 1"),
        ({"SCHEDULER_WORKERS": "0"}, "SCHEDULER_WORKERS must be a whole number of runs at once, from 1"),
        ({"SCHEDULER_WORKERS": "65"}, "(got '65'). Hint: set SCHEDULER_WORKERS to e.g. 4"),
        ({"SCHEDULER_WORKERS": "many"}, "SCHEDULER_WORKERS must be a whole number"),
        ({"SMTP_URL": "http://user:s3cret@mail.example"}, "SMTP_URL must start with smtp://"),
    ],
)
def test_unusable_settings_stop_the_scheduler_at_start_with_a_message(
    schedulers: SchedulerProcesses, env: dict[str, str], complaint: str
) -> None:
    process = schedulers.start(env=env)
    assert process.popen.wait(timeout=60) == 2
    assert complaint in process.output
    assert "s3cret" not in process.output


def closed_port() -> int:
    """A loopback port nothing listens on (bound, read, released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize(
    ("database_url", "complaint"),
    [
        ("foo://bar", "cannot open the database foo://bar: no database driver"),
        ("not a url", "DATABASE_URL is not a database URL"),
        ("postgres//sched:s3cret@db.example/app", "DATABASE_URL is not a database URL"),
        (
            "postgresql+psycopg://sched:s3cret@127.0.0.1:{port}/app",
            "cannot open the database postgresql+psycopg://sched:***@127.0.0.1:{port}/app",
        ),
    ],
    ids=["unknown-driver", "not-a-url", "unparseable-with-password", "postgres-closed-port"],
)
def test_an_unusable_database_url_stops_the_scheduler_with_one_line_and_a_hint(
    schedulers: SchedulerProcesses, database_url: str, complaint: str
) -> None:
    port = closed_port()
    process = schedulers.start(env={"DATABASE_URL": database_url.format(port=port)})
    assert process.popen.wait(timeout=60) == 2
    output = process.output.strip()
    assert output.count("\n") == 0, output
    assert complaint.format(port=port) in output
    assert "Hint: " in output and "Traceback" not in output
    assert "s3cret" not in output


# --- email -------------------------------------------------------------------------------


def test_smtp_down_then_up_delivers_every_message_exactly_once(
    engine: Engine, schedulers: SchedulerProcesses
) -> None:
    server = SmtpTestServer()  # not started yet: connections are refused
    add_emails(engine, 5)
    process = schedulers.start(
        smtp_url=server.url, env={"SMTP_RETRY_BASE_SECONDS": "1", "SMTP_RETRY_MAX_SECONDS": "2"}
    )
    try:
        wait_until(
            lambda: all(row.attempts >= 2 for row in outbox(engine)),
            message=lambda: f"no retries recorded:\n{schedulers.outputs()}",
        )
        assert all(row.sent_at is None for row in outbox(engine))
        assert all(row.last_error and "connection refused" in row.last_error for row in outbox(engine))

        server.start()
        wait_until(lambda: all(row.sent_at is not None for row in outbox(engine)), message=schedulers.outputs)
        add_emails(engine, 1)  # a message queued later goes out too, after the others
        wait_until(lambda: len(server.messages) == 6, message=schedulers.outputs)
        assert process.terminate() == 0
    finally:
        server.stop()
    subjects = sorted(m.subject for m in server.messages)
    assert subjects == sorted([f"Grüße {n}" for n in range(5)] + ["Grüße 0"])
    assert len({m.message_id for m in server.messages}) == 6
    assert all(row.last_error is None for row in outbox(engine))
    assert "email: 5 message(s) delivered" in process.output


def test_two_schedulers_deliver_each_message_once(
    engine: Engine, schedulers: SchedulerProcesses, smtp_server: SmtpTestServer
) -> None:
    add_emails(engine, 30)
    for _ in range(2):
        schedulers.start(smtp_url=smtp_server.url)
    wait_until(lambda: all(row.sent_at is not None for row in outbox(engine)), message=schedulers.outputs)
    schedulers.stop_all()
    assert sorted(m.recipients[0] for m in smtp_server.messages) == sorted(
        f"person{n}@acme.example" for n in range(30)
    )


# --- due automatic runs (the queue side; executing them is in test_scheduler_runs) ---------


@pytest.fixture
def org_id(engine: Engine) -> int:
    org = create_organization(
        engine, slug="acme", name="Acme", owner_email="owner@acme.example", owner_password="owner-password"
    )
    assert org.id is not None
    return org.id


def set_integration(engine: Engine, org_id: int, **values: object) -> None:
    with write_session(engine) as session:
        integration = session.exec(select(Integration).where(Integration.org_id == org_id)).one()
        for name, value in values.items():
            setattr(integration, name, value)
        session.add(integration)


def integration_of(session: Session, org_id: int) -> Integration:
    return session.exec(select(Integration).where(Integration.org_id == org_id)).one()


def runs_of(engine: Engine, org_id: int) -> list[Run]:
    with read_session(engine) as session:
        return list(session.exec(select(Run).where(Run.org_id == org_id).order_by(col(Run.id))).all())


def test_a_due_integration_gets_one_automatic_run_and_its_next_slot(engine: Engine, org_id: int) -> None:
    now = utcnow()
    set_integration(engine, org_id, state="active", next_run_at=now - timedelta(minutes=1))

    [queued] = queue.enqueue_due_runs(engine, now=now)

    [run] = runs_of(engine, org_id)
    assert (run.id, run.trigger, run.status) == (queued.run_id, "automatic", "queued")
    with read_session(engine) as session:
        assert integration_of(session, org_id).next_run_at == next_run_after(now, None)
    assert queue.enqueue_due_runs(engine, now=now) == []


def test_a_slot_missed_for_days_runs_once(engine: Engine, org_id: int) -> None:
    now = utcnow()
    set_integration(
        engine, org_id, state="active", next_run_at=now - timedelta(days=5), schedule_every_hours=1
    )
    for _ in range(3):
        queue.enqueue_due_runs(engine, now=now)
    assert len(runs_of(engine, org_id)) == 1
    with read_session(engine) as session:
        assert integration_of(session, org_id).next_run_at == next_run_after(now, 1)


@pytest.mark.parametrize("state", ["paused", "inactive"])
def test_paused_and_inactive_integrations_get_no_automatic_run(
    engine: Engine, org_id: int, state: str
) -> None:
    set_integration(engine, org_id, state=state, next_run_at=utcnow() - timedelta(hours=1))
    assert queue.enqueue_due_runs(engine, now=utcnow()) == []
    assert runs_of(engine, org_id) == []


def test_a_slot_that_is_not_due_yet_waits(engine: Engine, org_id: int) -> None:
    set_integration(engine, org_id, state="active", next_run_at=utcnow() + timedelta(minutes=5))
    assert queue.enqueue_due_runs(engine, now=utcnow()) == []


def test_an_open_run_keeps_the_slot_due_until_it_finished(engine: Engine, org_id: int) -> None:
    due = utcnow() - timedelta(minutes=1)
    set_integration(engine, org_id, state="active", next_run_at=due)
    with write_session(engine) as session:
        manual = queue.enqueue_run(session, org_id=org_id, trigger="manual")
        manual_id = manual.id
    assert queue.enqueue_due_runs(engine, now=utcnow()) == []
    with read_session(engine) as session:
        assert integration_of(session, org_id).next_run_at == due

    with write_session(engine) as session:
        finished = session.get(Run, manual_id)
        assert finished is not None
        finished.status = "succeeded"
        session.add(finished)
    assert len(queue.enqueue_due_runs(engine, now=utcnow())) == 1


def test_an_active_integration_without_a_next_run_time_gets_one_but_no_run(
    engine: Engine, org_id: int
) -> None:
    set_integration(engine, org_id, state="active", next_run_at=None)
    now = utcnow()
    assert queue.enqueue_due_runs(engine, now=now) == []
    with read_session(engine) as session:
        assert integration_of(session, org_id).next_run_at == next_run_after(now, None)


def test_concurrent_enqueuers_queue_a_slot_once(engine: Engine, database: str, org_id: int) -> None:
    now = utcnow()
    set_integration(engine, org_id, state="active", next_run_at=now - timedelta(hours=1))
    engines = [make_engine(database) for _ in range(4)]  # str(engine.url) hides the password
    barrier = threading.Barrier(len(engines))

    def enqueue(own: Engine) -> None:
        barrier.wait()
        queue.enqueue_due_runs(own, now=now)

    threads = [threading.Thread(target=enqueue, args=(own,)) for own in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for own in engines:
        own.dispose()
    assert len(runs_of(engine, org_id)) == 1


# --- heartbeat helpers -------------------------------------------------------------------


def test_a_heartbeat_row_is_upserted_and_stopped(engine: Engine) -> None:
    now = utcnow()
    instance = f"testhost:{os.getpid()}:abc123"
    record_heartbeat(engine, instance_id=instance, now=now)
    record_heartbeat(engine, instance_id=instance, now=now + timedelta(seconds=5))
    with read_session(engine) as session:
        [beat] = session.exec(select(SchedulerHeartbeat)).all()
    assert (beat.host, beat.pid, beat.started_at, beat.last_seen) == (
        "testhost",
        os.getpid(),
        now,
        now + timedelta(seconds=5),
    )
    mark_stopped(engine, instance_id=instance, now=now + timedelta(seconds=6))
    assert live_schedulers(engine, now=now + timedelta(seconds=7), stale_after=timedelta(minutes=1)) == []


# --- the tick, in process (for the moments a subprocess cannot be caught in) -----------------


def never_called(
    engine: Engine, run_id: int, *, worker_id: str, lease_seconds: int, stop: threading.Event
) -> object:
    raise AssertionError(f"run {run_id} should not have been executed")


def test_a_run_claimed_while_stopping_goes_back_to_the_queue(
    engine: Engine, org_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    with write_session(engine) as session:
        run_id = queue.enqueue_run(session, org_id=org_id, trigger="manual").id
    scheduler = Scheduler(engine, SchedulerConfig(tick_seconds=1), execute=never_called)
    claim = queue.claim_run

    def claim_then_signal(*args: Any, **kwargs: Any) -> Run | None:
        claimed = claim(*args, **kwargs)
        scheduler.request_stop("SIGTERM")  # the signal lands right after the claim
        return claimed

    monkeypatch.setattr(queue, "claim_run", claim_then_signal)
    assert scheduler.tick().executed == 0

    [run] = runs_of(engine, org_id)
    assert (run.id, run.status, run.started_at, run.lease_owner) == (run_id, "queued", None, None)


def test_a_broken_executor_fails_the_run_with_a_plain_message_and_the_scheduler_goes_on(
    engine: Engine, org_id: int
) -> None:
    other = create_organization(
        engine, slug="globex", name="Globex", owner_email="owner@globex.example", owner_password="pw-globex"
    )
    assert other.id is not None
    with write_session(engine) as session:
        for org in (org_id, other.id):
            queue.enqueue_run(session, org_id=org, trigger="manual")

    def broken(
        engine: Engine, run_id: int, *, worker_id: str, lease_seconds: int, stop: threading.Event
    ) -> object:
        raise RuntimeError("token=not-for-people")

    scheduler = Scheduler(engine, SchedulerConfig(tick_seconds=1), execute=broken)
    # Two organizations: both runs start (by the tick, or by a worker freed by the first failure,
    # which claims the next run itself); the scheduler goes on after each failure.
    assert scheduler.tick().executed >= 1
    assert scheduler.wait_for_runs(timeout=60)
    scheduler.tick()  # whatever the first tick left queued
    assert scheduler.wait_for_runs(timeout=60)

    for run in runs_of(engine, org_id) + runs_of(engine, other.id):
        assert (run.status, run.error_code, run.lease_owner) == ("failed", "internal", None)
        assert run.error_message is not None and "RuntimeError" in run.error_message
        assert "not-for-people" not in run.error_message


def test_a_stopping_scheduler_does_nothing_more(engine: Engine, org_id: int) -> None:
    set_integration(engine, org_id, state="active", next_run_at=utcnow() - timedelta(hours=1))
    scheduler = Scheduler(engine, SchedulerConfig(tick_seconds=1), execute=never_called)
    scheduler.request_stop("SIGTERM")
    assert scheduler.tick() == TickReport()
    assert runs_of(engine, org_id) == []
