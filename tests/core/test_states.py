"""The state enums hold exactly the strings the database stores, and behave as those strings."""

from __future__ import annotations

import ast
import json
from enum import StrEnum
from pathlib import Path

import pytest

from sync.core import states
from sync.core.states import (
    ChangeAction,
    ChangeEntity,
    IntegrationState,
    RunStatus,
    TeamRole,
    Trigger,
    UserStatus,
)


@pytest.mark.parametrize(
    ("enum", "stored"),
    [
        (RunStatus, {"queued", "running", "succeeded", "failed"}),
        (Trigger, {"automatic", "manual", "activation", "webhook"}),
        (IntegrationState, {"inactive", "active", "paused"}),
        (ChangeEntity, {"user", "team", "membership"}),
        (
            ChangeAction,
            {"create", "update", "link", "deactivate", "reactivate", "rename", "delete", "add", "remove"},
        ),
        (UserStatus, {"active", "deactivated"}),
        (TeamRole, {"member", "lead"}),
    ],
)
def test_enum_values_are_exactly_the_stored_strings(enum: type[StrEnum], stored: set[str]) -> None:
    assert {member.value for member in enum} == stored
    assert all(member.value == member.name.lower() for member in enum)


def test_members_equal_and_print_as_their_string() -> None:
    assert RunStatus.QUEUED == "queued"
    assert f"{Trigger.MANUAL}" == str(Trigger.MANUAL) == "manual"
    assert "paused" in (IntegrationState.ACTIVE, IntegrationState.PAUSED)


def test_members_find_dict_entries_keyed_by_the_stored_string_and_back() -> None:
    assert {"succeeded": "ok"}[RunStatus.SUCCEEDED] == "ok"
    assert {RunStatus.SUCCEEDED: "ok"}["succeeded"] == "ok"


def test_json_output_holds_the_plain_strings() -> None:
    change = {
        "entity": ChangeEntity.USER,
        "action": ChangeAction.DEACTIVATE,
        "after": {"status": UserStatus.DEACTIVATED},
    }
    assert (
        json.dumps(change) == '{"entity": "user", "action": "deactivate", "after": {"status": "deactivated"}}'
    )


def test_states_module_imports_only_the_standard_library() -> None:
    tree = ast.parse(Path(states.__file__).read_text())
    imported = {
        (node.module or "") if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert imported == {"__future__", "enum"}
