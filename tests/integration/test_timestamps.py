"""Timestamps compare as timestamps on SQLite too (storage.timestamps), on both engines: a due time,
a lease or an email's next attempt stored without microseconds, with a 'T' or with an offset (by hand,
by another tool) still fires exactly when it should."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, text
from sqlmodel import select

from storage.clock import utcnow
from storage.db import read_session, write_session
from storage.models import Integration, OutboxEmail, Run
from sync.accounts.organizations import create_organization
from sync.integration import queue
from sync.mail import delivery as mailer
from sync.views.times import as_utc

DUE = datetime(2026, 1, 1, 4, 0, tzinfo=UTC)
JUST_AFTER = datetime(2026, 1, 1, 4, 0, 0, 1, tzinfo=UTC)
JUST_BEFORE = datetime(2026, 1, 1, 3, 59, 59, 999000, tzinfo=UTC)
# A strict "expired" needs a difference SQLite's julianday can see (about 0.1 ms; see storage.timestamps).
A_MILLISECOND_AFTER = datetime(2026, 1, 1, 4, 0, 0, 1000, tzinfo=UTC)
SPELLINGS = ["2026-01-01 04:00:00", "2026-01-01T04:00:00", "2026-01-01 04:00:00+00:00"]


def _org(engine: Engine) -> int:
    org = create_organization(
        engine, slug="acme", name="Acme", owner_email="owner@acme.test", owner_password="password1"
    )
    assert org.id is not None
    return org.id


def _store(engine: Engine, sql: str, value: str, **params: object) -> None:
    """Write `value` as it is, past SQLAlchemy's formatting, as a hand edit would."""
    with engine.begin() as conn:
        conn.execute(text(sql), {"value": value, **params})


@pytest.mark.parametrize("stored", SPELLINGS)
def test_a_due_time_stored_without_microseconds_fires_and_moves_on(engine: Engine, stored: str) -> None:
    org_id = _org(engine)
    with write_session(engine) as session:
        integration = session.exec(select(Integration).where(Integration.org_id == org_id)).one()
        integration.state = "active"
        session.add(integration)
    _store(engine, "UPDATE integration SET next_run_at = :value WHERE org_id = :org", stored, org=org_id)

    assert queue.enqueue_due_runs(engine, now=JUST_BEFORE) == []
    [queued] = queue.enqueue_due_runs(engine, now=JUST_AFTER)

    assert queued.org_id == org_id
    with read_session(engine) as session:
        moved = session.exec(select(Integration).where(Integration.org_id == org_id)).one().next_run_at
    assert moved is not None and as_utc(moved) > JUST_AFTER


@pytest.mark.parametrize("stored", SPELLINGS)
def test_a_lease_stored_without_microseconds_expires_exactly_after_it(engine: Engine, stored: str) -> None:
    org_id = _org(engine)
    with write_session(engine) as session:
        run_id = queue.enqueue_run(session, org_id=org_id, trigger="manual").id
    assert queue.claim_run(engine, worker_id="dead", run_id=run_id) is not None
    _store(engine, "UPDATE run SET lease_expires_at = :value WHERE id = :id", stored, id=run_id)

    assert queue.fail_expired_runs(engine, now=JUST_BEFORE) == []
    assert queue.fail_expired_runs(engine, now=DUE) == []  # expires after, not at, its time
    assert [run.id for run in queue.fail_expired_runs(engine, now=A_MILLISECOND_AFTER)] == [run_id]
    with read_session(engine) as session:
        run = session.get(Run, run_id)
    assert run is not None and run.status == "failed"


@pytest.mark.parametrize("stored", SPELLINGS)
def test_an_email_retry_stored_without_microseconds_is_due_after_it(engine: Engine, stored: str) -> None:
    with write_session(engine) as session:
        row = OutboxEmail(to="a@acme.test", subject="Hi", body="Hi\n", kind="welcome", created_at=utcnow())
        session.add(row)
        session.flush()
        email_id = row.id
    _store(engine, "UPDATE outboxemail SET next_attempt_at = :value WHERE id = :id", stored, id=email_id)

    assert mailer.claim_due_messages(engine, now=JUST_BEFORE) == []
    assert [m.id for m in mailer.claim_due_messages(engine, now=JUST_AFTER)] == [email_id]
