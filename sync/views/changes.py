"""How planned or applied changes read to a person: labels, counts and before -> after text.

Shared by the Test preview (changes a run would make) and the run detail panel
(changes a run made). Pure: no database.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from sync.core.states import ChangeEntity

# The counts every run and Test reports, in the order people read them, with their labels.
COUNT_LABELS: dict[str, str] = {
    "users_created": "Users created",
    "users_updated": "Users updated",
    "users_deactivated": "Users deactivated",
    "users_reactivated": "Users reactivated",
    "teams_created": "Teams created",
    "teams_updated": "Teams renamed",
    "teams_deleted": "Teams deleted",
    "memberships_added": "Memberships added",
    "memberships_removed": "Memberships removed",
    "skipped": "Records skipped",
}
PLANNED_LABELS: dict[str, str] = {
    "users_created": "Users to create",
    "users_updated": "Users to update",
    "users_deactivated": "Users to deactivate",
    "users_reactivated": "Users to reactivate",
    "teams_created": "Teams to create",
    "teams_updated": "Teams to rename",
    "teams_deleted": "Teams to delete",
    "memberships_added": "Memberships to add",
    "memberships_removed": "Memberships to remove",
    "skipped": "Records skipped",
}
ENTITY_LABELS: dict[str, str] = {
    ChangeEntity.USER: "User",
    ChangeEntity.TEAM: "Team",
    ChangeEntity.MEMBERSHIP: "Membership",
}
FIELD_LABELS: dict[str, str] = {
    "first_name": "first name",
    "last_name": "last name",
    "job_title": "job title",
    "supervisor": "supervisor",
    "supervisor_email": "supervisor",
    "personio_id": "Personio ID",
    "email": "email",
    "status": "status",
    "name": "name",
    "role": "role",
    "team": "team",
    "user": "user",
    "language": "language",
}
CHANGE_COLUMNS = ["Entity", "Action", "Name or email", "Personio ID", "Change"]


def count_of(counts: Mapping[str, Any], key: str) -> int:
    value = counts.get(key, 0)
    return int(value) if isinstance(value, int | float) else 0


def total_changes(counts: Mapping[str, Any]) -> int:
    """Everything a run changed (skipped records are not changes)."""
    return sum(count_of(counts, key) for key in COUNT_LABELS if key != "skipped")


def _show(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) or "—"
    return str(value)


def _label(field: str) -> str:
    return FIELD_LABELS.get(field, field.replace("_", " "))


def describe_change(
    before: Mapping[str, Any] | None, after: Mapping[str, Any] | None, *, key: str = ""
) -> str:
    """`before -> after` for the fields that differ; the values alone for a create or delete.

    A value equal to `key` (the change's name or email, shown in its own column) is left out.
    """
    if before and after:
        fields = [k for k in dict.fromkeys([*before, *after]) if before.get(k) != after.get(k)]
        return "; ".join(f"{_label(k)}: {_show(before.get(k))} → {_show(after.get(k))}" for k in fields)
    values = after or before or {}
    return "; ".join(
        f"{_label(k)}: {_show(v)}"
        for k, v in values.items()
        if v not in (None, "") and not (key and v == key)
    )


def action_label(action: str) -> str:
    return action.replace("_", " ").capitalize()


def changes_frame(changes: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per change, with readable columns, in the order given."""
    rows = [
        {
            "Entity": ENTITY_LABELS.get(str(c.get("entity", "")), str(c.get("entity", ""))),
            "Action": action_label(str(c.get("action", ""))),
            "Name or email": str(c.get("key", "")),
            "Personio ID": _show(c.get("personio_id")) if c.get("personio_id") else "",
            "Change": describe_change(c.get("before"), c.get("after"), key=str(c.get("key", ""))),
        }
        for c in changes
    ]
    return pd.DataFrame(rows, columns=CHANGE_COLUMNS)


def warnings_frame(warnings: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    rows = [
        {"Personio ID": str(w.get("personio_id") or ""), "Reason": str(w.get("reason", ""))} for w in warnings
    ]
    return pd.DataFrame(rows, columns=["Personio ID", "Reason"])


def filter_changes(
    frame: pd.DataFrame,
    *,
    entities: Iterable[str] = (),
    actions: Iterable[str] = (),
    search: str = "",
) -> pd.DataFrame:
    """Rows whose entity and action are among those chosen (none chosen = all) and that hold `search`."""
    mask = pd.Series(True, index=frame.index)
    entity_list, action_list = list(entities), list(actions)
    if entity_list:
        mask &= frame["Entity"].isin(entity_list)
    if action_list:
        mask &= frame["Action"].isin(action_list)
    needle = search.strip().lower()
    if needle:
        text = (frame["Name or email"] + " " + frame["Personio ID"] + " " + frame["Change"]).str.lower()
        mask &= text.str.contains(needle, regex=False)
    return frame[mask]
