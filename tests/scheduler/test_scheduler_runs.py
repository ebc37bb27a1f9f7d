"""The scheduler executing runs end to end: `python -m sync.scheduler` subprocesses, the Personio
sandbox over loopback HTTP, the test's SQLite file, and aiosmtpd for the owners' email.

Tests poll for outcomes with generous deadlines; none asserts on durations.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import col, select

from storage.clock import utcnow
from storage.db import read_session, write_session
from storage.models import Integration, OutboxEmail, Run, Team, TeamMember, User
from sync.accounts.organizations import create_organization, create_staff
from sync.core.states import RunStatus
from sync.core.timetable import next_run_after
from sync.integration import lifecycle, queue
from sync.integration.settings import save_settings
from tests.support.processes import SchedulerProcesses, heartbeat_of, wait_for_ticks, wait_until
from tests.support.sandbox import SandboxProcess
from tests.support.smtp import SmtpTestServer

RUN_DEADLINE = 120.0


@pytest.fixture
def schedulers(tmp_path: Path, database: str) -> Iterator[SchedulerProcesses]:
    with SchedulerProcesses(tmp_path / "schedulers") as processes:
        yield processes


def make_org(engine: Engine, sandbox: SandboxProcess, slug: str, *, owner_language: str = "en") -> int:
    """An organization whose integration reads the sandbox (inactive until a test switches it on)."""
    org = create_organization(
        engine,
        slug=slug,
        name=slug.capitalize(),
        owner_email=f"owner@{slug}.example",
        owner_password="owner-password",
    )
    assert org.id is not None
    save_settings(
        engine,
        org.id,
        client_id=sandbox.client_id,
        client_secret=sandbox.client_secret,
        base_url=sandbox.base_url,
        team_attributes=["department"],
    )
    with write_session(engine) as session:
        owner = session.exec(select(User).where(User.org_id == org.id)).one()
        owner.language = owner_language
        session.add(owner)
    return org.id


def set_integration(engine: Engine, org_id: int, **values: object) -> None:
    with write_session(engine) as session:
        integration = session.exec(select(Integration).where(Integration.org_id == org_id)).one()
        for name, value in values.items():
            setattr(integration, name, value)
        session.add(integration)


def integration(engine: Engine, org_id: int) -> Integration:
    with read_session(engine) as session:
        return session.exec(select(Integration).where(Integration.org_id == org_id)).one()


def runs(engine: Engine, org_id: int | None = None) -> list[Run]:
    with read_session(engine) as session:
        query = select(Run).order_by(col(Run.id))
        if org_id is not None:
            query = query.where(Run.org_id == org_id)
        return list(session.exec(query).all())


def run_by_id(engine: Engine, run_id: int) -> Run:
    with read_session(engine) as session:
        run = session.get(Run, run_id)
        assert run is not None
        return run


def wait_for_run(engine: Engine, run_id: int, status: str, schedulers: SchedulerProcesses) -> Run:
    def reached() -> Run | None:
        run = run_by_id(engine, run_id)
        if run.status in (RunStatus.SUCCEEDED, RunStatus.FAILED) and run.status != status:
            raise AssertionError(f"run {run_id} {run.status}: {run.error_message}\n{schedulers.outputs()}")
        return run if run.status == status else None

    return wait_until(
        reached, timeout=RUN_DEADLINE, message=lambda: f"run {run_id} not {status}:\n{schedulers.outputs()}"
    )


def directory_snapshot(engine: Engine, org_id: int) -> dict[str, Any]:
    """Users and team memberships as plain values, to compare before and after."""
    with read_session(engine) as session:
        users = session.exec(select(User).where(User.org_id == org_id)).all()
        teams = session.exec(select(Team).where(Team.org_id == org_id)).all()
        members = session.exec(
            select(TeamMember.team_id, TeamMember.user_id, TeamMember.role).where(
                col(TeamMember.team_id).in_([t.id for t in teams])
            )
        ).all()
    return {
        "users": sorted(
            (u.email, u.status, u.personio_id or "", u.first_name, u.last_name, u.job_title or "", u.role)
            for u in users
        ),
        "teams": sorted((t.name, t.source_attribute or "", t.source_key or "") for t in teams),
        "members": sorted(tuple(m) for m in members),
    }


def synced_users(engine: Engine, org_id: int) -> list[User]:
    with read_session(engine) as session:
        return list(
            session.exec(
                select(User).where(User.org_id == org_id, User.source == "personio", User.status == "active")
            ).all()
        )


# --- scheduled runs ----------------------------------------------------------------------


@pytest.mark.parametrize("every_hours", [None, 6])
def test_a_due_run_fires_and_next_run_at_moves_to_the_next_slot(
    engine: Engine, sandbox: SandboxProcess, schedulers: SchedulerProcesses, every_hours: int | None
) -> None:
    org_id = make_org(engine, sandbox, "acme")
    set_integration(
        engine,
        org_id,
        state="active",
        schedule_every_hours=every_hours,
        next_run_at=utcnow() - timedelta(minutes=1),
    )
    schedulers.start()

    [run] = wait_until(lambda: runs(engine, org_id), message=schedulers.outputs)
    assert run.trigger == "automatic" and run.id is not None
    done = wait_for_run(engine, run.id, RunStatus.SUCCEEDED, schedulers)

    assert integration(engine, org_id).next_run_at == next_run_after(done.queued_at, every_hours)
    assert integration(engine, org_id).state == "active"
    assert len(synced_users(engine, org_id)) > 0
    output = schedulers.outputs()
    assert f"org=acme run={run.id} started (automatic)" in output
    assert re.search(rf"\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\dZ org=acme run={run.id} succeeded in ", output)


def test_a_run_missed_for_days_is_caught_up_exactly_once(
    engine: Engine, sandbox: SandboxProcess, schedulers: SchedulerProcesses
) -> None:
    org_id = make_org(engine, sandbox, "acme")
    set_integration(
        engine, org_id, state="active", next_run_at=utcnow() - timedelta(days=3), schedule_every_hours=1
    )
    process = schedulers.start()

    [run] = wait_until(lambda: runs(engine, org_id), message=schedulers.outputs)
    assert run.id is not None
    wait_for_run(engine, run.id, RunStatus.SUCCEEDED, schedulers)
    wait_for_ticks(engine, process, 3)

    assert [r.id for r in runs(engine, org_id)] == [run.id]
    next_run_at = integration(engine, org_id).next_run_at
    assert next_run_at is not None and next_run_at > utcnow()


def test_a_queued_run_is_executed_within_seconds(
    engine: Engine, sandbox: SandboxProcess, schedulers: SchedulerProcesses
) -> None:
    org_id = make_org(engine, sandbox, "acme")
    process = schedulers.start()
    wait_until(lambda: heartbeat_of(engine, process), message=schedulers.outputs)

    run = lifecycle.run_now(engine, org_id, label="test")
    assert run.id is not None
    done = wait_for_run(engine, run.id, RunStatus.SUCCEEDED, schedulers)

    assert done.started_at is not None and done.finished_at is not None
    assert done.lease_owner is None
    assert f"org=acme run={run.id} started (manual, by test)" in process.output


def test_two_schedulers_execute_twenty_queued_runs_exactly_once(
    engine: Engine, sandbox: SandboxProcess, schedulers: SchedulerProcesses
) -> None:
    # One open run per organization: twenty organizations with one queued run each.
    org_ids = [make_org(engine, sandbox, f"org{n}") for n in range(20)]
    with write_session(engine) as session:
        for org_id in org_ids:
            queue.enqueue_run(session, org_id=org_id, trigger="manual", label="test")
    all_ids = {r.id for r in runs(engine)}
    assert len(all_ids) == 20

    first_start: dict[int, object] = {}
    owners: dict[int, set[str]] = {}

    def observe() -> bool:
        current = runs(engine)
        running_per_org: dict[int, int] = {}
        for run in current:
            assert run.id is not None
            if run.status == RunStatus.RUNNING:
                running_per_org[run.org_id] = running_per_org.get(run.org_id, 0) + 1
                owners.setdefault(run.id, set()).add(str(run.lease_owner))
            if run.started_at is not None:
                assert first_start.setdefault(run.id, run.started_at) == run.started_at, (
                    f"run {run.id} restarted"
                )
        assert all(count <= 1 for count in running_per_org.values()), f"two runs at once: {running_per_org}"
        failed = [r for r in current if r.status == RunStatus.FAILED]
        assert not failed, f"{failed[0].error_code}: {failed[0].error_message}\n{schedulers.outputs()}"
        return all(r.status == RunStatus.SUCCEEDED for r in current)

    schedulers.start()
    schedulers.start()
    wait_until(observe, timeout=300, interval=0.05, message=schedulers.outputs)

    assert all(len(seen) == 1 for seen in owners.values())
    output = schedulers.outputs()
    for run_id in all_ids:
        assert len(re.findall(rf" run={run_id} started ", output)) == 1, f"run {run_id}:\n{output}"
    assert set(first_start) == all_ids


LEASE = 3  # SCHEDULER_LEASE_SECONDS of the crash tests: a killed run is failed within seconds


def test_kill_9_mid_run_fails_the_run_as_expired_and_its_retry_succeeds(
    engine: Engine, sandbox: SandboxProcess, schedulers: SchedulerProcesses
) -> None:
    org_id = make_org(engine, sandbox, "acme")
    first_scheduler = schedulers.start(lease_seconds=LEASE)
    first = lifecycle.run_now(engine, org_id, label="test")
    assert first.id is not None
    wait_for_run(engine, first.id, RunStatus.SUCCEEDED, schedulers)
    before = directory_snapshot(engine, org_id)

    hired = sandbox.hire(first_name="Jördis", last_name="Neumann", email="joerdis.neumann@acme.example")
    sandbox.set_faults(hang={"seconds": 60, "count": -1})  # Personio stops answering mid-run
    doomed = lifecycle.run_now(engine, org_id, label="test")
    assert doomed.id is not None
    wait_for_run(engine, doomed.id, RunStatus.RUNNING, schedulers)
    first_scheduler.kill()

    assert directory_snapshot(engine, org_id) == before
    sandbox.clear_faults()
    schedulers.start(lease_seconds=LEASE)
    failed = wait_for_run(engine, doomed.id, RunStatus.FAILED, schedulers)
    assert failed.error_code == "lease_expired"
    assert failed.error_message and "stopped before it finished" in failed.error_message
    assert failed.error_hint and "retried automatically" in failed.error_hint
    assert failed.lease_owner is None and failed.finished_at is not None

    # Retried once, automatically: the same request again, and it succeeds.
    retry = wait_until(lambda: runs(engine, org_id)[2:], message=schedulers.outputs)[0]
    assert (retry.trigger, retry.triggered_by_label, retry.retry_of_run_id) == ("manual", "test", doomed.id)
    assert retry.id is not None
    wait_for_run(engine, retry.id, RunStatus.SUCCEEDED, schedulers)
    assert str(hired["id"]) in {u.personio_id for u in synced_users(engine, org_id)}
    assert len(runs(engine, org_id)) == 3
    assert {e.kind for e in emails_for(engine, org_id)} == {"welcome"}  # nobody told of a failure
    assert integration(engine, org_id).state == "inactive"
    output = schedulers.outputs()
    assert f"org=acme run={doomed.id} failed: its lease expired" in output
    assert f"run {retry.id} queued (retry of run {doomed.id})" in output


def test_two_kill_9_in_a_row_email_owners_and_support_once_and_pause(
    engine: Engine, sandbox: SandboxProcess, schedulers: SchedulerProcesses, smtp_server: SmtpTestServer
) -> None:
    org_id = make_org(engine, sandbox, "acme", owner_language="de")
    create_staff(engine, email="sam@support.example", password="correct horse", name="Sam")
    sandbox.set_faults(hang={"seconds": 60, "count": -1})  # every run hangs until its process is killed
    set_integration(engine, org_id, state="active", next_run_at=utcnow() - timedelta(minutes=1))

    # The first scheduler dies on the automatic run; the second fails it and dies on its retry.
    first = schedulers.start(lease_seconds=LEASE)
    [doomed] = wait_until(lambda: runs(engine, org_id), message=schedulers.outputs)
    assert doomed.id is not None
    wait_for_run(engine, doomed.id, RunStatus.RUNNING, schedulers)
    first.kill()
    second = schedulers.start(lease_seconds=LEASE)
    retry = wait_until(lambda: runs(engine, org_id)[1:], timeout=RUN_DEADLINE, message=schedulers.outputs)[0]
    assert retry.id is not None and retry.retry_of_run_id == doomed.id and retry.trigger == "automatic"
    wait_for_run(engine, retry.id, RunStatus.RUNNING, schedulers)
    second.kill()

    # The third fails the retry too: no third run, paused, owners and support emailed once.
    sandbox.clear_faults()
    third = schedulers.start(lease_seconds=LEASE, smtp_url=smtp_server.url)
    failed = wait_for_run(engine, retry.id, RunStatus.FAILED, schedulers)
    assert failed.error_code == "lease_expired" and "second time in a row" in (failed.error_message or "")
    paused = integration(engine, org_id)
    assert (paused.state, paused.paused_run_id) == ("paused", retry.id)
    wait_until(lambda: len(smtp_server.messages) == 2, message=schedulers.outputs)
    wait_for_ticks(engine, third, 4)  # later ticks neither run again nor email again
    assert [r.id for r in runs(engine, org_id)] == [doomed.id, retry.id]
    assert sorted(m.recipients[0] for m in smtp_server.messages) == [
        "owner@acme.example",
        "sam@support.example",
    ]
    owner = smtp_server.messages_to("owner@acme.example")[0]
    assert "zweimal" in owner.subject and "Support" in owner.body
    support = smtp_server.messages_to("sam@support.example")[0]
    assert "Acme" in support.subject and f"runs {doomed.id} and {retry.id}" in support.body
    assert f"org=acme run={retry.id} failed: its lease expired" in third.output
    assert "the second in a row" in third.output and "automatic runs paused" in third.output


# --- failures and email ------------------------------------------------------------------


def emails_for(engine: Engine, org_id: int) -> list[OutboxEmail]:
    with read_session(engine) as session:
        return list(session.exec(select(OutboxEmail).where(OutboxEmail.org_id == org_id)).all())


def test_a_failing_automatic_run_pauses_the_org_and_emails_its_owners_once(
    engine: Engine, sandbox: SandboxProcess, schedulers: SchedulerProcesses, smtp_server: SmtpTestServer
) -> None:
    org_id = make_org(engine, sandbox, "acme", owner_language="de")
    with write_session(engine) as session:
        now = utcnow()
        session.add(
            User(
                org_id=org_id,
                email="second.owner@acme.example",
                email_key="second.owner@acme.example",
                role="owner",
                created_at=now,
                updated_at=now,
            )
        )
    sandbox.set_faults(wrong_credentials=True)
    set_integration(engine, org_id, state="active", next_run_at=utcnow() - timedelta(minutes=1))
    process = schedulers.start(smtp_url=smtp_server.url)

    [run] = wait_until(lambda: runs(engine, org_id), message=schedulers.outputs)
    assert run.id is not None
    failed = wait_for_run(engine, run.id, RunStatus.FAILED, schedulers)
    assert failed.error_code == "auth_failed"
    paused = integration(engine, org_id)
    assert (paused.state, paused.paused_run_id) == ("paused", run.id)

    wait_until(lambda: len(smtp_server.messages) == 2, message=schedulers.outputs)
    wait_for_ticks(engine, process, 4)  # later ticks neither run again nor email again
    assert [r.id for r in runs(engine, org_id)] == [run.id]
    assert sorted(m.recipients[0] for m in smtp_server.messages) == [
        "owner@acme.example",
        "second.owner@acme.example",
    ]
    german = smtp_server.messages_to("owner@acme.example")[0]
    assert "fehlgeschlagen" in german.subject
    assert failed.error_message and failed.error_message in german.body
    english = smtp_server.messages_to("second.owner@acme.example")[0]
    assert f"run {run.id}" in english.subject and "paused" in english.body
    assert all(e.sent_at is not None for e in emails_for(engine, org_id))
    assert f"org=acme run={run.id} failed in " in process.output
    assert "automatic runs paused; 2 owner email(s) queued" in process.output

    # A successful manual run resumes automatic runs, with the next slot in the future.
    sandbox.clear_faults()
    manual = lifecycle.run_now(engine, org_id, label="test")
    assert manual.id is not None
    wait_for_run(engine, manual.id, RunStatus.SUCCEEDED, schedulers)
    resumed = integration(engine, org_id)
    assert resumed.state == "active" and resumed.next_run_at is not None and resumed.next_run_at > utcnow()
    wait_for_ticks(engine, process, 2)
    assert len(runs(engine, org_id)) == 2
    # The manual run created users (welcome emails); the owners heard nothing more.
    owners = ("owner@acme.example", "second.owner@acme.example")
    assert len([m for m in smtp_server.messages if m.recipients[0] in owners]) == 2
    assert any(m.subject.startswith("Welcome to Acme") for m in smtp_server.messages)


def test_a_safety_stop_emails_how_many_users_would_have_been_deactivated(
    engine: Engine, sandbox: SandboxProcess, schedulers: SchedulerProcesses, smtp_server: SmtpTestServer
) -> None:
    org_id = make_org(engine, sandbox, "acme")
    schedulers.start(smtp_url=smtp_server.url)
    first = lifecycle.run_now(engine, org_id, label="test")
    assert first.id is not None
    wait_for_run(engine, first.id, RunStatus.SUCCEEDED, schedulers)
    before = directory_snapshot(engine, org_id)
    leaving = [u.personio_id for u in synced_users(engine, org_id)][:20]
    for personio_id in leaving:
        assert personio_id is not None
        sandbox.update(int(personio_id), status="inactive")
    set_integration(engine, org_id, state="active", next_run_at=utcnow() - timedelta(minutes=1))

    automatic = wait_until(
        lambda: [r for r in runs(engine, org_id) if r.trigger == "automatic"], message=schedulers.outputs
    )[0]
    assert automatic.id is not None
    stopped = wait_for_run(engine, automatic.id, RunStatus.FAILED, schedulers)

    assert stopped.error_code == "safety_stop"
    assert integration(engine, org_id).state == "paused"
    assert directory_snapshot(engine, org_id) == before
    [email] = wait_until(lambda: smtp_server.messages_to("owner@acme.example"), message=schedulers.outputs)
    assert "safety stop" in email.subject
    assert "It would have deactivated 20 users" in email.body
    assert [e.kind for e in emails_for(engine, org_id) if e.run_id == automatic.id] == ["safety_stop"]
