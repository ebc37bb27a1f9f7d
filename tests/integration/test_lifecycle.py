"""The integration's state machine: pausing once per incident (owners emailed once), resuming."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from storage.clock import utcnow
from storage.db import read_session, write_session
from storage.models import Integration, OutboxEmail, User
from sync.accounts.organizations import create_organization
from sync.core.errors import AUTH_FAILED, SAFETY_STOP, ErrorInfo
from sync.integration import lifecycle, queue

AUTH_ERROR = ErrorInfo(
    code=AUTH_FAILED,
    message="Personio rejected the Client ID / Client Secret (401).",
    hint="Create new API credentials in Personio and save them on the Integration page.",
)
SAFETY_ERROR = ErrorInfo(
    code=SAFETY_STOP,
    message="The run would deactivate 40 of 120 active users (33 %), more than the threshold of 25 %.",
    hint="Check Personio, or approve this run if the deactivations are expected.",
)


@pytest.fixture
def org_id(engine: Engine) -> int:
    """Müller & Söhne with two active owners (one German), a former owner and a member."""
    org = create_organization(
        engine,
        slug="mueller",
        name="Müller & Söhne",
        owner_email="anna@mueller.example",
        owner_password="correct horse battery",
    )
    assert org.id is not None
    now = utcnow()
    with write_session(engine) as session:
        for email, role, status, language in [
            ("jörg@mueller.example", "owner", "active", "de"),
            ("former@mueller.example", "owner", "deactivated", "en"),
            ("member@mueller.example", "member", "active", "en"),
        ]:
            session.add(
                User(
                    org_id=org.id,
                    email=email,
                    email_key=email.lower(),
                    role=role,
                    status=status,
                    language=language,
                    created_at=now,
                    updated_at=now,
                )
            )
        integration = _integration(session, org.id)
        integration.state = "active"
        integration.next_run_at = now - timedelta(hours=1)
        session.add(integration)
    return org.id


def _integration(session: Session, org_id: int) -> Integration:
    return session.exec(select(Integration).where(Integration.org_id == org_id)).one()


def _fail(
    engine: Engine, org_id: int, trigger: str, error: ErrorInfo, would_deactivate: int | None = None
) -> int:
    with write_session(engine) as session:
        run = queue.enqueue_run(session, org_id=org_id, trigger=trigger)
        lifecycle.record_failure(
            session,
            run=run,
            integration=_integration(session, org_id),
            error=error,
            would_deactivate=would_deactivate,
        )
        assert run.id is not None
        return run.id


def _emails(engine: Engine) -> list[OutboxEmail]:
    with read_session(engine) as session:
        return list(session.exec(select(OutboxEmail).order_by(col(OutboxEmail.id))).all())


def _state(engine: Engine, org_id: int) -> Integration:
    with read_session(engine) as session:
        return _integration(session, org_id)


# --- pausing and resuming ----------------------------------------------------------------


def test_a_failed_automatic_run_pauses_and_emails_each_active_owner_once(engine: Engine, org_id: int) -> None:
    run_id = _fail(engine, org_id, "automatic", AUTH_ERROR)

    integration = _state(engine, org_id)
    assert integration.state == "paused"
    assert integration.paused_run_id == run_id
    assert integration.pause_reason == AUTH_ERROR.message
    emails = _emails(engine)
    assert sorted(e.to for e in emails) == ["anna@mueller.example", "jörg@mueller.example"]
    assert {e.kind for e in emails} == {"run_failed"}
    assert all(e.run_id == run_id and e.sent_at is None for e in emails)
    german = next(e for e in emails if e.to.startswith("jörg"))
    assert german.language == "de" and "fehlgeschlagen" in german.subject


def test_further_failures_while_paused_send_nothing_new(engine: Engine, org_id: int) -> None:
    _fail(engine, org_id, "automatic", AUTH_ERROR)
    _fail(engine, org_id, "automatic", AUTH_ERROR)
    _fail(engine, org_id, "activation", AUTH_ERROR)
    assert len(_emails(engine)) == 2


def test_a_failed_manual_run_neither_pauses_nor_emails(engine: Engine, org_id: int) -> None:
    _fail(engine, org_id, "manual", AUTH_ERROR)
    assert _state(engine, org_id).state == "active"
    assert _emails(engine) == []


def test_a_safety_stop_pauses_and_emails_even_for_a_manual_run(engine: Engine, org_id: int) -> None:
    _fail(engine, org_id, "manual", SAFETY_ERROR, would_deactivate=40)
    assert _state(engine, org_id).state == "paused"
    emails = _emails(engine)
    assert {e.kind for e in emails} == {"safety_stop"}
    assert all("40" in e.body for e in emails)


def test_an_inactive_integration_is_not_paused(engine: Engine, org_id: int) -> None:
    with write_session(engine) as session:
        integration = _integration(session, org_id)
        integration.state = "inactive"
        session.add(integration)
    _fail(engine, org_id, "automatic", AUTH_ERROR)
    assert _state(engine, org_id).state == "inactive"
    assert _emails(engine) == []


def test_a_safety_stop_of_an_inactive_integration_emails_the_owners_without_pausing(
    engine: Engine, org_id: int
) -> None:
    with write_session(engine) as session:
        integration = _integration(session, org_id)
        integration.state = "inactive"
        session.add(integration)
    _fail(engine, org_id, "manual", SAFETY_ERROR, would_deactivate=12)
    assert _state(engine, org_id).state == "inactive"
    emails = _emails(engine)
    assert emails and {e.kind for e in emails} == {"safety_stop"}
    assert all("12" in e.body and "paused" not in e.body for e in emails)
    assert all("Integration page" in e.body for e in emails if e.language == "en")


def test_a_successful_manual_run_resumes_without_an_immediate_catch_up_run(
    engine: Engine, org_id: int
) -> None:
    _fail(engine, org_id, "automatic", AUTH_ERROR)
    with write_session(engine) as session:
        run = queue.enqueue_run(session, org_id=org_id, trigger="manual")
        lifecycle.record_success(session, run=run, integration=_integration(session, org_id))

    integration = _state(engine, org_id)
    assert (integration.state, integration.pause_reason, integration.paused_run_id) == ("active", None, None)
    assert integration.next_run_at is not None and integration.next_run_at > utcnow()


def test_a_successful_automatic_run_does_not_resume(engine: Engine, org_id: int) -> None:
    _fail(engine, org_id, "automatic", AUTH_ERROR)
    with write_session(engine) as session:
        run = queue.enqueue_run(session, org_id=org_id, trigger="automatic")
        lifecycle.record_success(session, run=run, integration=_integration(session, org_id))
    assert _state(engine, org_id).state == "paused"


def test_resume_keeps_a_missed_slot_so_it_runs_once(engine: Engine, org_id: int) -> None:
    _fail(engine, org_id, "automatic", AUTH_ERROR)
    before = _state(engine, org_id).next_run_at
    with write_session(engine) as session:
        lifecycle.resume(session, _integration(session, org_id))
    after = _state(engine, org_id)
    assert after.state == "active" and after.next_run_at == before


def test_pending_count_counts_unsent_messages(engine: Engine, org_id: int) -> None:
    _fail(engine, org_id, "automatic", AUTH_ERROR)
    with write_session(engine) as session:
        first = session.exec(select(OutboxEmail)).first()
        assert first is not None
        first.sent_at = utcnow()
        session.add(first)
    with read_session(engine) as session:
        assert _unsent(session) == 1


def _unsent(session: Session) -> int:
    """How many messages wait in the outbox (not yet accepted by the mail server)."""
    return len(session.exec(select(OutboxEmail).where(col(OutboxEmail.sent_at).is_(None))).all())
