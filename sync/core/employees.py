"""The source record: one Personio employee, normalized."""

from __future__ import annotations

from dataclasses import dataclass

ACTIVE_STATUSES = frozenset({"active", "onboarding", "leave"})
INACTIVE = "inactive"


@dataclass(frozen=True, slots=True)
class OrgUnit:
    """An office, department or team as Personio nests it: an id and a name."""

    id: str
    name: str


@dataclass(frozen=True, slots=True)
class Employee:
    """One employee from Personio v1 `company/employees`.

    Strings are stripped; `email` is lower-cased (None when absent or blank);
    `status` and `employment_type` are lower-cased; absent values are None.
    """

    personio_id: str
    first_name: str = ""
    last_name: str = ""
    email: str | None = None
    status: str | None = None  # active | onboarding | leave | inactive
    position: str | None = None
    supervisor_id: str | None = None
    department: OrgUnit | None = None
    team: OrgUnit | None = None
    office: OrgUnit | None = None
    employment_type: str | None = None  # internal | external


@dataclass(frozen=True, slots=True)
class SkippedRecord:
    """A record the sync cannot use, and why: it becomes a warning of the run (never a failure)."""

    personio_id: str | None
    reason: str


# The attributes the sync asks Personio for (`attributes[]`), and the ones it cannot work without.
SYNC_ATTRIBUTES: tuple[str, ...] = (
    "first_name",
    "last_name",
    "email",
    "status",
    "position",
    "supervisor",
    "department",
    "team",
    "office",
    "employment_type",
)
REQUIRED_ATTRIBUTES: tuple[str, ...] = ("first_name", "last_name", "email", "status")
