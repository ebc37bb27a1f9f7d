"""Personio v1 answers and records -> Employee: pure functions, hand-written inputs."""

from __future__ import annotations

from typing import Any

import pytest

from sync.core.employees import SYNC_ATTRIBUTES, Employee, OrgUnit, SkippedRecord
from sync.core.errors import MISSING_ATTRIBUTE, SyncError
from sync.core.rules import desired_state
from sync.core.settings import SyncSettings
from sync.personio.parsing import (
    ATTRIBUTE_LABELS,
    MalformedResponse,
    UnreadableRecord,
    check_required,
    decode_json,
    error_message,
    parse_auth_answer,
    parse_employee,
    parse_employees_page,
    parse_records,
)


def attr(key: str, value: Any, label: str = "", kind: str = "standard") -> dict[str, Any]:
    """One attribute as Personio encodes it today: label, value, type, universal_id."""
    return {"label": label or key, "value": value, "type": kind, "universal_id": key}


def unit(kind: str, unit_id: Any, name: Any) -> dict[str, Any]:
    return {"type": kind, "attributes": {"id": unit_id, "name": name}}


# The spec's own example record (reference 2.6), trimmed to what the sync reads plus noise it ignores.
SPEC_RECORD: dict[str, Any] = {
    "id": attr("id", 1, "ID", "integer"),
    "first_name": attr("first_name", "Alexander", "First name"),
    "last_name": attr("last_name", "Bergmann", "Last name"),
    "email": attr("email", "alexander.bergmann@demo.email", "Email"),
    "status": attr("status", "active", "Status"),
    "position": attr("position", "CTO", "Position"),
    "supervisor": attr(
        "supervisor",
        {"type": "Employee", "attributes": {"id": attr("id", 2, "ID", "integer")}},
        "Supervisor",
    ),
    "employment_type": attr("employment_type", "external", "Employment type"),
    "office": attr("office", unit("Office", 131014, "Munich"), "Office"),
    "department": attr("department", unit("Department", 281521, "Customer Support"), "Department"),
    "team": attr("team", unit("Team", 59026, "T_X"), "Team"),
    "hire_date": attr("hire_date", "2014-11-09T00:00:00+01:00", "Hire date", "date"),
    "dynamic_21827": {"label": "IBAN", "value": "DE98 8989", "universal_id": "iban", "type": "standard"},
}


def test_spec_example_record_becomes_employee() -> None:
    assert parse_employee(SPEC_RECORD) == Employee(
        personio_id="1",
        first_name="Alexander",
        last_name="Bergmann",
        email="alexander.bergmann@demo.email",
        status="active",
        position="CTO",
        supervisor_id="2",
        department=OrgUnit(id="281521", name="Customer Support"),
        team=OrgUnit(id="59026", name="T_X"),
        office=OrgUnit(id="131014", name="Munich"),
        employment_type="external",
    )


def test_record_without_type_and_universal_id_is_read() -> None:
    # Accounts from before 2021-11 send only label and value.
    old = {key: {"label": value["label"], "value": value["value"]} for key, value in SPEC_RECORD.items()}
    assert parse_employee(old) == parse_employee(SPEC_RECORD)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("anna.berg@example.com", "anna.berg@example.com"),
        ("  Anna.Berg@Example.COM ", "anna.berg@example.com"),
        ("ANNA@EXAMPLE.COM\n", "anna@example.com"),
        ("", None),
        ("   ", None),
        (None, None),
    ],
)
def test_email_is_stripped_and_lower_cased(raw: Any, expected: str | None) -> None:
    assert parse_employee({"id": attr("id", 5), "email": attr("email", raw)}).email == expected


def test_names_are_stripped_and_absent_names_are_empty() -> None:
    employee = parse_employee(
        {"id": attr("id", 5), "first_name": attr("first_name", "  Jo "), "last_name": attr("last_name", None)}
    )
    assert (employee.first_name, employee.last_name) == ("Jo", "")


@pytest.mark.parametrize(
    ("key", "raw", "expected"),
    [
        ("status", "Active", "active"),
        ("status", " LEAVE ", "leave"),
        ("status", "", None),
        ("employment_type", "Internal", "internal"),
        ("employment_type", "", None),
        ("employment_type", None, None),
        ("position", "  Head of People ", "Head of People"),
        ("position", "", None),
    ],
)
def test_blank_means_absent_and_codes_are_lower_case(key: str, raw: Any, expected: str | None) -> None:
    employee = parse_employee({"id": attr("id", 5), key: attr(key, raw)})
    assert getattr(employee, key) == expected


def test_attributes_personio_withheld_are_none() -> None:
    assert parse_employee({"id": attr("id", 9)}) == Employee(personio_id="9")


@pytest.mark.parametrize(
    ("supervisor", "expected"),
    [
        (None, None),
        ("", None),
        ({"type": "Employee", "attributes": {"id": attr("id", 2)}}, "2"),
        (
            {
                "type": "Employee",
                "attributes": {
                    "id": attr("id", 77),
                    "first_name": attr("first_name", "Ada"),
                    "last_name": attr("last_name", "Lovelace"),
                    "email": attr("email", "ada@example.com"),
                },
            },
            "77",
        ),
        ({"attributes": {"id": attr("id", "31")}}, "31"),  # no type
        ({"type": "Employee", "attributes": {}}, None),
        (12, "12"),
    ],
)
def test_supervisor_is_read_as_an_id(supervisor: Any, expected: str | None) -> None:
    record = {"id": attr("id", 1), "supervisor": attr("supervisor", supervisor)}
    assert parse_employee(record).supervisor_id == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        (unit("Department", 281521, " Customer Support "), OrgUnit(id="281521", name="Customer Support")),
        (unit("Department", "44", "Sales"), OrgUnit(id="44", name="Sales")),
        ({"attributes": {"id": 3, "name": "No type"}}, OrgUnit(id="3", name="No type")),
        (unit("Department", 7, None), OrgUnit(id="7", name="")),
        (unit("Department", None, "No id"), None),
    ],
)
def test_org_units_become_id_and_name(value: Any, expected: OrgUnit | None) -> None:
    record = {"id": attr("id", 1), "department": attr("department", value)}
    assert parse_employee(record).department == expected


@pytest.mark.parametrize(("raw", "expected"), [(17, "17"), ("17", "17"), (" 17 ", "17"), (17.0, "17")])
def test_ids_become_strings(raw: Any, expected: str) -> None:
    assert parse_employee({"id": attr("id", raw)}).personio_id == expected


@pytest.mark.parametrize("raw", [None, "", "  ", True, 1.5, {"x": 1}, [1]])
def test_record_without_readable_id_is_refused(raw: Any) -> None:
    with pytest.raises(UnreadableRecord):
        parse_employee({"id": attr("id", raw), "first_name": attr("first_name", "Jo")})


def test_record_without_id_at_all_is_refused() -> None:
    with pytest.raises(UnreadableRecord):
        parse_employee({"first_name": attr("first_name", "Jo")})


def test_parse_records_skips_unreadable_records_and_collects_present_attributes() -> None:
    records = [
        {"type": "Employee", "attributes": {"id": attr("id", 1), "email": attr("email", "a@x.de")}},
        {"type": "Employee", "attributes": {"first_name": attr("first_name", "No id")}},
        "not a record",
        {"attributes": {"id": attr("id", 2), "team": attr("team", None)}},
    ]
    employees, skipped, present = parse_records(records)
    assert [e.personio_id for e in employees] == ["1", "2"]
    assert [s.personio_id for s in skipped] == [None, None]
    assert all(isinstance(s, SkippedRecord) and s.reason for s in skipped)
    assert present == frozenset({"id", "email", "first_name", "team"})


def test_every_sync_attribute_has_a_label() -> None:
    assert set(SYNC_ATTRIBUTES) <= set(ATTRIBUTE_LABELS)
    assert ATTRIBUTE_LABELS["employment_type"] == "Employment type"


def test_check_required_names_the_missing_attribute_and_where_to_enable_it() -> None:
    with pytest.raises(SyncError) as caught:
        check_required(["email", "employment_type"], {"id", "email", "status"})
    error = caught.value
    assert error.code == MISSING_ATTRIBUTE
    assert (
        error.message == "Personio does not return the attribute 'Employment type' to these API credentials."
    )
    assert "Readable employee attributes: enable 'Employment type'" in error.hint
    assert "Settings > Integrations > API credentials" in error.hint


def test_check_required_names_every_missing_attribute() -> None:
    with pytest.raises(SyncError) as caught:
        check_required(["email", "status"], {"id"})
    assert "'Email', 'Status'" in caught.value.message


def test_check_required_passes_when_all_are_present() -> None:
    check_required(["email"], {"id", "email"})


def page(**overrides: Any) -> dict[str, Any]:
    envelope: dict[str, Any] = {
        "success": True,
        "metadata": {"total_elements": 1, "current_page": 0, "total_pages": 1},
        "offset": 0,
        "limit": 100,
        "data": [{"type": "Employee", "attributes": {"id": attr("id", 1)}}],
    }
    envelope.update(overrides)
    return envelope


def test_employees_page_is_read() -> None:
    parsed = parse_employees_page(page())
    assert (len(parsed.records), parsed.total, parsed.limit) == (1, 1, 100)


def test_counts_sent_as_strings_are_read() -> None:
    parsed = parse_employees_page(page(metadata={"total_elements": "250"}, limit="100"))
    assert (parsed.total, parsed.limit) == (250, 100)


@pytest.mark.parametrize(
    "payload",
    [
        page(data=None),
        page(data={"1": {}}),
        {k: v for k, v in page().items() if k != "data"},
        page(metadata={}),
        page(metadata={"total_elements": -1}),
        page(success=False, error={"code": 0, "message": "Es ist ein Problem aufgetreten"}),
        [],
        "data",
    ],
)
def test_unusable_employees_answer_is_malformed(payload: Any) -> None:
    with pytest.raises(MalformedResponse):
        parse_employees_page(payload)


def test_success_false_keeps_personio_message_as_reason() -> None:
    with pytest.raises(MalformedResponse) as caught:
        parse_employees_page(page(success=False, error={"code": 0, "message": "Something went wrong"}))
    assert "Something went wrong" in caught.value.reason


def test_auth_answer_gives_token_and_lifetime() -> None:
    answer = {"success": True, "data": {"token": "papi-abc", "expires_in": 3600, "scope": "employees:read"}}
    assert parse_auth_answer(answer) == ("papi-abc", 3600.0)


def test_auth_answer_without_lifetime_lasts_a_day() -> None:
    assert parse_auth_answer({"success": True, "data": {"token": "papi-abc"}}) == ("papi-abc", 86400.0)


@pytest.mark.parametrize(
    "payload",
    [{"success": True, "data": {}}, {"success": True, "data": {"token": ""}}, {"success": False}, None],
)
def test_auth_answer_without_token_is_malformed(payload: Any) -> None:
    with pytest.raises(MalformedResponse):
        parse_auth_answer(payload)


@pytest.mark.parametrize(
    "body", [b'{"success": true, "data": [{"type": "Emp', b"", b"<html>502</html>", b"\xff\xfe"]
)
def test_cut_off_or_foreign_bodies_are_malformed(body: bytes) -> None:
    with pytest.raises(MalformedResponse):
        decode_json(body)


def test_error_message_reads_the_v1_error_envelope() -> None:
    assert error_message(b'{"success": false, "error": {"code": 401, "message": "Wrong credentials"}}') == (
        "Wrong credentials"
    )
    assert error_message(b"Bad Gateway") == ""


@pytest.mark.parametrize(
    ("key", "raw", "read", "expected"),
    [
        ("first_name", "Jo\x00sé", lambda e: e.first_name, "José"),
        ("first_name", "RTL\u202egpj.exe", lambda e: e.first_name, "RTLgpj.exe"),
        ("last_name", "Berg\u2066mann\u2069", lambda e: e.last_name, "Bergmann"),
        ("last_name", "Berg\x1b[31mmann", lambda e: e.last_name, "Berg[31mmann"),
        ("last_name", "Berg\x85mann\x7f", lambda e: e.last_name, "Bergmann"),
        ("first_name", "Anna\tMaria\nLuise", lambda e: e.first_name, "Anna Maria Luise"),
        ("position", "Head\x00 of People", lambda e: e.position, "Head of People"),
        ("status", "act\x00ive", lambda e: e.status, "active"),
        ("department", unit("Department", 4, "Sa\u202dles"), lambda e: e.department, OrgUnit("4", "Sales")),
        ("team", unit("Team", "7\x00", "Core"), lambda e: e.team, OrgUnit("7", "Core")),
        ("office", unit("Office", 2, "\x00"), lambda e: e.office, OrgUnit("2", "")),
        ("supervisor", {"attributes": {"id": attr("id", "3\u202e")}}, lambda e: e.supervisor_id, "3"),
        ("id", "12\x00", lambda e: e.personio_id, "12"),
    ],
)
def test_control_and_direction_characters_are_removed_from_text_with_a_warning(
    key: str, raw: Any, read: Any, expected: Any
) -> None:
    record = {"id": attr("id", 12), "email": attr("email", "jo@x.de"), key: attr(key, raw)}
    employees, warnings, _ = parse_records([{"type": "Employee", "attributes": record}])
    (employee,) = employees
    assert read(employee) == expected
    (warning,) = warnings
    assert warning.personio_id == "12"
    assert "control characters" in warning.reason and "removed" in warning.reason


@pytest.mark.parametrize("raw", ["  Anna Berg \n", "Zoë", "Ng\u00a0Li", "a\u200db"])
def test_plain_text_and_surrounding_whitespace_give_no_warning(raw: str) -> None:
    record = {"id": attr("id", 1), "first_name": attr("first_name", raw)}
    employees, warnings, _ = parse_records([{"attributes": record}])
    assert employees[0].first_name == raw.strip()
    assert warnings == []


@pytest.mark.parametrize(
    "raw",
    ["anna\x00@example.com", "anna@exa\u202emple.com", "anna@example.com\x00", "an\tna@example.com"],
)
def test_an_email_holding_control_characters_skips_the_employee(raw: str) -> None:
    employees, warnings, _ = parse_records(
        [
            {
                "attributes": {
                    "id": attr("id", 8),
                    "email": attr("email", raw),
                    "status": attr("status", "active"),
                }
            }
        ]
    )
    assert warnings == []  # the rules skip it, with their usual warning
    desired = desired_state(employees, SyncSettings())
    assert "8" in desired.skipped_ids and "8" not in desired.users
    (skip,) = desired.warnings
    assert skip.personio_id == "8" and "is not valid: the employee is skipped" in skip.reason
    assert not any(char in skip.reason for char in "\x00\u202e\t")
