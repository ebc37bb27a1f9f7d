"""Read-only queries for the Directory page: the organization's users and teams as tables."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Engine, select
from sqlmodel import Session

from storage.db import read_session
from storage.models import Team, TeamMember, User, table
from sync.core.settings import TEAM_ATTRIBUTE_LABELS
from sync.core.states import TeamRole, UserStatus
from sync.integration.snapshot import load_directory, user_columns


def directory_frames(engine: Engine, org_id: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The organization's users and teams as the platform holds them now."""
    with read_session(engine) as session:
        directory = load_directory(session, org_id)
    by_id = {u.id: u for u in directory.users}
    teams_of: dict[int, list[str]] = {}
    for team in sorted(directory.teams, key=lambda t: t.name.lower()):
        for user_id in team.members:
            teams_of.setdefault(user_id, []).append(team.name)

    def name(user_id: int | None) -> str:
        user = by_id.get(user_id) if user_id is not None else None
        if user is None:
            return ""
        return f"{user.first_name} {user.last_name}".strip() or user.email

    users = pd.DataFrame(
        [
            {
                "Name": f"{u.first_name} {u.last_name}".strip(),
                "Email": u.email,
                "Status": "Active" if u.status == UserStatus.ACTIVE else "Deactivated",
                "Role": u.role.capitalize(),
                "Job title": u.job_title or "",
                "Supervisor": name(u.supervisor_id),
                "Teams": ", ".join(teams_of.get(u.id, [])),
                "Source": "Personio" if u.source == "personio" else "Manual",
                "Personio ID": u.personio_id or "",
            }
            for u in sorted(
                directory.users, key=lambda u: (u.last_name.lower(), u.first_name.lower(), u.email)
            )
        ],
        columns=[
            "Name",
            "Email",
            "Status",
            "Role",
            "Job title",
            "Supervisor",
            "Teams",
            "Source",
            "Personio ID",
        ],
    )
    teams = pd.DataFrame(
        [
            {
                "Team": t.name,
                "Source": TEAM_ATTRIBUTE_LABELS.get(t.source_attribute, t.source_attribute)
                if t.source_attribute
                else "Manual",
                "Members": len(t.members),
                "Lead": ", ".join(name(uid) for uid, role in t.members.items() if role == TeamRole.LEAD),
                "Member names": ", ".join(sorted(name(uid) for uid in t.members)),
            }
            for t in sorted(directory.teams, key=lambda t: t.name.lower())
        ],
        columns=["Team", "Source", "Members", "Lead", "Member names"],
    )
    return users, teams


def search_frame(frame: pd.DataFrame, text: str) -> pd.DataFrame:
    """Rows in which any column holds `text` (case-insensitive)."""
    needle = text.strip().lower()
    if not needle or frame.empty:
        return frame
    haystack = frame.astype(str).agg(" ".join, axis=1).str.lower()
    return frame[haystack.str.contains(needle, regex=False)]


def directory_report(session: Session, org_id: int) -> dict[str, list[dict[str, object]]]:
    """The directory as people read it (and as `python -m sync directory --json` prints it)."""
    users_t, teams_t, members_t = table(User), table(Team), table(TeamMember)
    users = session.execute(
        select(*user_columns(), users_t.c.language)
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
        (leads_of if role == TeamRole.LEAD else members_of).setdefault(team_id, []).append(email_of[user_id])
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
