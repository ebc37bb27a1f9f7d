"""Small hand-made inputs for the pure parts (rules, plan)."""

from __future__ import annotations

from typing import Any

from sync.core.directory import Directory, DirectoryTeam, DirectoryUser
from sync.core.employees import Employee, OrgUnit
from sync.core.settings import SyncSettings


def make_employee(pid: str | int, first: str = "", last: str = "", **fields: Any) -> Employee:
    pid = str(pid)
    first = first or f"First{pid}"
    last = last or f"Last{pid}"
    defaults: dict[str, Any] = {
        "email": f"{first}.{last}@example.com".lower(),
        "status": "active",
        "position": "Engineer",
        "employment_type": "internal",
    }
    defaults.update(fields)
    for unit in ("department", "team", "office"):
        value = defaults.get(unit)
        if isinstance(value, tuple):
            defaults[unit] = OrgUnit(str(value[0]), value[1])
    return Employee(personio_id=pid, first_name=first, last_name=last, **defaults)


def make_user(uid: int, email: str, **fields: Any) -> DirectoryUser:
    values: dict[str, Any] = {
        "first_name": "",
        "last_name": "",
        "job_title": None,
        "status": "active",
        "role": "member",
        "personio_id": None,
        "supervisor_id": None,
        "source": "manual",
    }
    values.update(fields)
    return DirectoryUser(id=uid, email=email, **values)


def make_team(
    tid: int,
    name: str,
    attribute: str | None = None,
    key: str | None = None,
    members: dict[int, str] | None = None,
) -> DirectoryTeam:
    return DirectoryTeam(id=tid, name=name, source_attribute=attribute, source_key=key, members=members or {})


def directory(
    users: list[DirectoryUser] | None = None, teams: list[DirectoryTeam] | None = None
) -> Directory:
    return Directory(users=tuple(users or ()), teams=tuple(teams or ()))


def settings(**fields: Any) -> SyncSettings:
    values: dict[str, Any] = {"team_attributes": ()}
    values.update(fields)
    if isinstance(values["team_attributes"], list):
        values["team_attributes"] = tuple(values["team_attributes"])
    return SyncSettings(**values)
