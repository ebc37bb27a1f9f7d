"""Personio v1 attribute encoding: every attribute is `{label, value, type, universal_id}`.

Values follow the reference (section 2.5): dates are midnight with the Berlin offset, weekly hours are a
string, the supervisor is a nested Employee carrying only its id, org units are nested objects whose
attributes are plain values.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sandbox.catalog import TSHIRT_SIZES
from sandbox.company import DEPARTMENT, OFFICE, SUBCOMPANY, TEAM, Company, Employee
from sandbox.dates import format_date, format_datetime


@dataclass(frozen=True)
class Attribute:
    """One readable employee attribute, as `/v1/company/employees/attributes` lists it."""

    key: str
    label: str
    type: str  # Personio's TypeEnum: standard, date, integer, decimal, list, link, tags, multiline
    universal_id: str | None
    value: Callable[[Employee, Company], Any]
    options: tuple[str, ...] = ()


# Dates repeat across thousands of people, so their text is worth caching; timestamps are unique.
_day_text = lru_cache(maxsize=8192)(format_date)


def _nested(company: Company, kind: str, unit_id: int | None) -> Any:
    """An org unit attribute's value: the nested object, or null when the person has none."""
    unit = company.units[kind].get(unit_id) if unit_id is not None else None
    if unit is None:
        return None
    return {"type": kind, "attributes": {"id": unit.id, "name": unit.name}}


def _subcompany(employee: Employee, company: Company) -> Any:
    """The legal entity follows from the office, as it does for the people HR files under it."""
    office = company.units[OFFICE].get(employee.office_id) if employee.office_id is not None else None
    return _nested(company, SUBCOMPANY, office.subcompany_id if office else None)


def _supervisor(employee: Employee, company: Company) -> Any:
    if employee.supervisor_id is None:
        return None
    return {"type": "Employee", "attributes": {"id": _id_attribute(employee.supervisor_id)}}


def _id_attribute(employee_id: int) -> dict[str, Any]:
    return {"label": "ID", "value": employee_id, "type": "integer", "universal_id": "id"}


def _standard(key: str, label: str, value: Callable[[Employee, Company], Any]) -> Attribute:
    return Attribute(key, label, "standard", key, value)


def _date(key: str, label: str, value: Callable[[Employee, Company], Any]) -> Attribute:
    return Attribute(key, label, "date", key, value)


ATTRIBUTES: tuple[Attribute, ...] = (
    Attribute("id", "ID", "integer", "id", lambda e, c: e.id),
    _standard("first_name", "First name", lambda e, c: e.first_name),
    _standard("last_name", "Last name", lambda e, c: e.last_name),
    _standard("preferred_name", "Name (preferred)", lambda e, c: e.preferred_name),
    _standard("email", "Email", lambda e, c: e.email),
    _standard("gender", "Gender", lambda e, c: e.gender),
    _standard("status", "Status", lambda e, c: e.status),
    _standard("position", "Position", lambda e, c: e.position),
    _standard("supervisor", "Supervisor", _supervisor),
    _standard("employment_type", "Employment type", lambda e, c: e.employment_type),
    _standard("weekly_working_hours", "Weekly hours", lambda e, c: e.weekly_working_hours),
    _date("hire_date", "Hire date", lambda e, c: _day_text(e.hire_date)),
    _date("contract_end_date", "Contract ends", lambda e, c: _day_text(e.contract_end_date)),
    _date("termination_date", "Termination date", lambda e, c: _day_text(e.termination_date)),
    _standard("termination_type", "Termination type", lambda e, c: e.termination_type),
    _standard("termination_reason", "Termination reason", lambda e, c: e.termination_reason),
    _date("probation_period_end", "Probation period end", lambda e, c: _day_text(e.probation_period_end)),
    Attribute("created_at", "created_at", "date", "created_at", lambda e, c: format_datetime(e.created_at)),
    _date("last_modified_at", "Last modified", lambda e, c: format_datetime(e.last_modified_at)),
    _standard("subcompany", "Subcompany", _subcompany),
    _standard("office", "Office", lambda e, c: _nested(c, OFFICE, e.office_id)),
    _standard("department", "Department", lambda e, c: _nested(c, DEPARTMENT, e.department_id)),
    _date("last_working_day", "Last day of work", lambda e, c: _day_text(e.last_working_day)),
    _standard("profile_picture", "Profile Picture", lambda e, c: None),
    _standard("team", "Team", lambda e, c: _nested(c, TEAM, e.team_id)),
    # Custom attributes are keyed dynamic_<n>; universal_id is a global id or null.
    Attribute(
        "dynamic_1021", "Date of birth", "date", "date_of_birth", lambda e, c: _day_text(e.date_of_birth)
    ),
    Attribute("dynamic_1022", "T-shirt size", "list", None, lambda e, c: e.tshirt_size, TSHIRT_SIZES),
)
ATTRIBUTE_KEYS: tuple[str, ...] = tuple(attribute.key for attribute in ATTRIBUTES)


def readable_attributes(withheld: Collection[str]) -> tuple[Attribute, ...]:
    """The attributes a credential may read: all but the withheld ones; `id` can never be withheld."""
    return tuple(a for a in ATTRIBUTES if a.key == "id" or a.key not in withheld)


def projection(readable: tuple[Attribute, ...], requested: Collection[str]) -> tuple[Attribute, ...]:
    """What a request gets: the readable attributes it asked for (all when it asked for none), plus `id`.

    Unknown or unreadable keys are silently skipped, as Personio does.
    """
    if not requested:
        return readable
    return tuple(a for a in readable if a.key == "id" or a.key in requested)


def encode_employee(employee: Employee, company: Company, attributes: Iterable[Attribute]) -> dict[str, Any]:
    """One `data[]` item: `{"type": "Employee", "attributes": {key: {label, value, type, universal_id}}}`."""
    return {
        "type": "Employee",
        "attributes": {
            a.key: {
                "label": a.label,
                "value": a.value(employee, company),
                "type": a.type,
                "universal_id": a.universal_id,
            }
            for a in attributes
        },
    }


def describe_attributes(attributes: Iterable[Attribute]) -> list[dict[str, Any]]:
    """The `data` of `/v1/company/employees/attributes`."""
    return [
        {
            "key": a.key,
            "label": a.label,
            "type": a.type,
            "universal_id": a.universal_id,
            "options": list(a.options),
        }
        for a in attributes
    ]
