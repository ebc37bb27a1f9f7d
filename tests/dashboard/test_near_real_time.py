"""Near-real-time updates on the Integration page (the owner's switch) and the Support page (the same
state per organization), AppTest in-process against the sandbox's v2 API."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine

from storage.clock import utcnow
from storage.db import write_session
from storage.models import WebhookEvent
from sync.accounts.organizations import create_organization, create_staff
from sync.integration.settings import save_settings
from tests.scheduler.test_scheduler_runs import integration, set_integration
from tests.support.dashboard import app_logged_in, page_text
from tests.support.sandbox import SandboxProcess

PASSWORD = "correct horse battery"
OWNER = "olga@acme.test"
STAFF = "sam@support.test"
PUBLIC = "http://127.0.0.1:8599"


@pytest.fixture
def org_id(engine: Engine, sandbox: SandboxProcess) -> int:
    org = create_organization(engine, slug="acme", name="Acme", owner_email=OWNER, owner_password=PASSWORD)
    assert org.id is not None
    save_settings(
        engine,
        org.id,
        client_id=sandbox.client_id,
        client_secret=sandbox.client_secret,
        base_url=sandbox.base_url,
    )
    return org.id


@pytest.fixture
def public_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUBLIC_WEBHOOK_BASE_URL", PUBLIC)


def test_the_switch_says_what_it_needs_and_waits_for_an_active_integration(
    engine: Engine, org_id: int, public_url: None
) -> None:
    app = app_logged_in(engine, OWNER, PASSWORD)
    assert not app.exception
    text = page_text(app)
    assert "Near-real-time updates" in text and "personio:webhooks:write" in text
    assert "**Off**" in text
    assert app.button(key="near_real_time_on").disabled
    assert "Test and activate the integration first." in text


def test_without_a_public_address_the_switch_says_the_operator_sets_it(
    engine: Engine, org_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PUBLIC_WEBHOOK_BASE_URL", raising=False)
    set_integration(engine, org_id, state="active")
    app = app_logged_in(engine, OWNER, PASSWORD)
    assert app.button(key="near_real_time_on").disabled
    assert "PUBLIC_WEBHOOK_BASE_URL" in page_text(app)


def test_switching_on_registers_the_webhook_and_switching_off_deletes_it(
    engine: Engine, org_id: int, sandbox: SandboxProcess, public_url: None
) -> None:
    set_integration(engine, org_id, state="active")
    app = app_logged_in(engine, OWNER, PASSWORD)
    app.button(key="near_real_time_on").click().run()

    assert not app.exception
    [webhook] = sandbox.webhooks()
    assert webhook["url"] == integration(engine, org_id).webhook_url
    text = page_text(app)
    assert "changes in Personio now reach the platform" in text and "**On**: registered in Personio" in text
    assert "Last change received: never" in text

    app.button(key="near_real_time_off").click().run()
    assert sandbox.webhooks() == []
    assert "the webhook in Personio is deleted" in page_text(app)
    assert integration(engine, org_id).near_real_time is False


def test_a_credential_without_the_scope_shows_the_error_and_its_hint(
    engine: Engine, org_id: int, sandbox: SandboxProcess, public_url: None
) -> None:
    limited = sandbox.add_credential(scopes=["personio:persons:read"])
    save_settings(engine, org_id, client_id=limited["client_id"], client_secret=limited["client_secret"])
    set_integration(engine, org_id, state="active")
    app = app_logged_in(engine, OWNER, PASSWORD)
    app.button(key="near_real_time_on").click().run()

    assert not app.exception
    assert "could not be switched on" in page_text(app)
    hints = " ".join(str(info.value) for info in app.info)
    assert "personio:webhooks:write" in hints
    assert sandbox.webhooks() == [] and integration(engine, org_id).near_real_time is False
    assert limited["client_secret"] not in page_text(app)


def test_the_owner_and_support_see_the_events_received(
    engine: Engine, org_id: int, sandbox: SandboxProcess, public_url: None
) -> None:
    set_integration(engine, org_id, state="active")
    app = app_logged_in(engine, OWNER, PASSWORD)
    app.button(key="near_real_time_on").click().run()
    now = utcnow()
    with write_session(engine) as session:
        for n, age in enumerate((timedelta(minutes=5), timedelta(hours=2), timedelta(days=2))):
            session.add(
                WebhookEvent(
                    org_id=org_id,
                    event_name="person.updated",
                    received_at=now - age,
                    dedupe_key=f"k{n}",
                    payload={"id": str(n)},
                )
            )

    app.run()
    assert "changes in the last 24 hours: 2" in page_text(app)

    create_staff(engine, email=STAFF, password=PASSWORD, name="Sam Support")
    support = app_logged_in(engine, STAFF, PASSWORD)
    assert not support.exception
    assert support.dataframe[0].value.iloc[0]["Near-real-time"] == "On"
    text = page_text(support)
    assert "**On**: registered in Personio" in text and "changes in the last 24 hours: 2" in text
    assert "near_real_time_on" not in [button.key for button in support.button]  # owners switch it
