"""Single sign-on rules (sync.accounts.sso): configured providers, fresh answers only, and which
account a provider's email stands for."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine

from storage.clock import utcnow
from sync.accounts.login import LoginRefused
from sync.accounts.organizations import create_organization, create_staff
from sync.accounts.sso import Provider, configured_providers, may_start_session, principal_for_identity

PASSWORD = "correct horse battery"
SECTION = {
    "client_id": "id",
    "client_secret": "secret",
    "server_metadata_url": "https://idp.test/.well-known",
}
STAFF = Provider(name="staff", label="")
CUSTOMERS = Provider(name="customers", label="")


def test_only_complete_named_providers_are_configured() -> None:
    auth: dict[str, object] = {"redirect_uri": "https://x/oauth2callback", "cookie_secret": "s"}
    auth |= {"customers": SECTION, "staff": SECTION, "half": {"client_id": "id"}, "bad_name": SECTION}
    assert [p.name for p in configured_providers(auth)] == ["staff", "customers"]
    assert configured_providers({"staff": SECTION}) == []  # no redirect_uri / cookie_secret
    assert configured_providers(None) == []


def test_a_session_starts_only_from_a_fresh_answer_given_after_the_last_session_ended() -> None:
    now = utcnow()
    fresh = int(now.timestamp()) - 10
    assert may_start_session(issued_at=fresh, now=now, ended_at=None)
    assert not may_start_session(issued_at=fresh - 3600, now=now, ended_at=None)  # an old identity cookie
    assert not may_start_session(issued_at=fresh, now=now, ended_at=now - timedelta(seconds=1))
    assert may_start_session(issued_at=fresh, now=now, ended_at=now - timedelta(minutes=1))
    assert not may_start_session(issued_at=None, now=now, ended_at=None)
    assert not may_start_session(issued_at=True, now=now, ended_at=None)


@pytest.fixture
def accounts(engine: Engine) -> None:
    create_staff(engine, email="sam@support.test", password=PASSWORD)
    create_organization(
        engine, slug="acme", name="Acme", owner_email="Olga@Acme.test", owner_password=PASSWORD
    )


def test_emails_match_case_insensitively_and_each_provider_its_own_kind(
    engine: Engine, accounts: None
) -> None:
    assert principal_for_identity(engine, STAFF, email="SAM@support.test", email_verified=True).is_staff
    owner = principal_for_identity(engine, CUSTOMERS, email="olga@acme.TEST")
    assert owner.is_owner and owner.org_name == "Acme"
    with pytest.raises(LoginRefused, match="not a support staff account"):
        principal_for_identity(engine, STAFF, email="olga@acme.test")
    with pytest.raises(LoginRefused, match="not an owner"):
        principal_for_identity(engine, CUSTOMERS, email="sam@support.test")


@pytest.mark.parametrize(
    ("email", "verified", "code"),
    [
        ("sam@support.test", False, "sso_email_unverified"),
        ("sam@support.test", "false", "sso_email_unverified"),
        (None, True, "sso_no_email"),
        ("nobody@else.test", True, "sso_no_account"),
    ],
)
def test_unverified_missing_and_unknown_emails_are_refused(
    engine: Engine, accounts: None, email: object, verified: object, code: str
) -> None:
    with pytest.raises(LoginRefused) as refused:
        principal_for_identity(engine, STAFF, email=email, email_verified=verified)
    assert refused.value.code == code
