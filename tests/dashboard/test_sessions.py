"""Server-side dashboard sessions (sync.accounts.sessions): tokens, idle and absolute expiry on a
moved clock, logout, ending the other sessions, and a changed password."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, inspect, text
from sqlmodel import select

from storage.clock import utcnow
from storage.db import _v3_dashboard_sessions, applied_versions, migrate, read_session, write_session
from storage.models import DashboardSession, StaffAccount, User
from sync.accounts import sessions
from sync.accounts.login import Principal, authenticate
from sync.accounts.organizations import AccountError, create_organization, create_staff
from sync.accounts.password_change import change_password
from sync.accounts.sessions import ABSOLUTE_LIFETIME, IDLE_TIMEOUT, SessionEnd

PASSWORD = "correct horse battery"


@pytest.fixture
def owner(engine: Engine) -> Principal:
    create_organization(
        engine,
        slug="acme",
        name="Acme",
        owner_email="Olga@acme.test",
        owner_password=PASSWORD,
        owner_first_name="Olga",
        owner_last_name="Owner",
    )
    return authenticate(engine, "olga@acme.test", PASSWORD)


@pytest.fixture
def staff(engine: Engine) -> Principal:
    create_staff(engine, email="sam@support.test", password=PASSWORD, name="Sam")
    return authenticate(engine, "sam@support.test", PASSWORD)


def test_only_the_hash_of_a_256_bit_token_is_stored(engine: Engine, owner: Principal) -> None:
    new = sessions.create(engine, owner)
    assert len(new.token) >= 43  # 32 random bytes, url-safe base64
    with read_session(engine) as session:
        row = session.exec(select(DashboardSession)).one()
    assert row.token_hash == sessions.hash_token(new.token)
    assert new.token not in row.token_hash
    assert row.account_kind == "owner" and row.account_id == owner.id


def test_a_token_resolves_to_the_account_as_it_is_now(
    engine: Engine, owner: Principal, staff: Principal
) -> None:
    owner_token = sessions.create(engine, owner).token
    staff_token = sessions.create(engine, staff).token
    with write_session(engine) as session:
        user = session.get(User, owner.id)
        assert user is not None
        user.first_name = "Olga-Renamed"
        session.add(user)
    resolved = sessions.resolve(engine, owner_token)
    assert resolved.principal is not None
    assert resolved.principal.kind == "owner" and resolved.principal.org_id == owner.org_id
    assert resolved.principal.name.startswith("Olga-Renamed")
    assert sessions.resolve(engine, staff_token).principal == staff


@pytest.mark.parametrize("token", ["", "x" * 43, "y" * 5000, "Zm9yZ2Vk" * 6])
def test_a_forged_token_signs_in_nobody(engine: Engine, owner: Principal, token: str) -> None:
    sessions.create(engine, owner)
    resolved = sessions.resolve(engine, token)
    assert resolved.principal is None
    assert resolved.end is SessionEnd.UNKNOWN


def test_idle_expiry_after_60_minutes_without_use(engine: Engine, owner: Principal) -> None:
    start = utcnow()
    token = sessions.create(engine, owner, now=start).token
    assert (
        sessions.resolve(engine, token, now=start + IDLE_TIMEOUT - timedelta(seconds=1)).principal is not None
    )
    # seen just now: the idle timeout counts again from here
    later = start + IDLE_TIMEOUT - timedelta(seconds=1)
    assert (
        sessions.resolve(engine, token, now=later + IDLE_TIMEOUT - timedelta(seconds=1)).principal is not None
    )
    idle = sessions.resolve(engine, token, now=later + 2 * IDLE_TIMEOUT)
    assert idle.principal is None
    assert idle.end is SessionEnd.IDLE


def test_absolute_expiry_after_12_hours_however_busy(engine: Engine, owner: Principal) -> None:
    start = utcnow()
    token = sessions.create(engine, owner, now=start).token
    moment = start
    while moment + timedelta(minutes=30) < start + ABSOLUTE_LIFETIME:
        moment += timedelta(minutes=30)
        assert sessions.resolve(engine, token, now=moment).principal is not None
    over = sessions.resolve(engine, token, now=start + ABSOLUTE_LIFETIME)
    assert over.principal is None
    assert over.end is SessionEnd.EXPIRED
    assert over.ended_at == start + ABSOLUTE_LIFETIME


def test_logout_revokes_the_session_for_every_tab(engine: Engine, owner: Principal) -> None:
    new = sessions.create(engine, owner)
    assert sessions.revoke(engine, session_id=new.id)
    resolved = sessions.resolve(engine, new.token)
    assert resolved.principal is None and resolved.end is SessionEnd.REVOKED
    assert not sessions.revoke(engine, session_id=new.id)  # already over


def test_revoke_others_keeps_the_current_session(engine: Engine, owner: Principal, staff: Principal) -> None:
    keep = sessions.create(engine, staff)
    other = sessions.create(engine, staff)
    owners = sessions.create(engine, owner)
    assert sessions.revoke_others(engine, staff, keep_session_id=keep.id) == 1
    assert sessions.resolve(engine, keep.token).principal == staff
    assert sessions.resolve(engine, other.token).end is SessionEnd.REVOKED
    assert sessions.resolve(engine, owners.token).principal is not None  # another account's


def test_list_for_user_shows_own_active_sessions_and_ends_only_own(
    engine: Engine, owner: Principal, staff: Principal
) -> None:
    start = utcnow()
    first = sessions.create(engine, staff, now=start - timedelta(minutes=5))
    second = sessions.create(engine, staff, method="sso:staff", now=start)
    stale = sessions.create(engine, staff, now=start - 2 * IDLE_TIMEOUT)
    owners = sessions.create(engine, owner, now=start)
    listed = sessions.list_for_user(engine, staff, now=start)
    assert [s.id for s in listed] == [second.id, first.id]
    assert listed[0].method == "sso:staff"
    assert stale.id not in {s.id for s in listed}
    assert not sessions.revoke_for_account(engine, staff, session_id=owners.id)
    assert sessions.revoke_for_account(engine, staff, session_id=first.id)
    assert [s.id for s in sessions.list_for_user(engine, staff, now=start)] == [second.id]


def test_a_deleted_account_ends_its_sessions(engine: Engine, staff: Principal) -> None:
    new = sessions.create(engine, staff)
    with write_session(engine) as session:
        account = session.get(StaffAccount, staff.id)
        session.delete(account)
    resolved = sessions.resolve(engine, new.token)
    assert resolved.principal is None and resolved.end is SessionEnd.ACCOUNT_GONE


def test_changing_the_password_ends_the_other_sessions(engine: Engine, owner: Principal) -> None:
    here = sessions.create(engine, owner)
    elsewhere = sessions.create(engine, owner)
    with pytest.raises(AccountError, match="current password is not correct"):
        change_password(
            engine,
            owner,
            current_password="wrong one",
            new_password="another long one",
            keep_session_id=here.id,
        )
    assert sessions.resolve(engine, elsewhere.token).principal is not None
    ended = change_password(
        engine, owner, current_password=PASSWORD, new_password="another long one", keep_session_id=here.id
    )
    assert ended == 1
    assert sessions.resolve(engine, here.token).principal is not None
    assert sessions.resolve(engine, elsewhere.token).end is SessionEnd.REVOKED
    assert authenticate(engine, "olga@acme.test", "another long one").id == owner.id


def test_migration_3_adds_the_table_to_a_database_without_it_and_is_idempotent(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE dashboardsession"))
        conn.execute(text("DELETE FROM schemaversion WHERE version = 3"))
    assert 3 not in applied_versions(engine)
    migrate(engine)
    assert 3 in applied_versions(engine)
    assert inspect(engine).has_table("dashboardsession")
    with engine.begin() as conn:
        _v3_dashboard_sessions(conn)  # again: nothing to do
