"""From Personio employees and the owner's settings to the directory the platform should hold.

Pure: no I/O, no database, no clock. DESIGN.md section 4 is the specification.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sync.core.changes import numeric_first
from sync.core.employees import ACTIVE_STATUSES, INACTIVE, REQUIRED_ATTRIBUTES, Employee, SkippedRecord
from sync.core.settings import SyncSettings

EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

# team attribute -> the Personio attribute it reads
TEAM_SOURCE_ATTRIBUTE = {
    "supervisor": "supervisor",
    "team": "team",
    "department": "department",
    "office": "office",
    "employment_type": "employment_type",
}


@dataclass(frozen=True, slots=True)
class DesiredUser:
    """A platform user as Personio says it should be."""

    personio_id: str
    email: str
    first_name: str
    last_name: str
    job_title: str | None
    active: bool
    supervisor_personio_id: str | None


@dataclass(frozen=True, slots=True)
class DesiredTeam:
    attribute: str
    key: str
    name: str
    members: frozenset[str]  # personio ids of active users
    leads: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class DesiredState:
    users: dict[str, DesiredUser]
    # returned by Personio but outside the sync's scope (externals while they are not synced)
    out_of_scope: frozenset[str]
    # returned but unusable (bad records): linked users of these are left as they are
    skipped_ids: frozenset[str]
    teams: tuple[DesiredTeam, ...]
    warnings: tuple[SkippedRecord, ...]
    sync_job_title: bool
    team_attributes: tuple[str, ...] = field(default=())
    # False when Personio withheld the supervisor attribute: links are then left as they are,
    # never read as "no supervisor" (that would unlink everyone).
    supervisors_known: bool = True


def required_attributes(settings: SyncSettings) -> tuple[str, ...]:
    """The Personio attributes a run cannot do without under these settings."""
    needed = list(REQUIRED_ATTRIBUTES)
    if not settings.sync_external or "employment_type" in settings.team_attributes:
        needed.append("employment_type")  # to tell internal from external employees
    if settings.sync_job_title:
        needed.append("position")
    needed.extend(TEAM_SOURCE_ATTRIBUTE[a] for a in settings.team_attributes)
    return tuple(dict.fromkeys(needed))


def in_scope(employee: Employee, settings: SyncSettings) -> bool:
    """Internal employees always; external ones only while "Sync external users" is on."""
    return settings.sync_external or employee.employment_type != "external"


def _skip_reason(employee: Employee) -> str | None:
    if not employee.email:
        return "No email address in Personio: the employee is skipped."
    if not EMAIL_PATTERN.match(employee.email):
        return f"The email address {employee.email!r} is not valid: the employee is skipped."
    if employee.status is None:
        return "No status in Personio: the employee is skipped."
    if employee.status not in ACTIVE_STATUSES and employee.status != INACTIVE:
        return f"Unknown Personio status {employee.status!r}: the employee is skipped."
    return None


def desired_state(
    employees: Sequence[Employee],
    settings: SyncSettings,
    *,
    present_attributes: frozenset[str] | None = None,
) -> DesiredState:
    """Scope, validity, user fields and teams for one organization.

    `present_attributes`: the attribute keys Personio returned at all (None: all of them).
    """
    warnings: list[SkippedRecord] = []
    skipped: set[str] = set()
    out_of_scope: set[str] = set()
    candidates: list[Employee] = []
    for employee in sorted(employees, key=lambda e: numeric_first(e.personio_id)):
        if not in_scope(employee, settings):
            out_of_scope.add(employee.personio_id)
            continue
        reason = _skip_reason(employee)
        if reason:
            warnings.append(SkippedRecord(employee.personio_id, reason))
            skipped.add(employee.personio_id)
            continue
        candidates.append(employee)

    # An email two records share cannot be given to either of them. A former (inactive)
    # record that shares the email of an active one is a rehire: the active record wins.
    active_emails = Counter(e.email for e in candidates if e.status in ACTIVE_STATUSES)
    all_emails = Counter(e.email for e in candidates)
    users: dict[str, DesiredUser] = {}
    for employee in candidates:
        email = employee.email or ""
        is_active = employee.status in ACTIVE_STATUSES
        if not is_active and active_emails[email]:
            skipped.add(employee.personio_id)  # a former record of someone active again
            continue
        shared = active_emails[email] > 1 if is_active else all_emails[email] > 1
        if shared:
            warnings.append(
                SkippedRecord(
                    employee.personio_id,
                    f"The email address {email} is used by {all_emails[email]} employees in Personio: "
                    "each of them is skipped until it is unique.",
                )
            )
            skipped.add(employee.personio_id)
            continue
        users[employee.personio_id] = DesiredUser(
            personio_id=employee.personio_id,
            email=email,
            first_name=employee.first_name,
            last_name=employee.last_name,
            job_title=(employee.position or None) if settings.sync_job_title else None,
            active=is_active,
            supervisor_personio_id=employee.supervisor_id,
        )

    by_id = {e.personio_id: e for e in employees}
    teams = desired_teams(users, by_id, settings.team_attributes)
    if "supervisor" in settings.team_attributes:
        warnings.extend(missing_supervisor_warnings(users, by_id))
    return DesiredState(
        users=users,
        out_of_scope=frozenset(out_of_scope),
        skipped_ids=frozenset(skipped),
        teams=teams,
        warnings=tuple(warnings),
        sync_job_title=settings.sync_job_title,
        team_attributes=settings.team_attributes,
        supervisors_known=present_attributes is None or "supervisor" in present_attributes,
    )


def team_base_name(attribute: str, key: str, label: str) -> str:
    """`Department IT`, `Team Backend`, `Office Munich`, `Employment type External`, `Peter Wright's team`."""
    if attribute == "supervisor":
        return f"{label}'s team"
    if attribute == "employment_type":
        return f"Employment type {key.capitalize()}"
    prefix = {"department": "Department", "team": "Team", "office": "Office"}[attribute]
    return f"{prefix} {label}"


def _supervisor_label(supervisor: Employee) -> str:
    full = f"{supervisor.first_name} {supervisor.last_name}".strip()
    return full or f"Supervisor {supervisor.personio_id}"  # a returned record without names


def missing_supervisor_warnings(
    users: dict[str, DesiredUser], by_id: dict[str, Employee]
) -> list[SkippedRecord]:
    """One warning per supervisor id that active users report to but Personio did not return.

    Such a supervisor gets no team (there is no name to give it); the warning says how many
    direct reports are affected. Ordered by supervisor id.
    """
    reports = Counter(
        u.supervisor_personio_id
        for u in users.values()
        if u.active and u.supervisor_personio_id and u.supervisor_personio_id not in by_id
    )
    warnings: list[SkippedRecord] = []
    for supervisor_id in sorted(reports, key=numeric_first):
        n = reports[supervisor_id]
        warnings.append(
            SkippedRecord(
                supervisor_id,
                f"Supervisor {supervisor_id} is not returned by Personio (not readable, deleted or "
                f"outside the company): no team for their {n} direct report{'' if n == 1 else 's'}.",
            )
        )
    return warnings


def desired_teams(
    users: dict[str, DesiredUser], by_id: dict[str, Employee], attributes: Iterable[str]
) -> tuple[DesiredTeam, ...]:
    """One team per value of each switched-on attribute that has active members."""
    active = [(u, by_id[u.personio_id]) for u in users.values() if u.active]
    groups: dict[tuple[str, str], set[str]] = {}
    labels: dict[tuple[str, str], str] = {}
    leads: dict[tuple[str, str], frozenset[str]] = {}
    for attribute in attributes:
        # Grouped by the value alone first (a run does this for every active employee and team
        # attribute: half a million times at 100,000 employees), then keyed by the attribute.
        members: dict[str, set[str]] = {}
        names: dict[str, str] = {}
        if attribute == "supervisor":
            for user, _ in active:
                key = user.supervisor_personio_id or ""
                group = members.get(key)
                if group is None:
                    supervisor = by_id.get(key)
                    if supervisor is None:
                        continue  # no supervisor, or one Personio did not return: no team (a warning)
                    group = members[key] = set()
                    names[key] = _supervisor_label(supervisor)
                    lead = users.get(key)
                    leads[(attribute, key)] = frozenset({key}) if lead and lead.active else frozenset()
                group.add(user.personio_id)
        elif attribute == "employment_type":
            for user, employee in active:
                key = employee.employment_type or "internal"
                group = members.get(key)
                if group is None:
                    group = members[key] = set()
                    names[key] = key
                group.add(user.personio_id)
        else:
            for user, employee in active:
                unit = getattr(employee, attribute)
                if unit is None or not unit.name:
                    continue
                group = members.get(unit.id)
                if group is None:
                    group = members[unit.id] = set()
                group.add(user.personio_id)
                names[unit.id] = unit.name  # the last one read names the team
        for key, group in members.items():
            groups[(attribute, key)] = group
            labels[(attribute, key)] = names[key]

    order = {a: i for i, a in enumerate(TEAM_SOURCE_ATTRIBUTE)}
    ordered = sorted(groups, key=lambda k: (order[k[0]], numeric_first(k[1])))
    team_names = unique_names([team_base_name(a, k, labels[(a, k)]) for a, k in ordered])
    return tuple(
        DesiredTeam(
            attribute=a,
            key=k,
            name=name,
            members=frozenset(groups[(a, k)]),
            leads=leads.get((a, k), frozenset()),
        )
        for (a, k), name in zip(ordered, team_names, strict=True)
    )


def unique_names(names: Sequence[str], taken: Iterable[str] = ()) -> list[str]:
    """Deterministic suffixes for clashes: the first keeps its name, later ones get " (2)", " (3)"...

    Names are compared case-insensitively; `taken` holds names that are not available at all.
    """
    used = {n.casefold() for n in taken}
    result: list[str] = []
    for name in names:
        candidate, n = name, 1
        while candidate.casefold() in used:
            n += 1
            candidate = f"{name} ({n})"
        used.add(candidate.casefold())
        result.append(candidate)
    return result
