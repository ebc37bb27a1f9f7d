"""The company the sandbox serves: its employees and org units, held in memory and ordered by id."""

from __future__ import annotations

from bisect import insort
from dataclasses import dataclass, field
from datetime import date, datetime

# Org unit kinds, spelled as Personio's `type` of the nested object.
DEPARTMENT = "Department"
TEAM = "Team"
OFFICE = "Office"
SUBCOMPANY = "Subcompany"
UNIT_KINDS: tuple[str, ...] = (DEPARTMENT, TEAM, OFFICE, SUBCOMPANY)

STATUSES: tuple[str, ...] = ("active", "onboarding", "leave", "inactive")
EMPLOYMENT_TYPES: tuple[str, ...] = ("internal", "external")
GENDERS: tuple[str, ...] = ("male", "female", "diverse")


@dataclass
class OrgUnit:
    """A department, team, office or subcompany. Offices name the subcompany that employs their people."""

    kind: str
    id: int
    name: str
    subcompany_id: int | None = None


@dataclass(slots=True)
class Employee:
    """One person as HR keeps them; `encoding` turns this into Personio's v1 attributes."""

    id: int
    first_name: str
    last_name: str
    email: str | None
    gender: str | None
    status: str
    position: str
    employment_type: str
    hire_date: date
    created_at: datetime
    last_modified_at: datetime
    preferred_name: str = ""
    supervisor_id: int | None = None
    department_id: int | None = None
    team_id: int | None = None
    office_id: int | None = None
    weekly_working_hours: str = "40"
    contract_end_date: date | None = None
    probation_period_end: date | None = None
    termination_date: date | None = None
    termination_type: str | None = None
    termination_reason: str | None = None
    last_working_day: date | None = None
    date_of_birth: date | None = None
    tshirt_size: str | None = None
    # When each v1 attribute last changed, for `updated_since` with `attributes[]`; an attribute that
    # never changed after the record was loaded counts as changed at `last_modified_at` of generation.
    attribute_changed_at: dict[str, datetime] = field(default_factory=dict)
    baseline_modified_at: datetime | None = None

    def changed_at(self, attribute: str) -> datetime:
        """When `attribute` (a v1 key) last changed."""
        return self.attribute_changed_at.get(attribute) or self.baseline_modified_at or self.created_at


@dataclass
class Company:
    """Employees and org units, with the few indexes the API needs to answer a page quickly."""

    name: str
    domain: str
    employees: dict[int, Employee] = field(default_factory=dict)
    units: dict[str, dict[int, OrgUnit]] = field(default_factory=lambda: {kind: {} for kind in UNIT_KINDS})
    _ids: list[int] = field(default_factory=list)
    _by_email: dict[str, list[int]] | None = None

    # ----- employees -------------------------------------------------------------------------------

    def add(self, employee: Employee) -> None:
        """Add an employee; ids stay sorted because the API lists by id."""
        self.employees[employee.id] = employee
        insort(self._ids, employee.id)
        self._by_email = None

    def remove(self, employee_id: int) -> Employee:
        """Remove an employee. Raises KeyError when absent."""
        employee = self.employees.pop(employee_id)
        self._ids.remove(employee_id)
        self._by_email = None
        return employee

    def next_employee_id(self) -> int:
        """The id a new hire gets: one above the highest ever listed (ids are never reused)."""
        return (self._ids[-1] + 1) if self._ids else 1000

    def ordered(self) -> list[Employee]:
        """Every employee ordered by id (a new list, safe to filter)."""
        return [self.employees[employee_id] for employee_id in self._ids]

    def ordered_slice(self, start: int, stop: int) -> list[Employee]:
        """Employees at positions [start, stop) in id order, without touching the rest."""
        return [self.employees[employee_id] for employee_id in self._ids[start:stop]]

    def count(self) -> int:
        """How many employees the company has."""
        return len(self._ids)

    def with_email(self, email: str) -> list[Employee]:
        """Employees whose email matches, ignoring case and surrounding spaces (dirty data has both)."""
        if self._by_email is None:
            index: dict[str, list[int]] = {}
            for employee_id in self._ids:
                address = self.employees[employee_id].email
                if address and address.strip():
                    index.setdefault(address.strip().lower(), []).append(employee_id)
            self._by_email = index
        return [self.employees[i] for i in self._by_email.get(email.strip().lower(), [])]

    def email_changed(self) -> None:
        """Tell the company an email changed so the email index is rebuilt on next use."""
        self._by_email = None

    # ----- org units -------------------------------------------------------------------------------

    def unit_named(self, kind: str, name: str) -> OrgUnit | None:
        """The unit of `kind` called `name` (case-insensitive), or None."""
        wanted = name.strip().casefold()
        return next((unit for unit in self.units[kind].values() if unit.name.casefold() == wanted), None)

    def add_unit(self, kind: str, name: str, *, subcompany_id: int | None = None) -> OrgUnit:
        """Create a unit; ids follow on from the kind's highest id so they look like Personio's."""
        units = self.units[kind]
        unit_id = max(units, default=_FIRST_UNIT_ID[kind] - 1) + 1
        if kind == OFFICE and subcompany_id is None:
            # A new office is staffed by the headquarters' legal entity, the first one created.
            subcompany_id = min(self.units[SUBCOMPANY], default=None)
        unit = OrgUnit(kind=kind, id=unit_id, name=name.strip(), subcompany_id=subcompany_id)
        units[unit_id] = unit
        return unit


# Distinct ranges per kind, as in Personio where a department id never looks like an office id.
_FIRST_UNIT_ID: dict[str, int] = {DEPARTMENT: 281500, TEAM: 59000, OFFICE: 131000, SUBCOMPANY: 7030}
