"""Personio v1 answers and records -> Employee: pure functions, hand-written inputs."""

from __future__ import annotations

from typing import Any

import pytest

from sync.core.employees import SYNC_ATTRIBUTES, Employee, OrgUnit, SkippedRecord
from sync.core.errors import MISSING_ATTRIBUTE, SyncError
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
