"""The rules of DESIGN.md section 4, with small hand-written inputs."""

from __future__ import annotations

import pytest

from sync.core.rules import desired_state, required_attributes, unique_names
from tests.factories import make_employee, settings


def test_internal_always_synced_external_only_when_switched_on() -> None:
    staff = [make_employee(1), make_employee(2, employment_type="external")]
    off = desired_state(staff, settings(sync_external=False))
    on = desired_state(staff, settings(sync_external=True))
    assert set(off.users) == {"1"} and off.out_of_scope == {"2"}
    assert set(on.users) == {"1", "2"} and not on.out_of_scope


@pytest.mark.parametrize(
    ("status", "active"), [("active", True), ("onboarding", True), ("leave", True), ("inactive", False)]
)
def test_personio_status_maps_to_user_status(status: str, active: bool) -> None:
    state = desired_state([make_employee(1, status=status)], settings())
    assert state.users["1"].active is active


def test_job_title_only_while_switched_on() -> None:
    employee = make_employee(1, position="CTO")
    assert desired_state([employee], settings(sync_job_title=True)).users["1"].job_title == "CTO"
    assert desired_state([employee], settings(sync_job_title=False)).users["1"].job_title is None


@pytest.mark.parametrize(
    ("email", "reason"),
    [(None, "No email"), ("not-an-email", "not valid"), ("two@@example.com", "not valid")],
)
def test_bad_records_are_skipped_with_a_warning(email: str | None, reason: str) -> None:
    state = desired_state([make_employee(1, email=email), make_employee(2)], settings())
    assert set(state.users) == {"2"}
    assert [w.personio_id for w in state.warnings] == ["1"]
    assert reason in state.warnings[0].reason
    assert "1" in state.skipped_ids


def test_an_email_two_employees_share_skips_both() -> None:
    staff = [
        make_employee(1, email="same@example.com"),
        make_employee(2, email="same@example.com"),
        make_employee(3),
    ]
    state = desired_state(staff, settings())
    assert set(state.users) == {"3"}
    assert sorted(w.personio_id for w in state.warnings) == ["1", "2"]


def test_a_former_record_sharing_the_email_of_an_active_one_is_a_rehire_not_a_clash() -> None:
    staff = [
        make_employee(1, email="back@example.com", status="inactive"),
        make_employee(2, email="back@example.com"),
    ]
    state = desired_state(staff, settings())
    assert set(state.users) == {"2"} and not state.warnings


def test_team_names_for_each_attribute() -> None:
    boss = make_employee(
        1, "Peter", "Wright", department=(10, "IT"), team=(20, "Backend"), office=(30, "Munich")
    )
    report = make_employee(
        2,
        supervisor_id="1",
        department=(10, "IT"),
        team=(20, "Backend"),
        office=(30, "Munich"),
        employment_type="external",
    )
    state = desired_state(
        [boss, report],
        settings(
            sync_external=True,
            team_attributes=("supervisor", "team", "department", "office", "employment_type"),
        ),
    )
    names = {t.name: t for t in state.teams}
    assert set(names) == {
        "Peter Wright's team",
        "Team Backend",
        "Department IT",
        "Office Munich",
        "Employment type Internal",
        "Employment type External",
    }
    supervisor_team = names["Peter Wright's team"]
    assert supervisor_team.members == {"2"} and supervisor_team.leads == {"1"}
    assert names["Department IT"].members == {"1", "2"}


def test_teams_hold_only_active_users() -> None:
    staff = [
        make_employee(1, department=(10, "IT")),
        make_employee(2, department=(10, "IT"), status="inactive"),
    ]
    state = desired_state(staff, settings(team_attributes=("department",)))
    assert state.teams[0].members == {"1"}


def test_two_supervisors_with_the_same_name_get_deterministic_suffixes() -> None:
    staff = [
        make_employee(5, "Peter", "Wright", email="p1@example.com"),
        make_employee(9, "Peter", "Wright", email="p2@example.com"),
        make_employee(11, supervisor_id="9"),
        make_employee(12, supervisor_id="5"),
    ]
    state = desired_state(staff, settings(team_attributes=("supervisor",)))
    by_key = {t.key: t.name for t in state.teams}
    assert by_key == {"5": "Peter Wright's team", "9": "Peter Wright's team (2)"}
    # the same input gives the same names, whatever the order Personio returned
    again = desired_state(list(reversed(staff)), settings(team_attributes=("supervisor",)))
    assert {t.key: t.name for t in again.teams} == by_key


def test_supervisor_outside_the_sync_still_names_the_team_but_is_no_lead() -> None:
    staff = [make_employee(1, "Ext", "Boss", employment_type="external"), make_employee(2, supervisor_id="1")]
    state = desired_state(staff, settings(team_attributes=("supervisor",), sync_external=False))
    assert state.teams[0].name == "Ext Boss's team" and not state.teams[0].leads
    assert state.teams[0].members == {"2"} and state.out_of_scope == {"1"} and not state.warnings


def test_a_supervisor_personio_does_not_return_gets_no_team_and_one_warning() -> None:
    staff = [
        make_employee(1, supervisor_id="9999", department=(10, "IT")),
        make_employee(2, supervisor_id="9999", department=(10, "IT")),
        make_employee(3, supervisor_id="9999", status="inactive"),  # not a member: not counted
        make_employee(4, supervisor_id="77"),
    ]
    state = desired_state(staff, settings(team_attributes=("supervisor", "department")))
    assert [(t.attribute, t.name, t.members) for t in state.teams] == [
        ("department", "Department IT", {"1", "2"})
    ]
    assert [(w.personio_id, w.reason) for w in state.warnings] == [
        (
            "77",
            "Supervisor 77 is not returned by Personio (not readable, deleted or outside the company): "
            "no team for their 1 direct report.",
        ),
        (
            "9999",
            "Supervisor 9999 is not returned by Personio (not readable, deleted or outside the company): "
            "no team for their 2 direct reports.",
        ),
    ]
    # the reports' own link is not decided here: make_plan keeps today's behaviour
    assert state.users["1"].supervisor_personio_id == "9999"


def test_a_missing_supervisor_warns_only_while_supervisor_teams_are_switched_on() -> None:
    staff = [make_employee(1, supervisor_id="9999", department=(10, "IT"))]
    assert not desired_state(staff, settings(team_attributes=("department",))).warnings


def test_a_supervisor_returned_later_gets_the_team_with_their_name() -> None:
    report = make_employee(1, supervisor_id="9")
    rules = settings(team_attributes=("supervisor",))
    assert desired_state([report], rules).teams == ()
    later = desired_state([report, make_employee(9, "Bea", "Boss")], rules)
    assert [(t.key, t.name, t.members, t.leads) for t in later.teams] == [
        ("9", "Bea Boss's team", {"1"}, {"9"})
    ]
    assert not later.warnings


def test_unique_names_avoid_taken_names_case_insensitively() -> None:
    assert unique_names(["Team A", "Team A", "Team B"], taken=["team b"]) == [
        "Team A",
        "Team A (2)",
        "Team B (2)",
    ]


def test_required_attributes_follow_the_settings() -> None:
    assert "employment_type" in required_attributes(settings(sync_external=False))
    assert "employment_type" not in required_attributes(settings(sync_external=True, sync_job_title=False))
    assert "department" in required_attributes(settings(team_attributes=("department",)))
    assert "position" not in required_attributes(settings(sync_job_title=False))
