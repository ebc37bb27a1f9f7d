"""`GET /v1/company/employees[...]` as the sandbox serves it: paging, projection, filters, encoding, data."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.sandbox import SandboxFactory, SandboxProcess

EMPLOYEES = "/v1/company/employees"
ISO_WITH_OFFSET = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}$")


@pytest.fixture(scope="module")
def company_250(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    """A 250-employee sandbox without rate limits, read-only for the tests in this module."""
    process = SandboxProcess(
        log_path=tmp_path_factory.mktemp("sandbox-250") / "sandbox.log", employees=250, rate_limit=False
    )
    process.start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def token_250(company_250: SandboxProcess) -> str:
    return company_250.auth_token()


def page(sandbox: SandboxProcess, token: str, **params: Any) -> dict[str, Any]:
    response = sandbox.personio_get(EMPLOYEES, token=token, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def value(item: dict[str, Any], key: str) -> Any:
    return item["attributes"][key]["value"]


def all_items(sandbox: SandboxProcess, token: str, **params: Any) -> list[dict[str, Any]]:
    """Every item, paging the way Personio's guide says (`offset += limit`)."""
    items: list[dict[str, Any]] = []
    offset = 0
    while True:
        body = page(sandbox, token, offset=offset, limit=100, **params)
        items += body["data"]
        if body["metadata"]["current_page"] >= body["metadata"]["total_pages"] - 1:
            return items
        offset += 100


# ----- pagination ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "count", "metadata", "offset", "limit"),
    [
        ({}, 50, {"total_elements": 250, "current_page": 0, "total_pages": 5}, 0, 50),
        ({"limit": 100}, 100, {"total_elements": 250, "current_page": 0, "total_pages": 3}, 0, 100),
        (
            {"limit": 100, "offset": 200},
            50,
            {"total_elements": 250, "current_page": 2, "total_pages": 3},
            200,
            100,
        ),
        (
            {"limit": 1, "offset": 249},
            1,
            {"total_elements": 250, "current_page": 249, "total_pages": 250},
            249,
            1,
        ),
        (
            {"limit": 30, "offset": 45},
            30,
            {"total_elements": 250, "current_page": 1, "total_pages": 9},
            45,
            30,
        ),
        (
            {"limit": 100, "offset": 300},
            0,
            {"total_elements": 250, "current_page": 3, "total_pages": 3},
            300,
            100,
        ),
    ],
)
def test_pages_carry_personio_metadata(
    company_250: SandboxProcess,
    token_250: str,
    params: dict[str, int],
    count: int,
    metadata: dict[str, int],
    offset: int,
    limit: int,
) -> None:
    body = page(company_250, token_250, **params)
    assert body["success"] is True
    assert body["metadata"] == metadata
    assert (body["offset"], body["limit"]) == (offset, limit)
    assert len(body["data"]) == count


def test_offset_is_a_record_offset_and_pages_follow_id_order(
    company_250: SandboxProcess, token_250: str
) -> None:
    ids = [value(item, "id") for item in all_items(company_250, token_250)]
    assert len(ids) == 250 and ids == sorted(set(ids))
    shifted = page(company_250, token_250, offset=7, limit=3)["data"]
    assert [value(item, "id") for item in shifted] == ids[7:10]


@pytest.mark.parametrize("limit", ["101", "0", "-5", "many"])
def test_a_limit_outside_1_to_100_is_refused(company_250: SandboxProcess, token_250: str, limit: str) -> None:
    response = company_250.personio_get(EMPLOYEES, token=token_250, params={"limit": limit})
    assert response.status_code == 422
    assert response.json() == {
        "success": False,
        "error": {"code": 0, "message": "The limit must be between 1 and 100."},
    }


def test_a_negative_offset_is_refused(company_250: SandboxProcess, token_250: str) -> None:
    response = company_250.personio_get(EMPLOYEES, token=token_250, params={"offset": -1})
    assert response.status_code == 422 and response.json()["success"] is False


# ----- projection and filters ----------------------------------------------------------------------


def test_attributes_projection_keeps_id(company_250: SandboxProcess, token_250: str) -> None:
    body = page(company_250, token_250, limit=5, **{"attributes[]": ["first_name", "team", "no_such_key"]})
    assert all(set(item["attributes"]) == {"id", "first_name", "team"} for item in body["data"])


def test_email_filter_is_exact_ignoring_case_and_spaces(company_250: SandboxProcess, token_250: str) -> None:
    someone = company_250.employees()[42]
    body = page(company_250, token_250, email=f"  {someone['email'].upper()} ")
    assert [value(item, "id") for item in body["data"]] == [someone["id"]]
    assert body["metadata"]["total_elements"] == 1
    nobody = page(company_250, token_250, email="nobody@nowhere.example")
    assert nobody["data"] == [] and nobody["metadata"] == {
        "total_elements": 0,
        "current_page": 0,
        "total_pages": 0,
    }


def test_email_filter_finds_both_holders_of_a_shared_address(
    company_250: SandboxProcess, token_250: str
) -> None:
    emails = Counter((e["email"] or "").strip().lower() for e in company_250.employees())
    (shared,) = [address for address, seen in emails.items() if address and seen > 1]
    assert len(page(company_250, token_250, email=shared)["data"]) == 2


def test_updated_since_compares_last_modified_at(company_250: SandboxProcess, token_250: str) -> None:
    everyone = company_250.employees()
    stamps = sorted(e["last_modified_at"] for e in everyone)
    since = stamps[-10]  # the ten most recently modified
    body = page(company_250, token_250, updated_since=since, limit=100)
    assert body["metadata"]["total_elements"] == sum(1 for s in stamps if s >= since)
    assert {value(item, "id") for item in body["data"]} == {
        e["id"] for e in everyone if e["last_modified_at"] >= since
    }
    assert page(company_250, token_250, updated_since="2099-01-01")["metadata"]["total_elements"] == 0
    assert page(company_250, token_250, updated_since="2000-01-01")["metadata"]["total_elements"] == 250


def test_updated_since_ignores_the_email_filter(company_250: SandboxProcess, token_250: str) -> None:
    someone = company_250.employees()[3]
    body = page(company_250, token_250, updated_since="2000-01-01", email=someone["email"])
    assert body["metadata"]["total_elements"] == 250


def test_a_malformed_updated_since_is_refused(company_250: SandboxProcess, token_250: str) -> None:
    response = company_250.personio_get(EMPLOYEES, token=token_250, params={"updated_since": "yesterday"})
    assert response.status_code == 422 and response.json()["success"] is False


# ----- encoding --------------------------------------------------------------------------------------


def test_every_attribute_is_label_value_type_universal_id(
    company_250: SandboxProcess, token_250: str
) -> None:
    body = page(company_250, token_250, limit=100)
    for item in body["data"]:
        assert item["type"] == "Employee" and "id" not in item
        for key, attribute in item["attributes"].items():
            assert set(attribute) == {"label", "value", "type", "universal_id"}, key
            assert isinstance(attribute["label"], str) and attribute["type"] in {
                "standard",
                "date",
                "integer",
                "decimal",
                "list",
            }
        attributes = item["attributes"]
        assert attributes["id"] == {
            "label": "ID",
            "value": attributes["id"]["value"],
            "type": "integer",
            "universal_id": "id",
        }
        assert isinstance(attributes["weekly_working_hours"]["value"], str)
        assert ISO_WITH_OFFSET.match(attributes["hire_date"]["value"])
        assert attributes["hire_date"]["value"][11:19] == "00:00:00"
        assert ISO_WITH_OFFSET.match(attributes["last_modified_at"]["value"])
        assert ISO_WITH_OFFSET.match(attributes["created_at"]["value"])
        assert attributes["dynamic_1021"]["universal_id"] == "date_of_birth"


def test_nested_supervisor_and_org_units(company_250: SandboxProcess, token_250: str) -> None:
    items = all_items(company_250, token_250)
    ids = {value(item, "id") for item in items}
    supervisors = [value(item, "supervisor") for item in items]
    assert None in supervisors  # the CEO
    for supervisor in filter(None, supervisors):
        assert supervisor["type"] == "Employee"
        assert set(supervisor["attributes"]) == {"id"}
        nested_id = supervisor["attributes"]["id"]
        assert nested_id["label"] == "ID" and nested_id["type"] == "integer" and nested_id["value"] in ids
    for key, kind in (
        ("office", "Office"),
        ("department", "Department"),
        ("team", "Team"),
        ("subcompany", "Subcompany"),
    ):
        values = [value(item, key) for item in items]
        assert None in values, key  # someone without one
        for unit in filter(None, values):
            assert unit["type"] == kind
            assert set(unit["attributes"]) == {"id", "name"}
            assert isinstance(unit["attributes"]["id"], int) and unit["attributes"]["name"]


def test_one_employee_by_id_and_404_for_an_unknown_id(company_250: SandboxProcess, token_250: str) -> None:
    someone = company_250.employees()[10]
    response = company_250.personio_get(f"{EMPLOYEES}/{someone['id']}", token=token_250)
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True and value(body["data"], "email") == someone["email"]
    assert response.headers["authorization"] == f"Bearer {token_250}"
    missing = company_250.personio_get(f"{EMPLOYEES}/999999", token=token_250)
    assert missing.status_code == 404
    assert missing.json() == {
        "success": False,
        "error": {"code": 404, "message": "Es ist ein Problem aufgetreten "},
    }


def test_the_attributes_endpoint_lists_readable_keys(company_250: SandboxProcess, token_250: str) -> None:
    data = company_250.personio_get(f"{EMPLOYEES}/attributes", token=token_250).json()["data"]
    keys = [entry["key"] for entry in data]
    assert {
        "first_name",
        "last_name",
        "email",
        "status",
        "supervisor",
        "department",
        "team",
        "office",
    } <= set(keys)
    size = next(entry for entry in data if entry["key"] == "dynamic_1022")
    assert size["type"] == "list" and size["universal_id"] is None and "M" in size["options"]


def test_unknown_routes_get_the_v1_envelope(company_250: SandboxProcess) -> None:
    response = company_250.http.get(f"{company_250.base_url}/v1/company/attendances")
    assert response.status_code == 404
    assert response.json()["success"] is False and response.json()["error"]["code"] == 404
    wrong_method = company_250.http.delete(f"{company_250.base_url}{EMPLOYEES}")
    assert wrong_method.status_code == 405 and wrong_method.json()["success"] is False


# ----- the generated company -------------------------------------------------------------------------


def test_the_company_has_every_status_externals_and_a_deep_supervisor_tree(
    company_250: SandboxProcess,
) -> None:
    everyone = company_250.employees()
    assert len(everyone) == 250
    assert [e["id"] for e in everyone] == list(range(1000, 1250))
    statuses = Counter(e["status"] for e in everyone)
    assert set(statuses) == {"active", "onboarding", "leave", "inactive"}
    assert statuses["active"] > 200
    assert all(e["termination_date"] for e in everyone if e["status"] == "inactive")
    externals = sum(1 for e in everyone if e["employment_type"] == "external")
    assert 10 <= externals <= 45
    by_id = {e["id"]: e for e in everyone}

    def depth(employee: dict[str, Any]) -> int:
        levels = 0
        while employee["supervisor_id"] is not None:
            employee = by_id[employee["supervisor_id"]]
            levels += 1
        return levels

    (ceo,) = [e for e in everyone if e["position"] == "CEO"]
    assert ceo["supervisor_id"] is None
    assert max(depth(e) for e in everyone) >= 3
    units = company_250.org_units()
    assert 8 <= len(units["departments"]) <= 12
    assert {"Munich", "Berlin", "London", "Madrid", "Amsterdam", "Remote"} == {
        o["name"] for o in units["offices"]
    }
    assert len(units["teams"]) >= 2 * len(units["departments"])


def test_names_are_international_and_emails_follow_first_dot_last(company_250: SandboxProcess) -> None:
    everyone = company_250.employees()
    names = " ".join(f"{e['first_name']} {e['last_name']}" for e in everyone)
    assert any(not char.isascii() for char in names)
    domain = company_250.state()["company"]["domain"]
    plain = [e["email"] for e in everyone if e["email"] and e["email"] == e["email"].strip().lower()]
    assert len(plain) >= 240
    assert all(re.fullmatch(rf"[a-z]+\.[a-z]+\d*@{re.escape(domain)}", address) for address in plain)


def test_the_deliberately_bad_records_are_there(company_250: SandboxProcess) -> None:
    everyone = company_250.employees()
    assert [e for e in everyone if not e["email"]], "someone without an email"
    keys = Counter((e["email"] or "").strip().lower() for e in everyone if e["email"])
    assert sum(1 for seen in keys.values() if seen == 2) == 1, "two people sharing one email"
    (padded,) = [e for e in everyone if e["email"] and e["email"] != e["email"].strip()]
    assert padded["email"].startswith("  ") and padded["email"] != padded["email"].lower()


def test_two_supervisors_share_a_full_name(company_250: SandboxProcess) -> None:
    everyone = company_250.employees()
    supervisor_ids = {e["supervisor_id"] for e in everyone}
    names = Counter((e["first_name"], e["last_name"]) for e in everyone if e["id"] in supervisor_ids)
    assert names[("Peter", "Wright")] == 2


def test_small_companies_are_generated_too(sandbox_factory: SandboxFactory) -> None:
    tiny = sandbox_factory(employees=3)
    everyone = tiny.employees()
    assert len(everyone) == 3 and sum(1 for e in everyone if e["supervisor_id"] is None) == 1


def test_the_same_seed_gives_the_same_company(sandbox_factory: SandboxFactory) -> None:
    first, second = sandbox_factory(employees=80, seed=11), sandbox_factory(employees=80, seed=11)
    assert first.employees() == second.employees()
    assert first.org_units() == second.org_units()
    first_page = first.personio_get(EMPLOYEES, params={"limit": 100}).json()
    second_page = second.personio_get(EMPLOYEES, params={"limit": 100}).json()
    assert first_page == second_page
    other = sandbox_factory(employees=80, seed=12)
    assert other.employees() != first.employees()
