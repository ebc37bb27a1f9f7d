"""The integration's state machine: pausing once per incident (owners emailed once), resuming;
activate, deactivate, run now, the Test's verdict and the staff-only switches."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from storage.clock import utcnow
from storage.db import read_session, write_session
from storage.models import Integration, Organization, OutboxEmail, Run, User
from sync.accounts.organizations import create_organization
from sync.core.errors import AUTH_FAILED, SAFETY_STOP, ErrorInfo, SyncError
from sync.integration import lifecycle, queue
from sync.integration.settings import is_tested, save_settings, settings_hash
from sync.views.times import as_utc

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
        run.status = "failed"  # as the runner records it: no longer the organization's open run
        session.add(run)
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


# --- activate, deactivate, run now, the Test's verdict, staff switches (both databases) ---------


def _new_org(engine: Engine, slug: str = "acme") -> int:
    org = create_organization(
        engine,
        slug=slug,
        name=slug.capitalize(),
        owner_email=f"owner@{slug}.test",
        owner_password="password1",
    )
    assert org.id is not None
    return org.id


def _saved_hash(engine: Engine, org_id: int) -> str:
    return settings_hash(_state(engine, org_id))


def _pass_test(engine: Engine, org_id: int) -> None:
    lifecycle.record_test(engine, org_id, passed=True, tested_hash=_saved_hash(engine, org_id))


def _runs(engine: Engine, org_id: int) -> list[Run]:
    with read_session(engine) as session:
        return list(session.exec(select(Run).where(Run.org_id == org_id).order_by(col(Run.id))).all())


def _pause(engine: Engine, org_id: int) -> None:
    with write_session(engine) as session:
        integration = _integration(session, org_id)
        integration.state, integration.pause_reason = "paused", AUTH_ERROR.message
        integration.next_run_at = utcnow()
        session.add(integration)


@pytest.mark.parametrize(
    "history",
    ["never-tested", "settings-saved-after-the-test", "last-test-failed"],
)
def test_activate_refuses_settings_without_a_passing_test(db_engine: Engine, history: str) -> None:
    org_id = _new_org(db_engine)
    if history == "settings-saved-after-the-test":
        _pass_test(db_engine, org_id)
        save_settings(db_engine, org_id, language="de")
    elif history == "last-test-failed":
        _pass_test(db_engine, org_id)
        lifecycle.record_test(db_engine, org_id, passed=False, tested_hash=_saved_hash(db_engine, org_id))

    with pytest.raises(SyncError) as refused:
        lifecycle.activate(db_engine, org_id)

    assert refused.value.info.code == lifecycle.NOT_TESTED
    assert _state(db_engine, org_id).state == "inactive"
    assert _runs(db_engine, org_id) == []


def test_activate_queues_one_activation_run_and_sets_the_next_run(db_engine: Engine) -> None:
    org_id = _new_org(db_engine)
    _pass_test(db_engine, org_id)

    first = lifecycle.activate(db_engine, org_id, label="cli:root@host")
    again = lifecycle.activate(db_engine, org_id)

    assert again.id == first.id
    (run,) = _runs(db_engine, org_id)
    assert (run.trigger, run.status, run.triggered_by_label) == ("activation", "queued", "cli:root@host")
    integration = _state(db_engine, org_id)
    assert integration.state == "active"
    assert integration.next_run_at is not None
    next_run = as_utc(integration.next_run_at)
    assert (next_run.hour, next_run.minute) == (4, 0)  # daily at 04:00 UTC by default
    assert next_run > as_utc(run.queued_at)


def test_an_operator_may_activate_untested_settings(db_engine: Engine) -> None:
    org_id = _new_org(db_engine)
    run = lifecycle.activate(db_engine, org_id, require_test=False)
    assert run.trigger == "activation" and _state(db_engine, org_id).state == "active"


def test_activate_resumes_a_paused_integration(db_engine: Engine) -> None:
    org_id = _new_org(db_engine)
    _pass_test(db_engine, org_id)
    lifecycle.activate(db_engine, org_id)
    _pause(db_engine, org_id)

    lifecycle.activate(db_engine, org_id)

    integration = _state(db_engine, org_id)
    assert (integration.state, integration.pause_reason, integration.paused_run_id) == ("active", None, None)


@pytest.mark.parametrize("paused", [False, True], ids=["active", "paused"])
def test_deactivate_clears_the_next_run_and_the_pause(db_engine: Engine, paused: bool) -> None:
    org_id = _new_org(db_engine)
    lifecycle.activate(db_engine, org_id, require_test=False)
    if paused:
        _pause(db_engine, org_id)

    lifecycle.deactivate(db_engine, org_id)

    integration = _state(db_engine, org_id)
    assert (
        integration.state,
        integration.next_run_at,
        integration.pause_reason,
        integration.paused_run_id,
    ) == (
        "inactive",
        None,
        None,
        None,
    )
    assert queue.enqueue_due_runs(db_engine, now=utcnow() + timedelta(days=2)) == []


@pytest.mark.parametrize("claimed", [False, True], ids=["queued", "running"])
def test_run_now_returns_the_open_run_instead_of_queuing_a_second(db_engine: Engine, claimed: bool) -> None:
    org_id = _new_org(db_engine)
    first = lifecycle.run_now(db_engine, org_id, label="first")
    if claimed:
        assert queue.claim_run(db_engine, worker_id="worker", run_id=first.id) is not None

    again = lifecycle.run_now(db_engine, org_id, label="second")

    assert again.id == first.id
    (run,) = _runs(db_engine, org_id)
    assert (run.trigger, run.triggered_by_label) == ("manual", "first")


def test_run_now_queues_a_new_run_once_the_last_one_finished(db_engine: Engine) -> None:
    org_id = _new_org(db_engine)
    first = lifecycle.run_now(db_engine, org_id)
    with write_session(db_engine) as session:
        run = session.get(Run, first.id)
        assert run is not None
        run.status = "succeeded"
        session.add(run)

    assert lifecycle.run_now(db_engine, org_id).id != first.id
    assert len(_runs(db_engine, org_id)) == 2


@pytest.mark.parametrize(
    ("claimed", "approved"),
    [(False, True), (True, False)],
    ids=["queued-run-is-approved", "running-run-is-left-as-it-is"],
)
def test_run_now_with_approve_safety_marks_a_queued_run_approved(
    db_engine: Engine, claimed: bool, approved: bool
) -> None:
    org_id = _new_org(db_engine)
    first = lifecycle.run_now(db_engine, org_id)
    if claimed:
        assert queue.claim_run(db_engine, worker_id="worker", run_id=first.id) is not None

    again = lifecycle.run_now(db_engine, org_id, approve_safety=True)

    assert again.id == first.id
    (run,) = _runs(db_engine, org_id)
    assert run.approve_safety is approved


def test_run_now_with_approve_safety_and_no_open_run_queues_an_approved_run(db_engine: Engine) -> None:
    org_id = _new_org(db_engine)
    lifecycle.run_now(db_engine, org_id, approve_safety=True)
    (run,) = _runs(db_engine, org_id)
    assert (run.trigger, run.approve_safety) == ("manual", True)


def test_a_passing_test_of_the_saved_settings_marks_them_tested(db_engine: Engine) -> None:
    org_id = _new_org(db_engine)
    _pass_test(db_engine, org_id)
    integration = _state(db_engine, org_id)
    assert is_tested(integration) and integration.last_test_ok_at is not None


def test_settings_saved_while_the_test_ran_are_not_marked_tested(db_engine: Engine) -> None:
    org_id = _new_org(db_engine)
    tested = _saved_hash(db_engine, org_id)  # the Test starts with these settings
    save_settings(db_engine, org_id, team_attributes=["department"])  # the owner saves meanwhile

    lifecycle.record_test(db_engine, org_id, passed=True, tested_hash=tested)

    integration = _state(db_engine, org_id)
    assert not is_tested(integration)
    assert (integration.last_test_ok_at, integration.last_test_settings_hash) == (None, None)


def test_a_failing_test_withdraws_an_earlier_pass(db_engine: Engine) -> None:
    org_id = _new_org(db_engine)
    _pass_test(db_engine, org_id)

    lifecycle.record_test(db_engine, org_id, passed=False, tested_hash=_saved_hash(db_engine, org_id))

    integration = _state(db_engine, org_id)
    assert not is_tested(integration)
    assert (integration.last_test_ok_at, integration.last_test_settings_hash) == (None, None)


@pytest.mark.parametrize(
    ("passed", "resumes"),
    [(True, True), (False, False)],
    ids=["pass-resumes", "failure-keeps-the-pause"],
)
def test_the_tests_verdict_on_a_paused_integration(db_engine: Engine, passed: bool, resumes: bool) -> None:
    org_id = _new_org(db_engine)
    lifecycle.activate(db_engine, org_id, require_test=False)
    _pause(db_engine, org_id)

    lifecycle.record_test(db_engine, org_id, passed=passed, tested_hash=_saved_hash(db_engine, org_id))

    assert _state(db_engine, org_id).state == ("active" if resumes else "paused")


@pytest.mark.parametrize(
    ("every_hours", "slot_hours"),
    [(None, {4}), (1, set(range(24))), (6, {4, 10, 16, 22}), (24, {4})],
    ids=["daily", "hourly", "every-6-hours", "every-24-hours"],
)
def test_set_schedule_stores_the_interval_and_moves_the_next_run_onto_its_grid(
    db_engine: Engine, every_hours: int | None, slot_hours: set[int]
) -> None:
    org_id = _new_org(db_engine)
    lifecycle.activate(db_engine, org_id, require_test=False)

    lifecycle.set_schedule(db_engine, org_id, every_hours)

    integration = _state(db_engine, org_id)
    assert integration.schedule_every_hours == every_hours
    assert integration.next_run_at is not None
    next_run = as_utc(integration.next_run_at)
    assert next_run.hour in slot_hours and (next_run.minute, next_run.second) == (0, 0)


@pytest.mark.parametrize("every_hours", [0, -1, 25, 168])
def test_set_schedule_refuses_intervals_outside_1_to_24_hours(db_engine: Engine, every_hours: int) -> None:
    org_id = _new_org(db_engine)
    lifecycle.set_schedule(db_engine, org_id, 6)

    with pytest.raises(ValueError, match="1 to 24 hours"):
        lifecycle.set_schedule(db_engine, org_id, every_hours)

    assert _state(db_engine, org_id).schedule_every_hours == 6


def test_set_schedule_of_an_inactive_integration_sets_no_next_run(db_engine: Engine) -> None:
    org_id = _new_org(db_engine)
    lifecycle.set_schedule(db_engine, org_id, 6)
    integration = _state(db_engine, org_id)
    assert (integration.schedule_every_hours, integration.next_run_at) == (6, None)


@pytest.mark.parametrize("enabled", [False, True])
def test_set_addon_switches_the_paid_add_on(db_engine: Engine, enabled: bool) -> None:
    org_id = _new_org(db_engine)
    lifecycle.set_addon(db_engine, org_id, not enabled)

    returned = lifecycle.set_addon(db_engine, org_id, enabled)

    assert returned.addon_enabled is enabled
    with read_session(db_engine) as session:
        org = session.get(Organization, org_id)
        assert org is not None and org.addon_enabled is enabled
