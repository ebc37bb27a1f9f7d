"""Dashboard sessions kept on the server, so a sign-in survives a reload and ends everywhere at logout.

A session is a random 256-bit token that the browser keeps in a cookie; the database stores only
its SHA-256 (`DashboardSession.token_hash`), so a copy of the database lets nobody in. A session
ends at the first of: `revoked_at` (logout, a changed password, ended by its owner), `expires_at`
(ABSOLUTE_LIFETIME after it began) and IDLE_TIMEOUT after it was last seen.

The cookie names no person, role or organization: `resolve` finds the account behind a token on
every rerun, and the dashboard's gate then re-checks that account's current role
(`sync.accounts.login.current_access`). Every function takes `now` (default `storage.clock.utcnow`)
so tests move the clock instead of waiting.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from sqlalchemy import Engine, update
from sqlmodel import col, select

from storage.clock import utcnow
from storage.db import read_session, write_session
from storage.models import DashboardSession, Organization, StaffAccount, User, table
from sync.accounts.login import Principal

IDLE_TIMEOUT = timedelta(minutes=60)
ABSOLUTE_LIFETIME = timedelta(hours=12)
# last_seen_at is written at most this often: not every click needs a write transaction.
TOUCH_EVERY = timedelta(minutes=1)
TOKEN_BYTES = 32  # 256 bits
# A cookie value longer than this is no token of ours; it is refused without hashing.
MAX_TOKEN_LENGTH = 128


class SessionEnd(StrEnum):
    """Why a token no longer signs anyone in."""

    UNKNOWN = "unknown"  # no such token (never issued, forged, or its row was removed)
    REVOKED = "revoked"  # logout, a changed password, or ended from the Organizations page
    EXPIRED = "expired"  # ABSOLUTE_LIFETIME after it began
    IDLE = "idle"  # not seen for IDLE_TIMEOUT
    ACCOUNT_GONE = "account_gone"  # the account was deleted (or its id now belongs to another email)


@dataclass(frozen=True)
class NewSession:
    """A session just created: `token` goes into the cookie and is never stored."""

    id: int
    token: str
    expires_at: datetime


@dataclass(frozen=True)
class Resolution:
    """What a token stands for now: a principal and its session, or why it is over."""

    principal: Principal | None
    session_id: int | None = None
    method: str | None = None
    end: SessionEnd | None = None
    ended_at: datetime | None = None  # when the session ended (None for UNKNOWN)


@dataclass(frozen=True)
class ActiveSession:
    """One active session of an account, for the list its owner sees."""

    id: int
    method: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    idle_until: datetime


def _aware(moment: datetime) -> datetime:
    """SQLite hands datetimes back without their offset; they are UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def session_end(row: DashboardSession, now: datetime) -> tuple[SessionEnd, datetime] | None:
    """Why and when `row` ended, or None while it is active. Pure: decides on the row and `now`."""
    if row.revoked_at is not None:
        return SessionEnd.REVOKED, _aware(row.revoked_at)
    expires_at = _aware(row.expires_at)
    idle_at = _aware(row.last_seen_at) + IDLE_TIMEOUT
    ended_at = min(expires_at, idle_at)
    if now < ended_at:
        return None
    return (SessionEnd.EXPIRED if expires_at <= idle_at else SessionEnd.IDLE), ended_at


def create(
    engine: Engine, principal: Principal, *, method: str = "password", now: datetime | None = None
) -> NewSession:
    """Start a session for `principal` (who just proved who they are). `method`: password | sso:<name>."""
    now = now or utcnow()
    token = new_token()
    row = DashboardSession(
        token_hash=hash_token(token),
        account_kind=principal.kind,
        account_id=principal.id,
        email_key=principal.email.strip().lower(),
        method=method,
        created_at=now,
        last_seen_at=now,
        expires_at=now + ABSOLUTE_LIFETIME,
    )
    with write_session(engine) as session:
        session.add(row)
        session.flush()
        assert row.id is not None
        return NewSession(id=row.id, token=token, expires_at=row.expires_at)


def _principal_for(engine: Engine, row: DashboardSession) -> Principal | None:
    """The account behind a session, as it is now; None when it is gone or changed its email."""
    with read_session(engine) as session:
        if row.account_kind == "staff":
            staff = session.get(StaffAccount, row.account_id)
            if staff is None or staff.id is None or staff.email.strip().lower() != row.email_key:
                return None
            return Principal(kind="staff", id=staff.id, name=staff.name or staff.email, email=staff.email)
        user = session.get(User, row.account_id)
        if user is None or user.id is None or user.email_key != row.email_key:
            return None
        org = session.get(Organization, user.org_id)
        name = f"{user.first_name} {user.last_name}".strip() or user.email
        return Principal(
            kind="owner",
            id=user.id,
            name=name,
            email=user.email,
            org_id=user.org_id,
            org_name=org.name if org is not None else None,
        )


def resolve(engine: Engine, token: str | None, *, now: datetime | None = None) -> Resolution:
    """The principal a token signs in now, and records that the session was seen.

    Never raises for a bad token: an empty, forged, revoked or expired one resolves to no
    principal and says why. The caller still checks the principal's current role.
    """
    now = now or utcnow()
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        return Resolution(principal=None, end=SessionEnd.UNKNOWN)
    with read_session(engine) as session:
        row = session.exec(
            select(DashboardSession).where(DashboardSession.token_hash == hash_token(token))
        ).first()
    if row is None or row.id is None:
        return Resolution(principal=None, end=SessionEnd.UNKNOWN)
    ended = session_end(row, now)
    if ended is not None:
        return Resolution(
            principal=None, session_id=row.id, method=row.method, end=ended[0], ended_at=ended[1]
        )
    principal = _principal_for(engine, row)
    if principal is None:
        revoke(engine, session_id=row.id, now=now)
        return Resolution(
            principal=None, session_id=row.id, method=row.method, end=SessionEnd.ACCOUNT_GONE, ended_at=now
        )
    if now - _aware(row.last_seen_at) >= TOUCH_EVERY:
        touch(engine, row.id, now=now)
    return Resolution(principal=principal, session_id=row.id, method=row.method)


def touch(engine: Engine, session_id: int, *, now: datetime | None = None) -> None:
    """Record that the session was used now (its idle timeout counts from here)."""
    now = now or utcnow()
    with write_session(engine) as session:
        session.execute(
            update(table(DashboardSession))
            .where(col(DashboardSession.id) == session_id, col(DashboardSession.revoked_at).is_(None))
            .values(last_seen_at=now)
        )


def revoke(engine: Engine, *, session_id: int, now: datetime | None = None) -> bool:
    """End one session (logout). True when it was active until now."""
    now = now or utcnow()
    with write_session(engine) as session:
        result = session.execute(
            update(table(DashboardSession))
            .where(col(DashboardSession.id) == session_id, col(DashboardSession.revoked_at).is_(None))
            .values(revoked_at=now)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


def revoke_for_account(
    engine: Engine, principal: Principal, *, session_id: int, now: datetime | None = None
) -> bool:
    """End one session of `principal`'s own account (the Organizations page). False if not theirs."""
    now = now or utcnow()
    with write_session(engine) as session:
        result = session.execute(
            update(table(DashboardSession))
            .where(
                col(DashboardSession.id) == session_id,
                col(DashboardSession.account_kind) == principal.kind,
                col(DashboardSession.account_id) == principal.id,
                col(DashboardSession.revoked_at).is_(None),
            )
            .values(revoked_at=now)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


def revoke_others(
    engine: Engine, principal: Principal, *, keep_session_id: int | None, now: datetime | None = None
) -> int:
    """End every session of `principal`'s account except `keep_session_id`; returns how many ended."""
    now = now or utcnow()
    conditions = [
        col(DashboardSession.account_kind) == principal.kind,
        col(DashboardSession.account_id) == principal.id,
        col(DashboardSession.revoked_at).is_(None),
    ]
    if keep_session_id is not None:
        conditions.append(col(DashboardSession.id) != keep_session_id)
    with write_session(engine) as session:
        result = session.execute(update(table(DashboardSession)).where(*conditions).values(revoked_at=now))
        return int(result.rowcount)  # type: ignore[attr-defined]


def list_for_user(
    engine: Engine, principal: Principal, *, now: datetime | None = None
) -> list[ActiveSession]:
    """The active sessions of `principal`'s own account, most recently seen first."""
    now = now or utcnow()
    with read_session(engine) as session:
        rows = session.exec(
            select(DashboardSession)
            .where(
                DashboardSession.account_kind == principal.kind,
                DashboardSession.account_id == principal.id,
                col(DashboardSession.revoked_at).is_(None),
                col(DashboardSession.expires_at) > now,
            )
            .order_by(col(DashboardSession.last_seen_at).desc(), col(DashboardSession.id).desc())
        ).all()
    active: list[ActiveSession] = []
    for row in rows:
        if row.id is None or session_end(row, now) is not None:
            continue
        active.append(
            ActiveSession(
                id=row.id,
                method=row.method,
                created_at=_aware(row.created_at),
                last_seen_at=_aware(row.last_seen_at),
                expires_at=_aware(row.expires_at),
                idle_until=_aware(row.last_seen_at) + IDLE_TIMEOUT,
            )
        )
    return active
