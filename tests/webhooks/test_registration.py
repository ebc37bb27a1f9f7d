"""Registering and deleting the organization's webhook in Personio (the sandbox's v2 API) through
`python -m sync config S --near-real-time / --no-near-real-time`, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from storage.db import read_session
from storage.models import Integration
from storage.secrets import SecretBox
from sync.personio.v2 import WEBHOOK_EVENTS
from tests.support.cli import Cli, create_org_reading

PUBLIC = "http://127.0.0.1:8599"


@pytest.fixture(autouse=True)
def _public_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUBLIC_WEBHOOK_BASE_URL", PUBLIC)


def _integration(engine: Engine) -> Integration:
    with read_session(engine) as session:
        return session.exec(select(Integration)).one()


def _active(engine: Engine, sandbox: Any, cli: Cli, *extra: str) -> None:
    create_org_reading(engine, sandbox, cli, *extra)
    activated = cli("activate", "acme")
    assert activated.code == 0, activated.err


def test_switching_on_registers_one_webhook_and_switching_off_deletes_it(
    engine: Engine, sandbox: Any, cli: Cli
) -> None:
    _active(engine, sandbox, cli)
    on = cli("config", "acme", "--near-real-time")
    assert on.code == 0, on.err
    integration = _integration(engine)
    assert integration.near_real_time and integration.webhook_id and integration.webhook_path_id
    assert integration.webhook_url == f"{PUBLIC}/personio/webhooks/{integration.webhook_path_id}"
    assert integration.webhook_url in on.out
    [webhook] = sandbox.webhooks()
    assert webhook["id"] == integration.webhook_id
    assert webhook["url"] == integration.webhook_url
    assert webhook["status"] == "ENABLED" and webhook["auth_type"] == "TOKEN" and webhook["token_set"]
    assert sorted(webhook["enabled_events"]) == sorted(WEBHOOK_EVENTS)
    assert integration.webhook_token_encrypted is not None
    token = SecretBox().decrypt(integration.webhook_token_encrypted)
    assert token.startswith("Bearer ") and len(token) > 40
    assert token not in on.out + on.err and sandbox.client_secret not in on.out + on.err

    again = cli("config", "acme", "--near-real-time")  # again: replaced, still one
    assert again.code == 0, again.err
    assert len(sandbox.webhooks()) == 1
    assert _integration(engine).webhook_path_id == integration.webhook_path_id  # the URL stays

    off = cli("config", "acme", "--no-near-real-time")
    assert off.code == 0, off.err
    assert sandbox.webhooks() == []
    after = _integration(engine)
    assert not after.near_real_time and after.webhook_id is None and after.webhook_token_encrypted is None


def test_deactivating_the_integration_deletes_the_webhook(engine: Engine, sandbox: Any, cli: Cli) -> None:
    _active(engine, sandbox, cli)
    assert cli("config", "acme", "--near-real-time").code == 0
    assert cli("deactivate", "acme").code == 0
    assert sandbox.webhooks() == []
    assert not _integration(engine).near_real_time


def test_new_credentials_delete_the_webhook_and_say_why(engine: Engine, sandbox: Any, cli: Cli) -> None:
    _active(engine, sandbox, cli)
    assert cli("config", "acme", "--near-real-time").code == 0
    other = sandbox.add_credential()
    changed = cli(
        "config", "acme", "--client-id", other["client_id"], "--client-secret", other["client_secret"]
    )
    assert changed.code == 0, changed.err
    assert sandbox.webhooks() == []  # deleted with the old credentials, before they were replaced
    integration = _integration(engine)
    assert not integration.near_real_time
    assert integration.webhook_error_code == "credentials_changed"
    assert "Switch near-real-time updates on again" in changed.out


def test_a_credential_without_the_webhook_scope_gets_the_hint_and_nothing_registered(
    engine: Engine, sandbox: Any, cli: Cli
) -> None:
    limited = sandbox.add_credential(scopes=["personio:persons:read"])
    create_org_reading(engine, sandbox, cli)
    configured = cli(
        "config", "acme", "--client-id", limited["client_id"], "--client-secret", limited["client_secret"]
    )
    assert configured.code == 0, configured.err
    assert cli("activate", "acme").code == 0
    refused = cli("config", "acme", "--near-real-time")
    assert refused.code == 1
    assert "Personio refused to manage webhooks" in refused.err
    assert "personio:webhooks:write" in refused.err
    assert limited["client_secret"] not in refused.err + refused.out
    assert sandbox.webhooks() == []
    integration = _integration(engine)
    assert not integration.near_real_time and integration.webhook_id is None
    assert integration.webhook_error_code == "missing_webhook_scope"
    assert "personio:webhooks:write" in (integration.webhook_error_hint or "")


def test_switching_on_needs_an_active_integration_and_a_public_address(
    engine: Engine, sandbox: Any, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    create_org_reading(engine, sandbox, cli)
    inactive = cli("config", "acme", "--near-real-time")
    assert inactive.code == 1 and "need an active integration" in inactive.err
    assert cli("activate", "acme").code == 0
    monkeypatch.delenv("PUBLIC_WEBHOOK_BASE_URL")
    nowhere = cli("config", "acme", "--near-real-time")
    assert nowhere.code == 1 and "PUBLIC_WEBHOOK_BASE_URL" in nowhere.err
    assert sandbox.webhooks() == []


def test_a_wrong_secret_is_the_plain_credentials_error(engine: Engine, sandbox: Any, cli: Cli) -> None:
    _active(engine, sandbox, cli)
    with_wrong = cli("config", "acme", "--client-secret", "not-the-secret")
    assert with_wrong.code == 0
    refused = cli("config", "acme", "--near-real-time")
    assert refused.code == 1
    assert "rejected the Client ID / Client Secret" in refused.err
    assert "not-the-secret" not in refused.err
