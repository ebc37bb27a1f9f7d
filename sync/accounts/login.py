"""Dashboard logins: owners of an organization and support staff, with throttled failures.

`authenticate` checks an email and password against argon2 hashes and returns a
`Principal`, the person the dashboard acts for. Failed attempts are stored in
`LoginAttempt`; after `MAX_FAILURES` within `WINDOW` further attempts for that
email are refused without checking the password, so guessing is slow for everyone
and the refusal does not tell whether the password was right.

An attempt is reserved (counted and recorded in one write transaction, one email at a
time) before its password is checked, so logins racing in parallel check at most
`MAX_FAILURES` passwords per email and window. An email without an account costs the
same argon2 verification as one with an account, so the time of an answer does not
tell whether the account exists.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

from sqlalchemy import Engine, delete, func, text
from sqlmodel import Session, col, select

from storage.clock import utcnow
from storage.db import is_sqlite, read_session, write_session
from storage.models import LoginAttempt, Organization, StaffAccount, User
from sync.accounts.passwords import hash_password, verify_password
from sync.core.errors import ReadableError

MAX_FAILURES = 5
WINDOW = timedelta(minutes=15)

PrincipalKind = Literal["owner", "staff"]

# Verified instead of a real hash when an email has no account with a password, so that
# such a refusal costs the same argon2 work as a wrong password. Made once, at import.
_DUMMY_HASH = hash_password(secrets.token_urlsafe(16))


@dataclass(frozen=True)
class Principal:
    """Who is logged in: an organization's owner or a support staff member."""

    kind: PrincipalKind
    id: int  # User.id for owners, StaffAccount.id for staff
    name: str
    email: str
    org_id: int | None = None  # the owner's organization; None for staff
    org_name: str | None = None

    @property
    def is_staff(self) -> bool:
        return self.kind == "staff"

    @property
    def is_owner(self) -> bool:
        return self.kind == "owner"


class LoginRefused(ReadableError):
    """A login that did not succeed; `message` and `hint` are for the person at the keyboard."""

    def __init__(self, code: str, message: str, hint: str) -> None:
        super().__init__(message, hint, code=code)


WRONG_CREDENTIALS = LoginRefused(
    "wrong_credentials",
    "The email or password is not correct.",
    "Check both and try again. Owners of an organization and support staff can log in here.",
)


def display_name(first_name: str, last_name: str, email: str) -> str:
    name = f"{first_name} {last_name}".strip()
    return name or email


def _failures_since(session: Session, email_key: str, since: datetime) -> tuple[int, datetime | None]:
    row = session.exec(
        select(func.count(), func.min(LoginAttempt.attempted_at)).where(
            LoginAttempt.email_key == email_key, col(LoginAttempt.attempted_at) >= since
        )
    ).one()
    return int(row[0]), row[1]


def _reserve_attempt(engine: Engine, email_key: str, now: datetime) -> int:
    """Count this email's attempts in the window and record one more, in one write transaction.

    Returns the new attempt's id; raises LoginRefused(throttled) instead at the limit. SQLite's
    write lock (BEGIN IMMEDIATE) serializes the transactions; on PostgreSQL a transaction-scoped
    advisory lock on the email does, so two logins never both see room for one more.
    """
    with write_session(engine) as session:
        if not is_sqlite(engine):
            session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": email_key})
        failures, oldest = _failures_since(session, email_key, now - WINDOW)
        if failures >= MAX_FAILURES:
            retry_at = (oldest or now) + WINDOW
            raise _throttled(max(1, math.ceil((retry_at - now).total_seconds() / 60)))
        attempt = LoginAttempt(email_key=email_key, attempted_at=now)
        session.add(attempt)
        # Old rows are no use for throttling; keep the table small.
        session.execute(delete(LoginAttempt).where(col(LoginAttempt.attempted_at) < now - 4 * WINDOW))
        session.flush()
        assert attempt.id is not None
        return attempt.id


def _release_attempt(engine: Engine, attempt_id: int) -> None:
    """The reserved attempt was no failure (right password, missing role): it does not count."""
    with write_session(engine) as session:
        session.execute(delete(LoginAttempt).where(col(LoginAttempt.id) == attempt_id))


def _clear_failures(engine: Engine, email_key: str) -> None:
    with write_session(engine) as session:
        session.execute(delete(LoginAttempt).where(col(LoginAttempt.email_key) == email_key))


def _throttled(minutes: int) -> LoginRefused:
    unit = "minute" if minutes == 1 else "minutes"
    return LoginRefused(
        "throttled",
        f"Too many failed attempts for this email. Try again in {minutes} {unit}.",
        "Logins for an email are paused for a while after "
        f"{MAX_FAILURES} wrong passwords. If you forgot your password, ask your account manager.",
    )


def role_refused(role: str, org_name: str) -> LoginRefused:
    return LoginRefused(
        "not_owner",
        f"This dashboard is available for users with role Owner. Your account at {org_name} "
        f"has the role {role.capitalize()}.",
        "Ask an owner of your organization to make the change you need, or to give you the role Owner.",
    )


def authenticate(engine: Engine, email: str, password: str, *, now: datetime | None = None) -> Principal:
    """Check an email and password. Returns the Principal, or raises LoginRefused.

    Support staff are checked first, then the owners of organizations. A user whose
    password is right but who is not an owner is refused with a message saying why.
    """
    now = now or utcnow()
    email_key = email.strip().lower()
    if not email_key or not password:
        raise LoginRefused(
            "missing", "Enter your email and your password.", "Both fields are needed to log in."
        )
    attempt_id = _reserve_attempt(engine, email_key, now)  # a failure until the password is right
    principal, refusal = _check(engine, email_key, password)
    if principal is not None:
        _clear_failures(engine, email_key)
        return principal
    if refusal is not None:  # the password was right; the role is what is missing
        _release_attempt(engine, attempt_id)
        raise refusal
    raise WRONG_CREDENTIALS


def _check(engine: Engine, email_key: str, password: str) -> tuple[Principal | None, LoginRefused | None]:
    with read_session(engine) as session:
        staff = session.exec(select(StaffAccount).where(col(StaffAccount.email) == email_key)).first()
        users = session.exec(
            select(User, Organization)
            .join(Organization, col(Organization.id) == col(User.org_id))
            .where(
                User.email_key == email_key,
                User.status == "active",
                col(User.password_hash).is_not(None),
            )
            .order_by(col(User.id))
        ).all()
    if not users and (staff is None or not staff.password_hash):
        verify_password(_DUMMY_HASH, password)  # no account to check: the same work all the same
        return None, None
    if staff is not None and staff.id is not None and verify_password(staff.password_hash, password):
        return (
            Principal(kind="staff", id=staff.id, name=staff.name or staff.email, email=staff.email),
            None,
        )
    refusal: LoginRefused | None = None
    # One email can own accounts in several organizations; the password picks the account.
    for user, org in users:
        if user.id is None or not verify_password(user.password_hash, password):
            continue
        if user.role == "owner":
            return (
                Principal(
                    kind="owner",
                    id=user.id,
                    name=display_name(user.first_name, user.last_name, user.email),
                    email=user.email,
                    org_id=user.org_id,
                    org_name=org.name,
                ),
                None,
            )
        refusal = refusal or role_refused(user.role, org.name)
    return None, refusal


class Access(StrEnum):
    """Whether the account behind a session may still use the dashboard, and if not, why."""

    ALLOWED = "allowed"
    ACCOUNT_GONE = "account_gone"  # the staff account or the user no longer exists
    DEACTIVATED = "deactivated"  # the owner's user was deactivated
    NOT_OWNER = "not_owner"  # the owner was given another role
    ORGANIZATION_GONE = "organization_gone"


def current_access(engine: Engine, principal: Principal) -> Access:
    """The account's state now, read from the database (a session's Principal can be stale).

    Staff: the account still exists under the same email (an id can be reused after a
    delete). Owners: the user is still an active owner of the same organization, and the
    organization still exists.
    """
    with read_session(engine) as session:
        if principal.is_staff:
            staff = session.get(StaffAccount, principal.id)
            gone = staff is None or staff.email != principal.email
            return Access.ACCOUNT_GONE if gone else Access.ALLOWED
        user = session.get(User, principal.id)
        if user is None or user.org_id != principal.org_id:
            return Access.ACCOUNT_GONE
        if session.get(Organization, user.org_id) is None:
            return Access.ORGANIZATION_GONE
        if user.status != "active":
            return Access.DEACTIVATED
        if user.role != "owner":
            return Access.NOT_OWNER
        return Access.ALLOWED


def still_allowed(engine: Engine, principal: Principal) -> bool:
    """True while the account behind a session may still use the dashboard.

    An owner who was demoted or deactivated, or a deleted staff account, loses access
    at the next page load, not only at the next login.
    """
    return current_access(engine, principal) is Access.ALLOWED
