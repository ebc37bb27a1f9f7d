"""A snapshot of one organization's directory (users, teams, memberships) read for the plan."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from sqlalchemy import Column, select
from sqlmodel import Session

from storage.models import Team, TeamMember, User, table
from sync.core.directory import Directory, DirectoryTeam, DirectoryUser


def user_columns() -> list[Column[Any]]:
    """The user columns a DirectoryUser is made of, in its field order."""
    users_t = table(User)
    return [users_t.c[f.name] for f in fields(DirectoryUser) if f.init]


def load_directory(session: Session, org_id: int) -> Directory:
    """Read the organization's users, teams and memberships in three queries."""
    users_t, teams_t, members_t = table(User), table(Team), table(TeamMember)
    user_rows = session.execute(select(*user_columns()).where(users_t.c.org_id == org_id)).all()
    users = tuple(DirectoryUser(*row) for row in user_rows)
    members: dict[int, dict[int, str]] = {}
    member_rows = session.execute(
        select(members_t.c.team_id, members_t.c.user_id, members_t.c.role)
        .join(teams_t, teams_t.c.id == members_t.c.team_id)
        .where(teams_t.c.org_id == org_id)
    ).all()
    for team_id, user_id, role in member_rows:
        members.setdefault(team_id, {})[user_id] = role
    team_rows = session.execute(
        select(teams_t.c.id, teams_t.c.name, teams_t.c.source_attribute, teams_t.c.source_key).where(
            teams_t.c.org_id == org_id
        )
    ).all()
    teams = tuple(
        DirectoryTeam(id=tid, name=name, source_attribute=attr, source_key=key, members=members.get(tid, {}))
        for tid, name, attr, key in team_rows
    )
    return Directory(users=users, teams=teams)
