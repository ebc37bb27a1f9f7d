"""load_directory (sync.integration.snapshot) on SQLite and PostgreSQL: the directory as the plan reads it."""

from __future__ import annotations

from sqlalchemy import Engine, insert

from storage.clock import utcnow
from storage.db import read_session, write_session
from storage.models import Team, TeamMember, User, table
from sync.accounts.organizations import create_organization
from sync.integration.snapshot import load_directory


def _org(engine: Engine, slug: str) -> int:
    org = create_organization(
        engine, slug=slug, name=slug.title(), owner_email=f"owner@{slug}.test", owner_password="password1"
    )
    assert org.id is not None
    return org.id


def _user(engine: Engine, org_id: int, email: str) -> int:
    now = utcnow()
    with write_session(engine) as session:
        user = User(org_id=org_id, email=email, email_key=email.lower(), created_at=now, updated_at=now)
        session.add(user)
        session.flush()
        assert user.id is not None
        return user.id


def _team(engine: Engine, org_id: int, name: str, members: dict[int, str]) -> int:
    with write_session(engine) as session:
        team = Team(
            org_id=org_id, name=name, source_attribute="department", source_key=name, created_at=utcnow()
        )
        session.add(team)
        session.flush()
        assert team.id is not None
        if members:
            session.execute(
                insert(table(TeamMember)),
                [{"team_id": team.id, "user_id": uid, "role": role} for uid, role in members.items()],
            )
        return team.id


def test_every_team_comes_with_its_members_leads_and_the_roles_the_platform_gave(
    db_engine: Engine,
) -> None:
    acme = _org(db_engine, "acme")
    ids = [_user(db_engine, acme, f"u{i}@acme.test") for i in range(12)]
    many = _team(db_engine, acme, "Many", {uid: "member" for uid in ids[:10]} | {ids[10]: "lead"})
    led = _team(db_engine, acme, "Led", {ids[0]: "lead", ids[1]: "lead", ids[2]: "member"})
    # A role the sync never writes (the platform's own), beside the usual two.
    coached = _team(db_engine, acme, "Coached", {ids[3]: "coach", ids[4]: "member", ids[5]: "lead"})
    empty = _team(db_engine, acme, "Empty", {})
    other = _org(db_engine, "other")
    stranger = _user(db_engine, other, "x@other.test")
    _team(db_engine, other, "Not ours", {stranger: "member"})

    with read_session(db_engine) as session:
        directory = load_directory(session, acme)

    members = {team.id: team.members for team in directory.teams}
    assert members == {
        many: {uid: "member" for uid in ids[:10]} | {ids[10]: "lead"},
        led: {ids[0]: "lead", ids[1]: "lead", ids[2]: "member"},
        coached: {ids[3]: "coach", ids[4]: "member", ids[5]: "lead"},
        empty: {},
    }
    assert {u.email for u in directory.users} == {"owner@acme.test", *(f"u{i}@acme.test" for i in range(12))}
