"""Which webhook events an HR change causes, as Personio maps them (pure: no state, no I/O).

person.updated: first name, last name, gender, email, preferred name (language code and custom
attributes too, which the sandbox's admin API cannot change). employment.*: the employment
(status, position, supervisor, office, org units, dates, type, hours). Notifications are
"dataless": the payload names what changed, never the new values.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

PERSON_FIELDS: frozenset[str] = frozenset({"first_name", "last_name", "gender", "email", "preferred_name"})
EMPLOYMENT_FIELDS: frozenset[str] = frozenset(
    {
        "status",
        "position",
        "employment_type",
        "supervisor_id",
        "department",
        "team",
        "office",
        "subcompany",
        "weekly_working_hours",
        "hire_date",
        "contract_end_date",
        "termination_date",
        "termination_type",
        "termination_reason",
    }
)
EMPLOYMENT_ID_OFFSET = 1_000_000  # the sandbox's employment ids: person id + this [UNVERIFIED shape]


@dataclass(frozen=True)
class Event:
    """One event to deliver: its name and its (dataless) payload."""

    name: str
    payload: dict[str, Any]


def person_event(name: str, person_id: int) -> Event:
    """`person.<name>` for one person: `{"id": "<person id>"}`."""
    return Event(f"person.{name}", {"id": str(person_id)})


def employment_event(name: str, person_id: int) -> Event:
    """`employment.<name>` for a person's (single) employment: `{"id", "person": {"id"}}`."""
    return Event(
        f"employment.{name}", {"id": str(person_id + EMPLOYMENT_ID_OFFSET), "person": {"id": str(person_id)}}
    )


def hire_events(person_id: int) -> list[Event]:
    """A hire creates the person and their employment."""
    return [person_event("created", person_id), employment_event("created", person_id)]


def change_events(person_id: int, before: Mapping[str, Any], after: Mapping[str, Any]) -> list[Event]:
    """The events for a change from flat record `before` to `after` (none when nothing changed).

    A leave, a rehire or a transfer is `employment.updated`; a new email or name `person.updated`.
    """
    changed = {name for name in after if before.get(name) != after.get(name)}
    events: list[Event] = []
    if changed & PERSON_FIELDS:
        events.append(person_event("updated", person_id))
    if changed & EMPLOYMENT_FIELDS:
        events.append(employment_event("updated", person_id))
    return events


def delete_events(person_id: int, reports: Iterable[int]) -> list[Event]:
    """Deleting a person deletes their employment; each report's employment loses its supervisor."""
    events = [employment_event("deleted", person_id), person_event("deleted", person_id)]
    events += [employment_event("updated", report) for report in reports]
    return events


def unit_rename_events(member_ids: Iterable[int]) -> list[Event]:
    """A renamed department, team or office changes the employment of each member
    ([UNVERIFIED]: the six events have no org-unit event, the employment covers org units)."""
    return [employment_event("updated", member) for member in member_ids]
