"""Dashboard logins (sync.accounts.login): owners and staff get in, members are told why not,
guessing is throttled."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import col, func, select

from storage.clock import utcnow
from storage.db import read_session, write_session
from storage.models import LoginAttempt, Organization, StaffAccount, User
from sync.accounts import login
from sync.accounts.login import (
    MAX_FAILURES,
    WINDOW,
    Access,
    LoginRefused,
    authenticate,
    current_access,
    still_allowed,
)
from sync.accounts.organizations import create_organization, create_staff
from sync.accounts.passwords import hash_password

PASSWORD = "correct horse battery"


def failed_attempts(engine: Engine, email: str) -> int:
    """How many failed attempts count against this email now (the throttle's window)."""
    with read_session(engine) as session:
        return session.exec(
            select(func.count()).where(
                LoginAttempt.email_key == email.strip().lower(),
                col(LoginAttempt.attempted_at) >= utcnow() - WINDOW,
            )
        ).one()


@pytest.fixture
def org_id(engine: Engine) -> int:
    org = create_organization(
        engine,
        slug="acme",
        name="Acme",
        owner_email="Olga.Owner@acme.test",
        owner_password=PASSWORD,
        owner_first_name="Olga",
        owner_last_name="Owner",
    )
    assert org.id is not None
    return org.id


def add_user(engine: Engine, org_id: int, email: str, role: str, password: str | None = PASSWORD) -> int:
    now = utcnow()
    with write_session(engine) as session:
        user = User(
            org_id=org_id,
            email=email,
            email_key=email.lower(),
            first_name="Mia",
            last_name="Member",
            role=role,
            password_hash=hash_password(password) if password else None,
            created_at=now,
            updated_at=now,
        )
        session.add(user)
        session.flush()
        assert user.id is not None
        return user.id


def test_owner_logs_in_case_insensitively(engine: Engine, org_id: int) -> None:
    principal = authenticate(engine, "  olga.owner@ACME.test ", PASSWORD)
    assert principal.kind == "owner"
    assert principal.org_id == org_id
    assert principal.org_name == "Acme"
    assert principal.name == "Olga Owner"
    assert principal.email == "Olga.Owner@acme.test"


def test_staff_logs_in_without_an_organization(engine: Engine) -> None:
    create_staff(engine, email="sam@support.test", password=PASSWORD, name="Sam Support")
    principal = authenticate(engine, "sam@support.test", PASSWORD)
    assert principal.is_staff
    assert principal.org_id is None
    assert principal.name == "Sam Support"


@pytest.mark.parametrize("role", ["member", "admin"])
def test_non_owner_with_right_password_is_told_the_role_is_missing(
    engine: Engine, org_id: int, role: str
) -> None:
    add_user(engine, org_id, "mia@acme.test", role)
    with pytest.raises(LoginRefused) as refused:
        authenticate(engine, "mia@acme.test", PASSWORD)
    assert refused.value.code == "not_owner"
    assert "available for users with role Owner" in refused.value.message
    assert role.capitalize() in refused.value.message
    assert refused.value.hint


def test_wrong_password_gets_one_plain_message_for_every_cause(engine: Engine, org_id: int) -> None:
    add_user(engine, org_id, "mia@acme.test", "member")
    messages = set()
    for email, password in [
        ("olga.owner@acme.test", "wrong password"),
        ("nobody@acme.test", PASSWORD),
        ("mia@acme.test", "wrong password"),
    ]:
        with pytest.raises(LoginRefused) as refused:
            authenticate(engine, email, password)
        assert refused.value.code == "wrong_credentials"
        messages.add(refused.value.message)
    assert messages == {"The email or password is not correct."}


def test_empty_fields_are_refused_without_counting_a_failure(engine: Engine, org_id: int) -> None:
    with pytest.raises(LoginRefused) as refused:
        authenticate(engine, "olga.owner@acme.test", "")
    assert refused.value.code == "missing"
    assert failed_attempts(engine, "olga.owner@acme.test") == 0


def test_failures_beyond_the_limit_are_throttled_even_with_the_right_password(
    engine: Engine, org_id: int
) -> None:
    now = utcnow()
    for _ in range(MAX_FAILURES):
        with pytest.raises(LoginRefused):
            authenticate(engine, "olga.owner@acme.test", "guess", now=now)
    with pytest.raises(LoginRefused) as refused:
        authenticate(engine, "olga.owner@acme.test", PASSWORD, now=now + timedelta(minutes=1))
    assert refused.value.code == "throttled"
    assert "Try again in 14 minutes" in refused.value.message
    # Another email is not affected, and the window passes.
    create_staff(engine, email="sam@support.test", password=PASSWORD)
    assert authenticate(engine, "sam@support.test", PASSWORD, now=now).is_staff
    later = now + WINDOW + timedelta(seconds=1)
    assert authenticate(engine, "olga.owner@acme.test", PASSWORD, now=later).is_owner


def test_a_successful_login_clears_earlier_failures(engine: Engine, org_id: int) -> None:
    for _ in range(MAX_FAILURES - 1):
        with pytest.raises(LoginRefused):
            authenticate(engine, "olga.owner@acme.test", "guess")
    authenticate(engine, "olga.owner@acme.test", PASSWORD)
    assert failed_attempts(engine, "olga.owner@acme.test") == 0


def test_a_demoted_owner_loses_access_at_the_next_page_load(engine: Engine, org_id: int) -> None:
    principal = authenticate(engine, "olga.owner@acme.test", PASSWORD)
    assert still_allowed(engine, principal)
    with write_session(engine) as session:
        owner = session.get(User, principal.id)
        assert owner is not None
        owner.role = "member"
        session.add(owner)
    assert not still_allowed(engine, principal)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"role": "admin"}, Access.NOT_OWNER),
        ({"status": "deactivated"}, Access.DEACTIVATED),
        ({}, Access.ALLOWED),
    ],
)
def test_an_owners_access_follows_the_database_not_the_session(
    engine: Engine, org_id: int, change: dict[str, str], expected: Access
) -> None:
    principal = authenticate(engine, "olga.owner@acme.test", PASSWORD)
    with write_session(engine) as session:
        owner = session.get(User, principal.id)
        assert owner is not None
        for field, value in change.items():
            setattr(owner, field, value)
        session.add(owner)
    assert current_access(engine, principal) is expected


@pytest.mark.sqlite_only("SQLite reuses a freed id; the next test takes the id explicitly on both engines")
def test_a_deleted_staff_account_loses_access_even_when_its_id_is_reused(engine: Engine) -> None:
    create_staff(engine, email="sam@support.test", password=PASSWORD)
    principal = authenticate(engine, "sam@support.test", PASSWORD)
    assert current_access(engine, principal) is Access.ALLOWED
    with write_session(engine) as session:
        staff = session.get(StaffAccount, principal.id)
        assert staff is not None
        session.delete(staff)
    assert current_access(engine, principal) is Access.ACCOUNT_GONE
    newcomer = create_staff(engine, email="newcomer@support.test", password=PASSWORD)
    assert newcomer.id == principal.id  # SQLite hands the freed id to the next account
    assert current_access(engine, principal) is Access.ACCOUNT_GONE


def test_a_deleted_staff_account_loses_access_when_another_account_takes_its_id(engine: Engine) -> None:
    create_staff(engine, email="sam@support.test", password=PASSWORD)
    principal = authenticate(engine, "sam@support.test", PASSWORD)
    with write_session(engine) as session:
        staff = session.get(StaffAccount, principal.id)
        assert staff is not None
        session.delete(staff)
    with write_session(engine) as session:  # an account with the freed id, however it got it
        session.add(
            StaffAccount(
                id=principal.id,
                email="newcomer@support.test",
                password_hash=hash_password(PASSWORD),
                created_at=utcnow(),
            )
        )
    assert current_access(engine, principal) is Access.ACCOUNT_GONE


# --- racing logins and the account-existence oracle, on both engines ---------------------------


@pytest.fixture
def any_engine(engine: Engine) -> Engine:
    """`engine` (a file SQLite database, then a fresh PostgreSQL database) with organization acme."""
    create_organization(
        engine, slug="acme", name="Acme", owner_email="olga.owner@acme.test", owner_password=PASSWORD
    )
    return engine


@pytest.fixture
def verifications(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every argon2 verification a login runs, by the hash it was checked against."""
    checked: list[str] = []
    real = login.verify_password

    def counting(password_hash: str | None, password: str) -> bool:
        checked.append(password_hash or "")  # list.append is atomic: threads may share it
        return real(password_hash, password)

    monkeypatch.setattr(login, "verify_password", counting)
    return checked


def test_parallel_wrong_passwords_for_one_email_check_at_most_the_limit(
    any_engine: Engine, verifications: list[str]
) -> None:
    logins = 20
    start = threading.Barrier(logins)

    def attempt(n: int) -> str:
        start.wait()
        try:
            authenticate(any_engine, "olga.owner@acme.test", f"guess {n}")
        except LoginRefused as refused:
            return refused.code
        return "logged in"

    with ThreadPoolExecutor(max_workers=logins) as pool:
        codes = Counter(pool.map(attempt, range(logins)))

    assert codes == Counter({"wrong_credentials": MAX_FAILURES, "throttled": logins - MAX_FAILURES})
    assert len(verifications) == MAX_FAILURES
    assert failed_attempts(any_engine, "olga.owner@acme.test") == MAX_FAILURES
    with pytest.raises(LoginRefused) as refused:
        authenticate(any_engine, "olga.owner@acme.test", PASSWORD)
    assert refused.value.code == "throttled"
    assert len(verifications) == MAX_FAILURES  # refused without checking the right password either


def test_a_login_that_is_not_a_failure_does_not_count(any_engine: Engine) -> None:
    org_id = create_organization(
        any_engine, slug="beta", name="Beta", owner_email="bo@beta.test", owner_password="other password"
    ).id
    assert org_id is not None
    add_user(any_engine, org_id, "mia@beta.test", "member")
    for _ in range(MAX_FAILURES + 1):
        with pytest.raises(LoginRefused) as refused:
            authenticate(any_engine, "mia@beta.test", PASSWORD)
        assert refused.value.code == "not_owner"
    assert failed_attempts(any_engine, "mia@beta.test") == 0


@pytest.mark.parametrize(
    ("email", "password"),
    [
        ("nobody@acme.test", PASSWORD),  # no account at all
        ("nohash@acme.test", PASSWORD),  # an account without a password
        ("olga.owner@acme.test", "wrong password"),  # a real account, wrong password
    ],
)
def test_every_wrong_login_costs_exactly_one_password_verification(
    any_engine: Engine, verifications: list[str], email: str, password: str
) -> None:
    with read_session(any_engine) as session:
        org = session.exec(select(Organization).where(Organization.slug == "acme")).one()
    assert org.id is not None
    add_user(any_engine, org.id, "nohash@acme.test", "owner", password=None)
    verifications.clear()
    with pytest.raises(LoginRefused) as refused:
        authenticate(any_engine, email, password)
    assert refused.value.code == "wrong_credentials"
    assert len(verifications) == 1
    assert verifications[0].startswith("$argon2")  # a real argon2 check, not a shortcut
