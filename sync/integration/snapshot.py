"""A snapshot of one organization's directory (users, teams, memberships) read for the plan."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from sqlalchemy import Column, String, case, cast, func, select
from sqlmodel import Session

from storage.models import Team, TeamMember, User, table
from sync.core.directory import Directory, DirectoryTeam, DirectoryUser
from sync.core.states import TeamRole

SEPARATOR = ","  # between user ids in one aggregated list (ids are integers: never inside one)


def user_columns() -> list[Column[Any]]:
    """The user columns a DirectoryUser is made of, in its field order."""
    users_t = table(User)
    return [users_t.c[f.name] for f in fields(DirectoryUser) if f.init]


def load_directory(session: Session, org_id: int) -> Directory:
    """Read the organization's users, teams and memberships in three queries (four when a
    membership has a role other than member or lead)."""
    users_t, teams_t = table(User), table(Team)
    user_rows = session.execute(select(*user_columns()).where(users_t.c.org_id == org_id)).all()
    users = tuple(DirectoryUser(*row) for row in user_rows)
    members = _memberships(session, org_id)
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


def _memberships(session: Session, org_id: int) -> dict[int, dict[int, str]]:
    """team id -> {user id: role} for every team of the organization.

    The database lists each team's members and leads as two strings of ids (one row per team, not
    one per membership: at 100,000 employees that is half a million rows fewer to turn into Python
    objects). A team whose count does not add up has a role the sync does not write (the platform
    may use others): those memberships are read row by row.
    """
    members_t, teams_t = table(TeamMember), table(Team)

    def ids_with(role: str) -> Any:
        member_id = case((members_t.c.role == role, cast(members_t.c.user_id, String)))
        return func.aggregate_strings(member_id, SEPARATOR)

    rows = session.execute(
        select(teams_t.c.id, ids_with(TeamRole.MEMBER), ids_with(TeamRole.LEAD), func.count())
        .join(members_t, members_t.c.team_id == teams_t.c.id)
        .where(teams_t.c.org_id == org_id)
        .group_by(teams_t.c.id)  # the order the teams are read in (SQLite then needs no sort)
    ).all()
    teams: dict[int, dict[int, str]] = {}
    other_roles = False
    for team_id, member_ids, lead_ids, count in rows:
        team = teams[team_id] = dict.fromkeys(_ids(member_ids), TeamRole.MEMBER.value)
        team.update(dict.fromkeys(_ids(lead_ids), TeamRole.LEAD.value))
        other_roles = other_roles or len(team) != count
    if other_roles:
        usual = (TeamRole.MEMBER.value, TeamRole.LEAD.value)
        for team_id, user_id, role in session.execute(
            select(members_t.c.team_id, members_t.c.user_id, members_t.c.role)
            .join(teams_t, teams_t.c.id == members_t.c.team_id)
            .where(teams_t.c.org_id == org_id, members_t.c.role.not_in(usual))
        ):
            teams[team_id][user_id] = role
    return teams


def _ids(listed: str | None) -> map[int]:
    return map(int, listed.split(SEPARATOR)) if listed else map(int, ())
