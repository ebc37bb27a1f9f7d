"""Single sign-on end to end in Debian's Chromium: `streamlit run dashboard.py` with an `[auth]`
secrets file, against a real OpenID Connect provider on loopback (oidc-provider-mock) started by
the test. Staff sign in, reload, log out; an unknown email is refused; an owner lands on Integration.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from storage.db import read_session
from storage.models import DashboardSession
from sync.accounts.organizations import create_organization, create_staff
from sync.integration.lifecycle import set_addon
from tests.dashboard.test_browser_journeys import OWNER, PASSWORD, STAFF
from tests.support.dashboard import DashboardServer, child_env, wait_for_app

pytestmark = pytest.mark.browser

oidc = pytest.importorskip("oidc_provider_mock")

STAFF_BUTTON = "Log in as support staff (single sign-on)"
CUSTOMER_BUTTON = "Log in with your organization's account"
USERS = [
    # The provider sends the email in another case than the account's: matching ignores case.
    oidc.User(sub="sam", claims={"email": STAFF.upper(), "email_verified": True, "name": "Sam"}),
    oidc.User(sub="olga", claims={"email": OWNER, "email_verified": True}),
    oidc.User(sub="mallory", claims={"email": "mallory@elsewhere.test", "email_verified": True}),
    oidc.User(sub="unverified", claims={"email": STAFF, "email_verified": False}),
]


@pytest.fixture
def provider(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The identity provider on a free loopback port; its issuer URL."""
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")  # plain http on loopback
    with oidc.run_server_in_thread(user_claims=USERS) as server:
        yield f"http://localhost:{server.server_port}"


def secrets_toml(port: int, issuer: str) -> str:
    metadata = f"{issuer}/.well-known/openid-configuration"
    return (
        "[auth]\n"
        f'redirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n'
        f'cookie_secret = "{secrets.token_urlsafe(32)}"\n\n'
        "[auth.staff]\n"
        'client_id = "personio-sync-staff"\n'
        'client_secret = "staff-client-secret"\n'
        f'server_metadata_url = "{metadata}"\n\n'
        "[auth.customers]\n"
        'client_id = "personio-sync-customers"\n'
        'client_secret = "customers-client-secret"\n'
        f'server_metadata_url = "{metadata}"\n'
    )


@pytest.fixture
def sso_dashboard(tmp_path: Path, database: str, provider: str) -> Iterator[DashboardServer]:
    secrets_file = tmp_path / "secrets.toml"

    def args_for_port(port: int) -> list[str]:
        secrets_file.write_text(secrets_toml(port, provider), encoding="utf-8")
        return ["--secrets.files", str(secrets_file)]

    env = child_env() | {"AUTHLIB_INSECURE_TRANSPORT": "1"}
    server = DashboardServer(
        log_path=tmp_path / "dashboard.log", env=env, args_for_port=args_for_port
    ).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def accounts(engine: Engine) -> None:
    create_staff(engine, email=STAFF, password=PASSWORD, name="Sam")
    org = create_organization(engine, slug="acme", name="Acme", owner_email=OWNER, owner_password=PASSWORD)
    assert org.id is not None
    set_addon(engine, org.id, True)


def sign_in(page: Any, server: DashboardServer, button: str, subject: str) -> None:
    page.goto(server.url)
    wait_for_app(page)
    page.get_by_role("button", name=button).click()
    page.get_by_role("heading", name="Authorize Client").wait_for()  # at the identity provider
    page.get_by_role("button", name=subject, exact=True).click()
    page.wait_for_url(f"{server.url}/**")
    wait_for_app(page)


def test_staff_signs_in_reloads_is_still_signed_in_and_logs_out(
    engine: Engine, accounts: None, sso_dashboard: DashboardServer, browser_page: Any
) -> None:
    page = browser_page
    page.goto(sso_dashboard.url)
    wait_for_app(page)
    assert page.get_by_role("button", name=STAFF_BUTTON).count() == 1
    assert page.get_by_role("button", name=CUSTOMER_BUTTON).count() == 1

    sign_in(page, sso_dashboard, STAFF_BUTTON, "sam")
    page.get_by_role("heading", name="Organizations").wait_for()
    with read_session(engine) as session:
        (row,) = session.exec(select(DashboardSession)).all()
    assert row.account_kind == "staff" and row.method == "sso:staff"

    page.reload()
    wait_for_app(page)
    page.get_by_role("heading", name="Organizations").wait_for()
    page.get_by_role("heading", name="Your sessions").wait_for()
    assert page.get_by_text("Single sign-on (staff) · this browser").count() == 1

    page.get_by_role("button", name="Log out").click()
    # Streamlit forgets its identity cookie and ends the session at the provider, then comes back.
    page.get_by_role("button", name="End session").click()
    page.wait_for_url(f"{sso_dashboard.url}/**")
    wait_for_app(page)
    page.get_by_role("button", name=STAFF_BUTTON).wait_for()
    assert page.get_by_role("heading", name="Organizations").count() == 0
    with read_session(engine) as session:
        assert session.exec(select(DashboardSession)).one().revoked_at is not None
    page.reload()
    wait_for_app(page)
    page.get_by_role("button", name=STAFF_BUTTON).wait_for()
    assert page.get_by_role("button", name="Log out").count() == 0


@pytest.mark.parametrize(
    ("button", "subject", "message"),
    [
        (CUSTOMER_BUTTON, "mallory", "it is not an owner of an organization"),
        (STAFF_BUTTON, "olga", "it is not a support staff account"),  # owners use the customers' provider
        (STAFF_BUTTON, "unverified", "has not verified the email address"),
    ],
)
def test_an_unknown_or_unverified_email_is_refused(
    engine: Engine,
    accounts: None,
    sso_dashboard: DashboardServer,
    browser_page: Any,
    button: str,
    subject: str,
    message: str,
) -> None:
    page = browser_page
    sign_in(page, sso_dashboard, button, subject)
    page.get_by_text(message).wait_for()
    assert page.get_by_role("button", name="Log out").count() == 0
    with read_session(engine) as session:
        assert session.exec(select(DashboardSession)).all() == []


def test_an_owner_lands_on_the_integration_page(
    engine: Engine, accounts: None, sso_dashboard: DashboardServer, browser_page: Any
) -> None:
    page = browser_page
    sign_in(page, sso_dashboard, CUSTOMER_BUTTON, "olga")
    page.get_by_role("heading", name="Personio integration").wait_for()
    assert page.get_by_text("Owner · Acme").count() == 1


def test_without_auth_secrets_only_the_password_form_shows(
    dashboard_server: DashboardServer, browser_page: Any
) -> None:
    page = browser_page
    page.goto(dashboard_server.url)
    wait_for_app(page)
    page.get_by_role("button", name="Log in", exact=True).wait_for()
    assert page.get_by_role("button", name=STAFF_BUTTON).count() == 0
    assert page.get_by_role("button", name=CUSTOMER_BUTTON).count() == 0
