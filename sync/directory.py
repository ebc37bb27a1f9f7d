"""The platform's directory as the plan sees it: a snapshot of one organization's users and teams."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, select
from sqlmodel import Session

from storage.models import Team, TeamMember, User, table


@dataclass(frozen=True, slots=True)
class DirectoryUser:
    id: int
    email: str
    first_name: str
    last_name: str
    job_title: str | None
    status: str  # active | deactivated
    role: str
    personio_id: str | None
    supervisor_id: int | None
    source: str

    @property
    def email_key(self) -> str:
        return self.email.lower()


@dataclass(frozen=True, slots=True)
class DirectoryTeam:
    id: int
    name: str
    source_attribute: str | None
    source_key: str | None
    members: dict[int, str]  # user id -> member | lead

    @property
    def managed(self) -> bool:
        return self.source_attribute is not None


@dataclass(frozen=True, slots=True)
class Directory:
    users: tuple[DirectoryUser, ...]
    teams: tuple[DirectoryTeam, ...]


def _user_columns() -> list[Column[Any]]:
    """The user columns a DirectoryUser is made of, in its field order."""
    users_t = table(User)
    return [users_t.c[name] for name in DirectoryUser.__dataclass_fields__]


def load_directory(session: Session, org_id: int) -> Directory:
    """Read the organization's users, teams and memberships in three queries."""
    users_t, teams_t, members_t = table(User), table(Team), table(TeamMember)
    user_rows = session.execute(select(*_user_columns()).where(users_t.c.org_id == org_id)).all()
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


def directory_report(session: Session, org_id: int) -> dict[str, list[dict[str, object]]]:
    """The directory as people read it (and as `python -m sync directory --json` prints it)."""
    users_t, teams_t, members_t = table(User), table(Team), table(TeamMember)
    users = session.execute(
        select(*_user_columns(), users_t.c.language)
        .where(users_t.c.org_id == org_id)
        .order_by(users_t.c.email_key)
    ).all()
    email_of = {row.id: row.email for row in users}
    teams = session.execute(
        select(teams_t.c.id, teams_t.c.name, teams_t.c.source_attribute)
        .where(teams_t.c.org_id == org_id)
        .order_by(teams_t.c.name)
    ).all()
    memberships = session.execute(
        select(members_t.c.team_id, members_t.c.user_id, members_t.c.role)
        .join(teams_t, teams_t.c.id == members_t.c.team_id)
        .where(teams_t.c.org_id == org_id)
    ).all()
    team_name = {t.id: t.name for t in teams}
    teams_of: dict[int, list[str]] = {}
    members_of: dict[int, list[str]] = {}
    leads_of: dict[int, list[str]] = {}
    for team_id, user_id, role in memberships:
        teams_of.setdefault(user_id, []).append(team_name[team_id])
        (leads_of if role == "lead" else members_of).setdefault(team_id, []).append(email_of[user_id])
    return {
        "users": [
            {
                "email": u.email,
                "first_name": u.first_name,
                "last_name": u.last_name,
                "job_title": u.job_title,
                "status": u.status,
                "role": u.role,
                "personio_id": u.personio_id,
                "supervisor_email": email_of.get(u.supervisor_id) if u.supervisor_id else None,
                "language": u.language,
                "source": u.source,
                "teams": sorted(teams_of.get(u.id, [])),
            }
            for u in users
        ],
        "teams": [
            {
                "name": t.name,
                "source": t.source_attribute or "manual",
                "members": sorted(members_of.get(t.id, [])),
                "leads": sorted(leads_of.get(t.id, [])),
            }
            for t in teams
        ],
    }
