"""What HR does to the company through the admin API: hire, change, let go, delete, rename units.

Records use a flat shape (`flat_record`) that is easy to write in a test; every change stamps
`last_modified_at` and the changed v1 attributes, so `updated_since` sees it.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sandbox.company import (
    DEPARTMENT,
    EMPLOYMENT_TYPES,
    GENDERS,
    OFFICE,
    STATUSES,
    SUBCOMPANY,
    TEAM,
    Company,
    Employee,
    OrgUnit,
)
from sandbox.dates import berlin, format_datetime, parse_day
from sandbox.names import email_local_part


class PersonnelError(ValueError):
    """A change the admin API refuses; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


# Flat field -> the v1 attribute it shows up as.
_UNIT_FIELDS: dict[str, str] = {"department": DEPARTMENT, "team": TEAM, "office": OFFICE}
_TEXT_FIELDS = ("first_name", "last_name", "preferred_name", "position", "weekly_working_hours")
_OPTIONAL_TEXT_FIELDS = ("email", "termination_type", "termination_reason")
_CHOICE_FIELDS: dict[str, tuple[str, ...]] = {
    "status": STATUSES,
    "employment_type": EMPLOYMENT_TYPES,
    "gender": GENDERS,
}
_DATE_FIELDS = ("hire_date", "contract_end_date", "termination_date")
EDITABLE_FIELDS: frozenset[str] = frozenset(
    {*_UNIT_FIELDS, *_TEXT_FIELDS, *_OPTIONAL_TEXT_FIELDS, *_CHOICE_FIELDS, *_DATE_FIELDS, "supervisor_id"}
)
_ATTRIBUTE_OF: dict[str, str] = {"supervisor_id": "supervisor"}


def flat_record(company: Company, employee: Employee) -> dict[str, Any]:
    """An employee as the admin API shows it: plain values, org units as `{id, name}` or null."""

    def unit(kind: str, unit_id: int | None) -> dict[str, Any] | None:
        found = company.units[kind].get(unit_id) if unit_id is not None else None
        return {"id": found.id, "name": found.name} if found else None

    office = company.units[OFFICE].get(employee.office_id) if employee.office_id is not None else None
    return {
        "id": employee.id,
        "first_name": employee.first_name,
        "last_name": employee.last_name,
        "preferred_name": employee.preferred_name,
        "email": employee.email,
        "gender": employee.gender,
        "status": employee.status,
        "position": employee.position,
        "employment_type": employee.employment_type,
        "supervisor_id": employee.supervisor_id,
        "department": unit(DEPARTMENT, employee.department_id),
        "team": unit(TEAM, employee.team_id),
        "office": unit(OFFICE, employee.office_id),
        "subcompany": unit(SUBCOMPANY, office.subcompany_id if office else None),
        "weekly_working_hours": employee.weekly_working_hours,
        "hire_date": _iso(employee.hire_date),
        "contract_end_date": _iso(employee.contract_end_date),
        "termination_date": _iso(employee.termination_date),
        "termination_type": employee.termination_type,
        "termination_reason": employee.termination_reason,
        "created_at": format_datetime(employee.created_at),
        "last_modified_at": format_datetime(employee.last_modified_at),
    }


def org_units(company: Company) -> dict[str, list[dict[str, Any]]]:
    """Every department, team and office (and subcompany) as `{id, name}`, by id."""
    return {
        key: [{"id": unit.id, "name": unit.name} for _, unit in sorted(company.units[kind].items())]
        for key, kind in (
            ("departments", DEPARTMENT),
            ("teams", TEAM),
            ("offices", OFFICE),
            ("subcompanies", SUBCOMPANY),
        )
    }


def hire(company: Company, fields: Any, now: datetime) -> Employee:
    """Add a person. `first_name` and `last_name` are required; an absent email becomes
    `first.last@<company domain>` (numbered if taken), an explicit null stays empty.

    Raises PersonnelError (422) for missing or invalid fields.
    """
    if not isinstance(fields, dict):
        raise PersonnelError(422, "the body must be a JSON object")
    for required in ("first_name", "last_name"):
        if not isinstance(fields.get(required), str) or not fields[required].strip():
            raise PersonnelError(422, f"{required} is required")
    today = berlin(now).date()
    employee = Employee(
        id=company.next_employee_id(),
        first_name="",
        last_name="",
        email=None,
        gender=None,
        status="active",
        position="",
        employment_type="internal",
        hire_date=today,
        created_at=now,
        last_modified_at=now,
        baseline_modified_at=now,
    )
    fields = dict(fields)
    if "email" not in fields:
        fields["email"] = _free_address(company, fields["first_name"], fields["last_name"])
    if "status" not in fields and "hire_date" in fields:
        # Personio: without a status, a future hire date means onboarding.
        hire_day = _day_field("hire_date", fields["hire_date"])
        fields["status"] = "onboarding" if hire_day and hire_day > today else "active"
    _apply(company, employee, fields, now)
    employee.probation_period_end = employee.hire_date + timedelta(days=182)
    employee.attribute_changed_at.clear()  # everything is new; baseline_modified_at covers it
    company.add(employee)
    return employee


def update(company: Company, employee: Employee, fields: Any, now: datetime) -> Employee:
    """Change any editable flat field. `status: inactive` is a leave (termination dated today unless
    given), `status: active` after inactive is a rehire (termination cleared); department/team/office
    by id or name is a transfer. Raises PersonnelError (422) for invalid fields, changing nothing.
    """
    if not isinstance(fields, dict):
        raise PersonnelError(422, "the body must be a JSON object")
    _apply(company, employee, fields, now)
    return employee


def delete(company: Company, employee_id: int, now: datetime) -> None:
    """Remove an employee; their reports lose their supervisor rather than point at no one.

    Raises PersonnelError (404) for an unknown id.
    """
    if employee_id not in company.employees:
        raise PersonnelError(404, f"employee {employee_id} not found")
    company.remove(employee_id)
    for other in company.employees.values():
        if other.supervisor_id == employee_id:
            other.supervisor_id = None
            _stamp(other, {"supervisor"}, now)


def rename_unit(company: Company, kind: str, unit_id: int, name: Any) -> OrgUnit:
    """Rename a department, team or office; every member shows the new name at once.

    Members' `last_modified_at` does not move: their own record did not change.
    Raises PersonnelError (404 unknown unit, 422 bad name).
    """
    unit = company.units[kind].get(unit_id)
    if unit is None:
        raise PersonnelError(404, f"{kind.lower()} {unit_id} not found")
    if not isinstance(name, str) or not name.strip():
        raise PersonnelError(422, "name must be a non-empty string")
    unit.name = name.strip()
    return unit


# ----- applying flat fields ------------------------------------------------------------------------


def _apply(company: Company, employee: Employee, fields: dict[str, Any], now: datetime) -> None:
    """Validate every field first, then change the record, so a refused request changes nothing."""
    unknown = sorted(set(fields) - EDITABLE_FIELDS)
    if unknown:
        raise PersonnelError(422, f"unknown or read-only field(s): {', '.join(unknown)}")
    values: dict[str, Any] = {}
    for name, value in fields.items():
        values[name] = _parse(company, employee, name, value)
    today = berlin(now).date()
    status = values.get("status")
    if status == "inactive" and employee.status != "inactive":
        values.setdefault("termination_date", employee.termination_date or today)
    elif status is not None and status != "inactive" and employee.status == "inactive":
        for cleared in ("termination_date", "termination_type", "termination_reason"):
            values.setdefault(cleared, None)
    changed: set[str] = set()
    for name, value in values.items():
        attribute = _ATTRIBUTE_OF.get(name, name)
        if name in _UNIT_FIELDS:
            name = f"{name}_id"
        if getattr(employee, name) != value:
            setattr(employee, name, value)
            changed.add(attribute)
            if name == "office_id":
                changed.add("subcompany")
            if name == "termination_date":
                employee.last_working_day = value
                changed.add("last_working_day")
    if "email" in changed:
        company.email_changed()
    _stamp(employee, changed, now)


def _parse(company: Company, employee: Employee, name: str, value: Any) -> Any:
    if name in _UNIT_FIELDS:
        return _unit_id(company, _UNIT_FIELDS[name], value)
    if name in _TEXT_FIELDS:
        if not isinstance(value, str):
            raise PersonnelError(422, f"{name} must be a string")
        return value
    if name in _OPTIONAL_TEXT_FIELDS:
        if value is not None and not isinstance(value, str):
            raise PersonnelError(422, f"{name} must be a string or null")
        return value  # kept verbatim: tests plant padded or upper-case emails on purpose
    if name in _CHOICE_FIELDS:
        if value not in _CHOICE_FIELDS[name]:
            raise PersonnelError(422, f"{name} must be one of {', '.join(_CHOICE_FIELDS[name])}")
        return value
    if name in _DATE_FIELDS:
        day = _day_field(name, value)
        if day is None and name == "hire_date":
            raise PersonnelError(422, "hire_date cannot be empty")
        return day
    # supervisor_id
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value not in company.employees:
        raise PersonnelError(422, f"Supervisor with ID {value} not found")
    if value == employee.id:
        raise PersonnelError(422, "an employee cannot supervise themselves")
    return value


def _unit_id(company: Company, kind: str, value: Any) -> int | None:
    """A unit given by id, by name (created when new), as `{"id"}`/`{"name"}`, or null for none."""
    if isinstance(value, dict):
        value = value.get("id", value.get("name"))
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        if value not in company.units[kind]:
            raise PersonnelError(422, f"{kind} {value} not found")
        return value
    if isinstance(value, str) and value.strip():
        unit = company.unit_named(kind, value) or company.add_unit(kind, value)
        return unit.id
    raise PersonnelError(422, f"{kind.lower()} must be an id, a name or null")


def _day_field(name: str, value: Any) -> date | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise PersonnelError(422, f"{name} must be a YYYY-MM-DD string or null")
    try:
        return parse_day(value)
    except ValueError:
        raise PersonnelError(422, f"{name} must be a YYYY-MM-DD string or null") from None


def _free_address(company: Company, first_name: str, last_name: str) -> str:
    local = email_local_part(first_name, last_name)
    number = 1
    while company.with_email(address := f"{local}{number if number > 1 else ''}@{company.domain}"):
        number += 1
    return address


def _stamp(employee: Employee, attributes: set[str], now: datetime) -> None:
    if not attributes:
        return
    employee.last_modified_at = now
    for attribute in attributes:
        employee.attribute_changed_at[attribute] = now


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None
