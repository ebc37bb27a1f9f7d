"""Runs whose lease expired (sync.integration.recovery) on SQLite and PostgreSQL: retried once, and
the second in a row emails the owners and support once and pauses."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import Engine
from sqlmodel import col, select

from storage.clock import utcnow
from storage.db import make_engine, read_session, write_session
from storage.models import Integration, OutboxEmail, Run, User
from sync.accounts.organizations import create_organization, create_staff
from sync.core.errors import LEASE_EXPIRED
from sync.core.recovery import (
    LEASE_EXPIRED_RETRIED,
    LEASE_EXPIRED_TWICE,
    AfterLeaseExpired,
    after_lease_expired,
)
from sync.integration import queue
from sync.integration.recovery import recover_expired_runs
from sync.mail import texts


@pytest.mark.parametrize(
    ("previous", "decision"),
    [
        (None, AfterLeaseExpired.RETRY),
        ("auth_failed", AfterLeaseExpired.RETRY),
        (LEASE_EXPIRED, AfterLeaseExpired.GIVE_UP),
    ],
)
def test_the_second_expiry_in_a_row_gives_up(previous: str | None, decision: AfterLeaseExpired) -> None:
    assert after_lease_expired(previous) == decision


@pytest.fixture
def org_id(engine: Engine) -> int:
    org = create_organization(
        engine, slug="acme", name="Acme", owner_email="owner@acme.test", owner_password="password1"
    )
    assert org.id is not None
    create_staff(engine, email="sam@support.test", password="correct horse", name="Sam")
    with write_session(engine) as session:
        owner = session.exec(select(User).where(User.org_id == org.id)).one()
        owner.language = "de"
        session.add(owner)
        integration = session.exec(select(Integration).where(Integration.org_id == org.id)).one()
        integration.state = "active"
        session.add(integration)
    return org.id


def _claimed_and_dead(
    engine: Engine, org_id: int, *, trigger: str = "automatic", label: str | None = None
) -> int:
    """A run whose process died: claimed with a lease that has already run out."""
    with write_session(engine) as session:
        run = queue.queue_run(session, org_id=org_id, trigger=trigger, label=label, approve_safety=True)
        assert run.created and run.run.id is not None
        run_id = run.run.id
    assert queue.claim_run(engine, worker_id="dead", run_id=run_id, lease_seconds=-1) is not None
    return run_id


def _runs(engine: Engine, org_id: int) -> list[Run]:
    with read_session(engine) as session:
        return list(session.exec(select(Run).where(Run.org_id == org_id).order_by(col(Run.id))).all())


def _emails(engine: Engine) -> list[OutboxEmail]:
    with read_session(engine) as session:
        return list(session.exec(select(OutboxEmail).order_by(col(OutboxEmail.id))).all())


def _state(engine: Engine, org_id: int) -> Integration:
    with read_session(engine) as session:
        return session.exec(select(Integration).where(Integration.org_id == org_id)).one()


def test_a_first_expiry_is_retried_once_as_the_same_run(engine: Engine, org_id: int) -> None:
    dead = _claimed_and_dead(engine, org_id, trigger="manual", label="cli:ops@host")

    [done] = recover_expired_runs(engine)

    failed, retry = _runs(engine, org_id)
    assert (done.decision, done.run_id, done.retry_run_id) == (AfterLeaseExpired.RETRY, dead, retry.id)
    assert (failed.status, failed.error_code, failed.error_hint) == (
        "failed",
        LEASE_EXPIRED,
        LEASE_EXPIRED_RETRIED.hint,
    )
    assert (
        retry.status,
        retry.trigger,
        retry.triggered_by_label,
        retry.approve_safety,
        retry.retry_of_run_id,
    ) == (
        "queued",
        "manual",
        "cli:ops@host",
        True,
        dead,
    )
    assert f"run {retry.id} queued (retry of run {dead})" == done.follow_up
    assert _emails(engine) == [] and _state(engine, org_id).state == "active"
    assert recover_expired_runs(engine) == []


def test_a_second_expiry_in_a_row_emails_owners_and_support_once_and_pauses(
    engine: Engine, org_id: int
) -> None:
    first = _claimed_and_dead(engine, org_id)
    [retried] = recover_expired_runs(engine)
    assert retried.retry_run_id is not None
    assert queue.claim_run(engine, worker_id="dead-too", run_id=retried.retry_run_id, lease_seconds=-1)

    [gave_up] = recover_expired_runs(engine)

    assert (gave_up.decision, gave_up.previous_run_id, gave_up.paused, gave_up.emails) == (
        AfterLeaseExpired.GIVE_UP,
        first,
        True,
        2,
    )
    runs = _runs(engine, org_id)
    assert [(r.status, r.error_code) for r in runs] == [("failed", LEASE_EXPIRED)] * 2  # no third run
    assert runs[1].error_message == LEASE_EXPIRED_TWICE.message
    state = _state(engine, org_id)
    assert (state.state, state.paused_run_id) == ("paused", retried.retry_run_id)
    emails = _emails(engine)
    assert sorted((e.to, e.language, e.kind) for e in emails) == [
        ("owner@acme.test", "de", "repeated_crash"),
        ("sam@support.test", "en", "repeated_crash"),
    ]
    assert all(e.run_id == retried.retry_run_id for e in emails)
    assert recover_expired_runs(engine) == [] and len(_emails(engine)) == 2


def test_an_expiry_after_a_run_that_finished_is_retried_again(engine: Engine, org_id: int) -> None:
    _claimed_and_dead(engine, org_id)
    [retried] = recover_expired_runs(engine)
    with write_session(engine) as session:
        retry = session.get(Run, retried.retry_run_id)
        assert retry is not None
        retry.status = "succeeded"
        session.add(retry)
    _claimed_and_dead(engine, org_id)

    [again] = recover_expired_runs(engine)

    assert again.decision == AfterLeaseExpired.RETRY and again.retry_run_id is not None
    assert _emails(engine) == []


def test_a_second_expiry_of_a_paused_integration_sends_nothing_new(engine: Engine, org_id: int) -> None:
    _claimed_and_dead(engine, org_id, trigger="manual")
    [retried] = recover_expired_runs(engine)
    with write_session(engine) as session:
        integration = session.exec(select(Integration).where(Integration.org_id == org_id)).one()
        integration.state = "paused"
        session.add(integration)
    assert queue.claim_run(engine, worker_id="dead-too", run_id=retried.retry_run_id, lease_seconds=-1)

    [gave_up] = recover_expired_runs(engine)

    assert gave_up.decision == AfterLeaseExpired.GIVE_UP and (gave_up.paused, gave_up.emails) == (False, 0)
    assert _emails(engine) == []


def test_schedulers_recovering_at_once_retry_once_and_email_once(
    engine: Engine, database: str, org_id: int
) -> None:
    _claimed_and_dead(engine, org_id)
    engines = [make_engine(database) for _ in range(4)]
    barrier = threading.Barrier(len(engines))
    results: list[int] = []

    def recover(own: Engine) -> None:
        barrier.wait(timeout=30)
        results.extend(item.run_id for item in recover_expired_runs(own))

    def race() -> None:
        threads = [threading.Thread(target=recover, args=(own,)) for own in engines]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)

    try:
        race()
        assert len(results) == 1 and len(_runs(engine, org_id)) == 2
        retry = _runs(engine, org_id)[1]
        assert queue.claim_run(engine, worker_id="dead-too", run_id=retry.id, lease_seconds=-1)
        race()
    finally:
        for own in engines:
            own.dispose()
    assert len(results) == 2 and len(_runs(engine, org_id)) == 2
    assert len(_emails(engine)) == 2


@pytest.mark.parametrize("language", ["en", "de"])
def test_the_owners_email_says_what_happened_and_that_support_knows(language: str) -> None:
    run = Run(id=12, org_id=1, trigger="automatic", status="failed", queued_at=utcnow())
    text = texts.repeated_crash_message(
        language=language, org_name="Acme", run=run, previous_run_id=11, paused=True, for_support=False
    )
    assert text.language == language
    assert "Acme" in text.subject and "11" in text.subject and "12" in text.subject
    if language == "de":
        assert "zweimal" in text.body and "Support" in text.body and "pausiert" in text.body
    else:
        assert "twice in a row" in text.body and "support" in text.body and "paused" in text.body


def test_the_support_email_names_the_organization_and_where_to_look() -> None:
    run = Run(id=12, org_id=1, trigger="automatic", status="failed", queued_at=utcnow())
    text = texts.repeated_crash_message(
        language="de", org_name="Acme", run=run, previous_run_id=11, paused=False, for_support=True
    )
    assert text.language == "en"
    assert "Acme" in text.subject and "runs 11 and 12" in text.body
    assert "log" in text.body and "paused" not in text.body
