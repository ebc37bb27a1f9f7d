"""The stored Client Secret only ever goes to the address it was entered for, and the API address
only ever names Personio (or an origin the operator allowed): no exfiltration, no request forgery."""

from __future__ import annotations

import io
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from storage.db import read_session, write_session
from storage.models import Integration
from sync.core.errors import NOT_CONFIGURED, SyncError
from sync.core.settings import InvalidSettings
from sync.integration.settings import credentials, save_settings
from sync.personio.client import PersonioClient
from sync.personio.errors import checked_base_url
from tests.support.capture import CaptureServer
from tests.support.cli import Cli, create_org_reading
from tests.support.dashboard import app_logged_in, page_text

FORGED = [
    "http://evil.example",  # plain http to a host nobody allowed
    "https://evil.example",  # https, but not Personio
    "http://2130706433:8080",  # 127.0.0.1 written as a decimal number
    "https://user:password@api.personio.de",  # userinfo: sent as Basic auth
    "https://api.personio.de?next=https://evil.example",  # a query
    "https://api.personio.de/#fragment",
    "https://api.personio.de/x",  # a path
    "http://api.personio.de",  # Personio, but without TLS
    "https://api.personio.de.evil.example",
]


@pytest.mark.parametrize("address", FORGED)
def test_forged_api_addresses_are_refused_on_save_and_in_the_client(engine: Engine, address: str) -> None:
    with pytest.raises(SyncError) as refused:
        checked_base_url(address)
    assert refused.value.code == NOT_CONFIGURED and "PERSONIO_ALLOWED_BASE_URLS" in refused.value.hint
    with pytest.raises(SyncError):
        PersonioClient(base_url=address, client_id="id", client_secret="secret")


@pytest.mark.parametrize("address", ["https://api.personio.de", "https://API.personio.de/v1/"])
def test_personio_itself_is_always_allowed(address: str) -> None:
    assert checked_base_url(address) == ("https://api.personio.de", "api.personio.de")


def test_only_the_listed_origins_are_allowed_besides_personio(monkeypatch: pytest.MonkeyPatch) -> None:
    allowed = ("https://api.personio.de", "http://sandbox.test:8765", "http://127.0.0.1:*")
    assert checked_base_url("http://sandbox.test:8765", allowed)[0] == "http://sandbox.test:8765"
    assert checked_base_url("http://127.0.0.1:9999", allowed)[0] == "http://127.0.0.1:9999"
    for refused in ("http://sandbox.test:8766", "https://sandbox.test:8765", "http://localhost:9999"):
        with pytest.raises(SyncError):
            checked_base_url(refused, allowed)


def test_saving_a_forged_address_is_refused_and_changes_nothing(engine: Engine, org_id: int) -> None:
    save_settings(engine, org_id, client_id="id", client_secret="the-secret")
    with pytest.raises(InvalidSettings, match="not allowed"):
        save_settings(engine, org_id, base_url="https://evil.example")
    assert _integration(engine, org_id).base_url == "https://api.personio.de"


def test_a_new_address_clears_the_secret_and_asks_for_it_again(
    engine: Engine, sandbox: Any, capture_server: CaptureServer, cli: Cli
) -> None:
    create_org_reading(engine, sandbox, cli)
    changed = cli("config", "acme", "--base-url", capture_server.url)
    assert changed.code == 0
    assert "client secret NOT set" in changed.out and "--client-secret-stdin" in changed.out

    tested = cli("test", "acme")

    assert tested.code == 1 and "Client Secret are not set" in tested.err
    assert not capture_server.received(sandbox.client_secret)
    assert capture_server.requests == []


def test_a_row_changed_by_hand_never_sends_the_secret_elsewhere(
    engine: Engine, sandbox: Any, capture_server: CaptureServer, cli: Cli
) -> None:
    create_org_reading(engine, sandbox, cli)
    with write_session(engine) as session:  # an address changed behind the product's back
        integration = session.exec(select(Integration)).one()
        integration.base_url = capture_server.url
        session.add(integration)

    outcome = cli.json("run", "acme")

    assert outcome["status"] == "failed" and outcome["error"]["code"] == NOT_CONFIGURED
    assert "another Personio API address" in outcome["error"]["message"]
    assert capture_server.requests == []


def test_the_secret_read_from_standard_input_is_stored_and_works(
    engine: Engine, sandbox: Any, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    create_org_reading(engine, sandbox, cli)
    monkeypatch.setattr("sys.stdin", io.StringIO(sandbox.client_secret + "\n"))
    configured = cli("config", "acme", "--client-id", sandbox.client_id, "--client-secret-stdin")
    assert configured.code == 0 and "warning" not in configured.err
    with read_session(engine) as session:
        assert credentials(session.exec(select(Integration)).one())[1] == sandbox.client_secret
    assert cli("test", "acme").code == 0


def test_the_secret_on_the_command_line_is_warned_about(engine: Engine, org_id: int, cli: Cli) -> None:
    result = cli("config", "acme", "--client-id", "id", "--client-secret", "visible-in-ps")
    assert result.code == 0
    assert "--client-secret-stdin" in result.err and "visible-in-ps" not in result.err


def test_the_dashboard_clears_the_secret_when_only_the_address_changes(
    engine: Engine, org_id: int, sandbox: Any, capture_server: CaptureServer
) -> None:
    save_settings(
        engine,
        org_id,
        client_id=sandbox.client_id,
        client_secret=sandbox.client_secret,
        base_url=sandbox.base_url,
    )
    app = app_logged_in(engine, OWNER, PASSWORD)
    app.text_input(key="integration_base_url").input(capture_server.url).run()
    assert "clears the saved Client Secret" in page_text(app)

    app.button(key="test").click().run()  # Test saves the change first, then tests

    assert not app.exception
    assert capture_server.requests == []
    assert _integration(engine, org_id).client_secret_encrypted is None
    assert "Client Secret are not set" in page_text(app)


OWNER = "olga@acme.test"
PASSWORD = "correct horse battery"


@pytest.fixture
def org_id(engine: Engine) -> int:
    from sync.accounts.organizations import create_organization

    org = create_organization(engine, slug="acme", name="Acme", owner_email=OWNER, owner_password=PASSWORD)
    assert org.id is not None
    return org.id


def _integration(engine: Engine, org_id: int) -> Integration:
    with read_session(engine) as session:
        return session.exec(select(Integration).where(Integration.org_id == org_id)).one()
