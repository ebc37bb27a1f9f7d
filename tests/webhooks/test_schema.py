"""Migration 4: the webhook registration columns, Run.trigger_events and WebhookEvent, on both engines."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, func, inspect, text, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from storage import db
from storage.clock import utcnow
from storage.db import read_session, write_session
from storage.models import Integration, Run, WebhookEvent
from sync.accounts.organizations import create_organization


@pytest.fixture
def org_id(engine: Engine) -> int:
    org = create_organization(
        engine, slug="acme", name="Acme", owner_email="olga@acme.test", owner_password="pw-123456789"
    )
    assert org.id is not None
    return org.id


def test_migration_4_upgrades_an_older_database_and_is_idempotent(engine: Engine, org_id: int) -> None:
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE webhookevent"))
        conn.execute(text("DROP INDEX ix_integration_webhook_path_id"))
        for column in db._V4_INTEGRATION_COLUMNS:
            conn.execute(text(f"ALTER TABLE integration DROP COLUMN {column}"))
        conn.execute(text("ALTER TABLE run DROP COLUMN trigger_events"))
        conn.execute(text("DELETE FROM schemaversion WHERE version = 4"))
    assert 4 not in db.applied_versions(engine)

    db.migrate(engine)
    db.migrate(engine)
    assert 4 in db.applied_versions(engine)
    with engine.begin() as conn:
        dict(db.MIGRATIONS)[4](conn)  # again on an upgraded database: nothing to do
        assert "webhookevent" in inspect(conn).get_table_names()
    with read_session(engine) as session:
        integration = session.exec(select(Integration).where(Integration.org_id == org_id)).one()
        assert integration.near_real_time is False and integration.webhook_id is None


def test_an_event_is_stored_once_per_organization_and_a_run_keeps_its_event_names(
    engine: Engine, org_id: int
) -> None:
    with write_session(engine) as session:
        session.add(
            WebhookEvent(
                org_id=org_id,
                event_name="person.created",
                received_at=utcnow(),
                dedupe_key="k1",
                payload={"id": "1"},
            )
        )
        session.add(
            Run(
                org_id=org_id,
                trigger="webhook",
                queued_at=utcnow(),
                trigger_events=["person.created", "employment.updated"],
            )
        )
    with pytest.raises(IntegrityError), write_session(engine) as session:
        session.add(
            WebhookEvent(org_id=org_id, event_name="person.created", received_at=utcnow(), dedupe_key="k1")
        )
    with read_session(engine) as session:
        assert session.exec(select(func.count()).select_from(WebhookEvent)).one() == 1
        run = session.exec(select(Run).where(Run.trigger == "webhook")).one()
        assert run.trigger_events == ["person.created", "employment.updated"]


def test_two_integrations_cannot_share_a_receiver_path(engine: Engine, org_id: int) -> None:
    other = create_organization(
        engine, slug="globex", name="Globex", owner_email="gina@globex.test", owner_password="pw-123456789"
    )
    with write_session(engine) as session:
        session.execute(update(Integration).where(Integration.org_id == org_id).values(webhook_path_id="abc"))
    with pytest.raises(IntegrityError), write_session(engine) as session:
        session.execute(
            update(Integration).where(Integration.org_id == other.id).values(webhook_path_id="abc")
        )
