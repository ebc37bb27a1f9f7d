"""The values a plan is made of: changes as people read them, and the operations apply executes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from sync.core.states import ChangeAction, ChangeEntity, TeamRole

COUNT_KEYS: tuple[str, ...] = (
    "users_created",
    "users_updated",
    "users_deactivated",
    "users_reactivated",
    "teams_created",
    "teams_updated",
    "teams_deleted",
    "memberships_added",
    "memberships_removed",
    "skipped",
)

TeamKey = tuple[str, str]  # (source attribute, source key)

# The before/after value of a membership change: one shared, never-mutated dict per role the sync
# writes (a first sync has hundreds of thousands of them; the change log encodes each only once).
ROLE_VALUES: dict[str, dict[str, str]] = {role.value: {"role": role.value} for role in TeamRole}


def role_value(role: str) -> dict[str, str]:
    """The change value of `role` (one the platform gave and the sync does not write included)."""
    return ROLE_VALUES.get(role) or {"role": role}


# The values below are NamedTuples: immutable like frozen dataclasses, made in a third of the time
# (a first sync of 100,000 employees makes about a million of them).


class Change(NamedTuple):
    """One line of the preview and of the run's change log."""

    entity: ChangeEntity
    action: ChangeAction  # the actions each entity has: see ChangeAction
    key: str  # email, team name, or "team name / email"
    personio_id: str | None = None
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "entity": self.entity,
            "action": self.action,
            "key": self.key,
            "personio_id": self.personio_id,
            "before": self.before,
            "after": self.after,
        }


class NewUser(NamedTuple):
    personio_id: str
    email: str
    first_name: str
    last_name: str
    job_title: str | None


class UserUpdate(NamedTuple):
    user_id: int
    values: dict[str, Any]  # column -> new value; "status" may be a UserStatus


class NewTeam(NamedTuple):
    attribute: str
    key: str
    name: str


class MembershipAdd(NamedTuple):
    team: TeamKey
    personio_id: str
    role: str  # a TeamRole


def numeric_first(key: str) -> tuple[int, int | str]:
    """Sort Personio ids as numbers where they are numbers."""
    return (0, int(key)) if key.isdigit() else (1, key)


def empty_counts() -> dict[str, int]:
    """Every count key at zero (a run or Test that planned nothing)."""
    return {key: 0 for key in COUNT_KEYS}


def counts_text(counts: Mapping[str, object]) -> str:
    """The counts that are not zero, for a log line: `users_created=3, teams_created=1` or `no changes`."""
    changed = [f"{key}={value}" for key, value in counts.items() if isinstance(value, int) and value]
    return ", ".join(changed) or "no changes"
