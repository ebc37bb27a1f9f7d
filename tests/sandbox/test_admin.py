"""The sandbox's admin API: every change HR makes shows up through Personio's v1 endpoints."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.sandbox import SandboxError, SandboxProcess

EMPLOYEES = "/v1/company/employees"


def v1_employee(sandbox: SandboxProcess, employee_id: int) -> dict[str, Any]:
    """The employee's v1 attributes as `{key: value}`."""
    response = sandbox.personio_get(f"{EMPLOYEES}/{employee_id}")
    assert response.status_code == 200, response.text
    return {key: attribute["value"] for key, attribute in response.json()["data"]["attributes"].items()}


def v1_ids(sandbox: SandboxProcess, **params: Any) -> list[int]:
    response = sandbox.personio_get(EMPLOYEES, params={"limit": 100, **params})
    return [item["attributes"]["id"]["value"] for item in response.json()["data"]]


def an_individual_contributor(sandbox: SandboxProcess) -> dict[str, Any]:
    everyone = sandbox.employees()
    supervisors = {e["supervisor_id"] for e in everyone}
    return next(
        e
        for e in everyone
        if e["id"] not in supervisors
        and e["status"] == "active"
        and e["email"]
        and e["department"]
        and e["team"]
    )


def test_health_and_state(sandbox: SandboxProcess) -> None:
    assert sandbox.http.get(f"{sandbox.admin_url}/health").json() == {"ok": True}
    state = sandbox.state()
    assert state["employees"] == 60
    assert state["stats"] == {"auth_calls": 0, "employee_requests": 0, "rate_limited": 0, "requests": 0}
    assert state["faults"]["empty_result"] is False
    assert state["credentials"] == [
        {
            "client_id": sandbox.client_id,
            "withheld": [],
            "employees_access": True,
            "scopes": [
                "personio:employments:read",
                "personio:persons:read",
                "personio:webhooks:read",
                "personio:webhooks:write",
            ],
        }
    ]


def test_hire_with_units_by_id_and_by_name(sandbox: SandboxProcess) -> None:
    units = sandbox.org_units()
    department = units["departments"][0]
    before = {e["id"] for e in sandbox.employees()}
    hired = sandbox.hire(
        first_name="Zoë",
        last_name="Ñúñez",
        position="Designer",
        department=department["id"],
        team="Growth Squad",
        office="Lisbon",
        supervisor_id=1000,
    )
    assert hired["id"] > max(before)
    assert hired["email"] == f"zoe.nunez@{sandbox.state()['company']['domain']}"
    assert hired["department"] == department and hired["status"] == "active"
    assert hired["team"]["name"] == "Growth Squad" and hired["office"]["name"] == "Lisbon"
    assert "Growth Squad" in {t["name"] for t in sandbox.org_units()["teams"]}

    seen = v1_employee(sandbox, hired["id"])
    assert (seen["first_name"], seen["last_name"], seen["position"]) == ("Zoë", "Ñúñez", "Designer")
    assert seen["team"] == {"type": "Team", "attributes": {"id": hired["team"]["id"], "name": "Growth Squad"}}
    assert seen["supervisor"]["attributes"]["id"]["value"] == 1000
    assert v1_ids(sandbox, offset=60) == [hired["id"]]
    assert sandbox.personio_get(EMPLOYEES).json()["metadata"]["total_elements"] == 61


def test_hire_with_a_future_date_is_onboarding_and_null_email_stays_empty(sandbox: SandboxProcess) -> None:
    hired = sandbox.hire(first_name="Ola", last_name="Nordmann", hire_date="2099-01-04", email=None)
    assert hired["status"] == "onboarding" and hired["email"] is None
    assert v1_employee(sandbox, hired["id"])["hire_date"].startswith("2099-01-04T00:00:00")


def test_leave_and_rehire(sandbox: SandboxProcess) -> None:
    someone = an_individual_contributor(sandbox)
    left = sandbox.update(someone["id"], status="inactive")
    assert left["status"] == "inactive" and left["termination_date"]
    seen = v1_employee(sandbox, someone["id"])
    assert seen["status"] == "inactive" and seen["termination_date"] is not None
    back = sandbox.update(someone["id"], status="active")
    assert back["status"] == "active" and back["termination_date"] is None
    assert v1_employee(sandbox, someone["id"])["termination_date"] is None


def test_transfer_supervisor_email_position_and_names(sandbox: SandboxProcess) -> None:
    someone = an_individual_contributor(sandbox)
    target = next(d for d in sandbox.org_units()["departments"] if d["id"] != someone["department"]["id"])
    sandbox.update(
        someone["id"],
        department=target["name"],
        team=None,
        supervisor_id=1000,
        email="  New.Address@Example.COM ",
        position="Chief Tea Officer",
        first_name="Jürgen",
        employment_type="external",
    )
    seen = v1_employee(sandbox, someone["id"])
    assert seen["department"]["attributes"] == {"id": target["id"], "name": target["name"]}
    assert seen["team"] is None
    assert seen["supervisor"]["attributes"]["id"]["value"] == 1000
    assert seen["email"] == "  New.Address@Example.COM "
    assert (seen["position"], seen["first_name"], seen["employment_type"]) == (
        "Chief Tea Officer",
        "Jürgen",
        "external",
    )
    assert v1_ids(sandbox, email="new.address@example.com") == [someone["id"]]


def test_a_change_moves_last_modified_at_and_updated_since_finds_it(sandbox: SandboxProcess) -> None:
    someone = an_individual_contributor(sandbox)
    newest = max(e["last_modified_at"] for e in sandbox.employees())
    assert v1_ids(sandbox, updated_since=newest[:19]) == [
        e["id"] for e in sandbox.employees() if e["last_modified_at"] >= newest
    ]
    changed = sandbox.update(someone["id"], position="Principal Engineer")
    assert changed["last_modified_at"] > newest
    assert v1_ids(sandbox, updated_since=changed["last_modified_at"]) == [someone["id"]]
    # with attributes[], only people with one of those attributes changed count
    asked_position = {"updated_since": changed["last_modified_at"], "attributes[]": ["position"]}
    asked_email = {"updated_since": changed["last_modified_at"], "attributes[]": ["email"]}
    assert v1_ids(sandbox, **asked_position) == [someone["id"]]
    assert v1_ids(sandbox, **asked_email) == []


def test_delete_removes_the_employee_and_their_reports_lose_the_supervisor(sandbox: SandboxProcess) -> None:
    everyone = sandbox.employees()
    lead = next(e for e in everyone if e["position"].startswith("Team Lead"))
    reports = [e["id"] for e in everyone if e["supervisor_id"] == lead["id"]]
    assert reports
    sandbox.delete(lead["id"])
    assert sandbox.personio_get(f"{EMPLOYEES}/{lead['id']}").status_code == 404
    assert lead["id"] not in v1_ids(sandbox)
    assert sandbox.personio_get(EMPLOYEES).json()["metadata"]["total_elements"] == 59
    assert all(sandbox.employee(report)["supervisor_id"] is None for report in reports)
    with pytest.raises(SandboxError, match="404"):
        sandbox.employee(lead["id"])


def test_renaming_units_shows_on_every_member(sandbox: SandboxProcess) -> None:
    units = sandbox.org_units()
    department, team, office = units["departments"][0], units["teams"][0], units["offices"][0]
    assert sandbox.rename_department(department["id"], "Research & Development") == {
        "id": department["id"],
        "name": "Research & Development",
    }
    sandbox.rename_team(team["id"], "Core Platform")
    sandbox.rename_office(office["id"], "München")
    items = sandbox.personio_get(EMPLOYEES, params={"limit": 100}).json()["data"]
    names = {
        key: {
            item["attributes"][key]["value"]["attributes"]["name"]
            for item in items
            if item["attributes"][key]["value"]
            and item["attributes"][key]["value"]["attributes"]["id"] == unit["id"]
        }
        for key, unit in (("department", department), ("team", team), ("office", office))
    }
    assert names == {
        "department": {"Research & Development"},
        "team": {"Core Platform"},
        "office": {"München"},
    }


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"status": "retired"}, "status must be one of"),
        ({"supervisor_id": 999999}, "Supervisor with ID 999999 not found"),
        ({"department": 1}, "Department 1 not found"),
        ({"id": 5}, "unknown or read-only"),
        ({"favourite_colour": "blue"}, "unknown or read-only"),
        ({"hire_date": "soon"}, "YYYY-MM-DD"),
    ],
)
def test_invalid_changes_are_refused_and_change_nothing(
    sandbox: SandboxProcess, fields: dict[str, Any], message: str
) -> None:
    someone = an_individual_contributor(sandbox)
    with pytest.raises(SandboxError, match=message):
        sandbox.update(someone["id"], position="Changed", **fields)
    assert sandbox.employee(someone["id"]) == someone


def test_hire_needs_names_and_unknown_employees_are_404(sandbox: SandboxProcess) -> None:
    with pytest.raises(SandboxError, match="first_name is required"):
        sandbox.hire(last_name="Only")
    with pytest.raises(SandboxError, match="404"):
        sandbox.update(999999, position="Ghost")
    with pytest.raises(SandboxError, match="404"):
        sandbox.delete(999999)
    with pytest.raises(SandboxError, match="404"):
        sandbox.rename_team(1, "Nobody")
    assert sandbox.http.get(f"{sandbox.admin_url}/nothing-here").status_code == 404


def test_reset_brings_back_the_generated_company(sandbox: SandboxProcess) -> None:
    original = sandbox.employees()
    sandbox.hire(first_name="Temp", last_name="Worker")
    sandbox.delete(original[5]["id"])
    sandbox.rename_department(sandbox.org_units()["departments"][0]["id"], "Gone")
    sandbox.set_faults(empty_result=True)
    sandbox.reset()
    assert sandbox.employees() == original
    assert sandbox.faults()["empty_result"] is False


def test_stats_count_personio_traffic_and_reset(sandbox: SandboxProcess) -> None:
    token = sandbox.auth_token()
    sandbox.personio_get(EMPLOYEES, token=token)
    sandbox.personio_get(f"{EMPLOYEES}/1000", token=token)
    sandbox.http.get(f"{sandbox.base_url}/v1/nowhere")
    assert sandbox.stats() == {"auth_calls": 1, "employee_requests": 2, "rate_limited": 0, "requests": 4}
    sandbox.reset_stats()
    assert sandbox.stats() == {"auth_calls": 0, "employee_requests": 0, "rate_limited": 0, "requests": 0}
