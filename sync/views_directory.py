"""Read-only queries for the Directory page: the organization's users and teams as tables."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Engine

from storage.db import read_session
from sync.directory import load_directory
from sync.settings import TEAM_ATTRIBUTE_LABELS


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
                "Status": "Active" if u.status == "active" else "Deactivated",
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
                "Lead": ", ".join(name(uid) for uid, role in t.members.items() if role == "lead"),
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
