"""A snapshot of one organization's directory (users, teams, memberships) read for the plan, and
its digest: the SHA-256 of the rows as read, so that the same digest means the same directory."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

import orjson
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


@dataclass(frozen=True)
class _Rows:
    """The rows a snapshot is made of, as the database returned them, in a fixed order."""

    users: Sequence[Any]
    teams: Sequence[Any]
    memberships: Sequence[Any]  # per team: its member ids, its lead ids, how many in all
    other_roles: Sequence[Any]  # (team id, user id, role) for roles the sync does not write

    def digest(self) -> str:
        """The SHA-256 of every value read: two snapshots with the same digest are the same directory
        (the values are JSON-encoded, which keeps None, numbers and text apart)."""
        sha = hashlib.sha256()
        for rows in (self.users, self.teams, self.memberships, self.other_roles):
            sha.update(orjson.dumps([tuple(row) for row in rows]))
            sha.update(b"\n")
        return sha.hexdigest()


def load_directory(session: Session, org_id: int) -> Directory:
    """Read the organization's users, teams and memberships in three queries (four when a
    membership has a role other than member or lead). `Directory.digest` is `directory_digest`."""
    rows = _read(session, org_id)
    users = tuple(DirectoryUser(*row) for row in rows.users)
    members = _memberships(rows)
    teams = tuple(
        DirectoryTeam(id=tid, name=name, source_attribute=attr, source_key=key, members=members.get(tid, {}))
        for tid, name, attr, key in rows.teams
    )
    return Directory(users=users, teams=teams, digest=rows.digest())


def directory_digest(session: Session, org_id: int) -> str:
    """The digest of the organization's directory, read as `load_directory` reads it, without making
    the snapshot's objects (a few times faster)."""
    return _read(session, org_id).digest()


def _read(session: Session, org_id: int) -> _Rows:
    users_t, teams_t, members_t = table(User), table(Team), table(TeamMember)
    # Ordered, so that the same directory is read as the same rows (PostgreSQL may scan in parallel).
    users = session.execute(
        select(*user_columns()).where(users_t.c.org_id == org_id).order_by(users_t.c.id)
    ).all()
    teams = session.execute(
        select(teams_t.c.id, teams_t.c.name, teams_t.c.source_attribute, teams_t.c.source_key)
        .where(teams_t.c.org_id == org_id)
        .order_by(teams_t.c.id)
    ).all()
    ordered = session.get_bind().dialect.name != "sqlite"

    def ids_with(role: str) -> Any:
        member_id = case((members_t.c.role == role, cast(members_t.c.user_id, String)))
        listed = func.aggregate_strings(member_id, SEPARATOR)
        # SQLite (3.40) cannot order inside group_concat; its scan of the team_member primary key
        # lists each team's members in user id order. PostgreSQL is told the order.
        return listed.aggregate_order_by(members_t.c.user_id) if ordered else listed

    memberships = session.execute(
        select(teams_t.c.id, ids_with(TeamRole.MEMBER), ids_with(TeamRole.LEAD), func.count())
        .join(members_t, members_t.c.team_id == teams_t.c.id)
        .where(teams_t.c.org_id == org_id)
        .group_by(teams_t.c.id)
        .order_by(teams_t.c.id)  # the order the groups are made in on SQLite: no sort there
    ).all()
    other_roles: Sequence[Any] = ()
    # A team whose count does not add up has a role the sync does not write (the platform may use
    # others): those memberships are read row by row.
    if any(_count_ids(members) + _count_ids(leads) != count for _tid, members, leads, count in memberships):
        usual = (TeamRole.MEMBER.value, TeamRole.LEAD.value)
        other_roles = session.execute(
            select(members_t.c.team_id, members_t.c.user_id, members_t.c.role)
            .join(teams_t, teams_t.c.id == members_t.c.team_id)
            .where(teams_t.c.org_id == org_id, members_t.c.role.not_in(usual))
            .order_by(members_t.c.team_id, members_t.c.user_id)
        ).all()
    return _Rows(users=users, teams=teams, memberships=memberships, other_roles=other_roles)


def _memberships(rows: _Rows) -> dict[int, dict[int, str]]:
    """team id -> {user id: role} for every team of the organization that has members.

    The database lists each team's members and leads as two strings of ids (one row per team, not
    one per membership: at 100,000 employees that is half a million rows fewer to turn into Python
    objects).
    """
    teams: dict[int, dict[int, str]] = {}
    for team_id, member_ids, lead_ids, _count in rows.memberships:
        team = teams[team_id] = dict.fromkeys(_ids(member_ids), TeamRole.MEMBER.value)
        team.update(dict.fromkeys(_ids(lead_ids), TeamRole.LEAD.value))
    for team_id, user_id, role in rows.other_roles:
        teams[team_id][user_id] = role
    return teams


def _count_ids(listed: str | None) -> int:
    return listed.count(SEPARATOR) + 1 if listed else 0


def _ids(listed: str | None) -> map[int]:
    return map(int, listed.split(SEPARATOR)) if listed else map(int, ())
