"""make_plan and check_safety: desired vs current, with small hand-written inputs."""

from __future__ import annotations

from sync.core.employees import Employee
from sync.core.plan import Plan, check_safety, make_plan
from sync.core.rules import desired_state
from sync.core.settings import SyncSettings
from tests.factories import directory, make_employee, make_team, make_user, settings


def plan_for(employees: list[Employee], current: object, rules: SyncSettings | None = None) -> Plan:
    rules = rules or settings()
    return make_plan(desired_state(employees, rules), current, rules)  # type: ignore[arg-type]


def actions(plan: Plan, entity: str = "user") -> dict[str, str]:
    return {c.key: c.action for c in plan.changes if c.entity == entity}


def test_first_sync_creates_active_users_but_not_inactive_ones() -> None:
    plan = plan_for([make_employee(1), make_employee(2, status="inactive")], directory())
    assert [u.personio_id for u in plan.new_users] == ["1"]
    assert plan.counts["users_created"] == 1


def test_matching_by_personio_id_updates_fields() -> None:
    current = directory(
        [make_user(7, "old@example.com", personio_id="1", first_name="Old", source="personio")]
    )
    plan = plan_for([make_employee(1, "New", "Name", email="new@example.com", position=None)], current)
    (update,) = plan.user_updates
    assert update.user_id == 7
    assert update.values == {"email": "new@example.com", "first_name": "New", "last_name": "Name"}
    assert actions(plan) == {"new@example.com": "update"}


def test_an_unlinked_user_with_the_same_email_in_another_case_is_adopted_not_duplicated() -> None:
    current = directory([make_user(3, "Anna.Berg@Example.com", first_name="Anna", last_name="Berg")])
    plan = plan_for([make_employee(1, "Anna", "Berg", email="anna.berg@example.com", position=None)], current)
    assert not plan.new_users
    (update,) = plan.user_updates
    assert update.values == {"personio_id": "1", "source": "personio"}
    assert actions(plan) == {"anna.berg@example.com": "link"}


def test_matching_never_uses_names() -> None:
    current = directory([make_user(3, "other@example.com", first_name="Anna", last_name="Berg")])
    plan = plan_for([make_employee(1, "Anna", "Berg", email="anna@example.com")], current)
    assert [u.personio_id for u in plan.new_users] == ["1"]


def test_manual_users_are_never_touched() -> None:
    current = directory([make_user(3, "manual@example.com", first_name="Manual")])
    plan = plan_for([make_employee(1)], current)
    assert all(u.user_id != 3 for u in plan.user_updates)


def test_leaver_inactive_in_personio_is_deactivated_and_rehire_reactivated() -> None:
    linked = make_user(
        3,
        "first1.last1@example.com",
        personio_id="1",
        first_name="First1",
        last_name="Last1",
        job_title="Engineer",
        source="personio",
    )
    plan = plan_for(
        [make_employee(1, status="inactive")], directory([linked, make_user(9, "o@x.io", role="owner")])
    )
    assert actions(plan) == {"first1.last1@example.com": "deactivate"}
    gone = make_user(
        3,
        "first1.last1@example.com",
        personio_id="1",
        first_name="First1",
        last_name="Last1",
        job_title="Engineer",
        status="deactivated",
        source="personio",
    )
    plan = plan_for([make_employee(1)], directory([gone]))
    assert actions(plan) == {"first1.last1@example.com": "reactivate"}
    assert plan.counts["users_reactivated"] == 1


def test_employee_no_longer_returned_or_out_of_scope_is_deactivated() -> None:
    users = [
        make_user(3, "gone@example.com", personio_id="1", source="personio"),
        make_user(4, "ext@example.com", personio_id="2", source="personio"),
        make_user(9, "owner@example.com", role="owner"),
    ]
    plan = plan_for([make_employee(2, email="ext@example.com", employment_type="external")], directory(users))
    assert actions(plan) == {"gone@example.com": "deactivate", "ext@example.com": "deactivate"}
    reasons = {c.key: c.after["reason"] for c in plan.changes if c.after}
    assert "No longer returned" in reasons["gone@example.com"]
    assert "scope" in reasons["ext@example.com"]


def test_the_last_active_owner_is_never_deactivated() -> None:
    owner = make_user(3, "boss@example.com", personio_id="1", role="owner", source="personio")
    plan = plan_for([make_employee(1, email="boss@example.com", status="inactive")], directory([owner]))
    assert not [c for c in plan.changes if c.action == "deactivate"]
    assert any("last active owner" in w.reason for w in plan.warnings)


def test_a_bad_record_leaves_its_linked_user_as_it_is() -> None:
    linked = make_user(3, "x@example.com", personio_id="1", source="personio")
    plan = plan_for([make_employee(1, email=None)], directory([linked, make_user(9, "o@x.io", role="owner")]))
    assert not plan.user_updates
    assert plan.counts["skipped"] == 1


def test_job_title_switched_off_leaves_titles_as_they_are() -> None:
    linked = make_user(
        3,
        "first1.last1@example.com",
        personio_id="1",
        first_name="First1",
        last_name="Last1",
        job_title="Old title",
        source="personio",
    )
    plan = plan_for(
        [make_employee(1, position="New title")], directory([linked]), settings(sync_job_title=False)
    )
    assert plan.is_empty


def test_supervisor_links_follow_personio() -> None:
    plan = plan_for([make_employee(1), make_employee(2, supervisor_id="1")], directory())
    assert plan.supervisors == (("2", "1"),)
    create = next(c for c in plan.changes if c.personio_id == "2")
    assert create.after and create.after["supervisor"] == "first1.last1@example.com"


def test_the_team_of_a_supervisor_personio_does_not_return_is_deleted_with_a_warning() -> None:
    # a team that earlier versions named "Supervisor 9999's team"
    current = directory(
        [make_user(7, "first1.last1@example.com", personio_id="1", source="personio")],
        [make_team(50, "Supervisor 9999's team", "supervisor", "9999", {7: "member"})],
    )
    plan = plan_for(
        [make_employee(1, supervisor_id="9999")], current, settings(team_attributes=("supervisor",))
    )
    assert plan.team_deletes == (50,) and not plan.new_teams
    assert [w.personio_id for w in plan.warnings] == ["9999"]
    assert "no team for their 1 direct report." in plan.warnings[0].reason


def test_the_supervisor_link_to_a_supervisor_personio_does_not_return() -> None:
    """Today's behaviour: the link goes to a user still linked to that id, else there is none."""
    report = make_user(7, "first1.last1@example.com", personio_id="1", source="personio", supervisor_id=9)
    ghost = make_user(8, "ghost@example.com", personio_id="9999", source="personio")
    manual_boss = make_user(9, "boss@example.com")
    employees = [make_employee(1, supervisor_id="9999")]
    assert plan_for(employees, directory([report, ghost, manual_boss])).supervisors == (("1", "9999"),)
    assert plan_for(employees, directory([report, manual_boss])).supervisors == (("1", None),)


def test_renamed_department_renames_its_team_keyed_by_id() -> None:
    users = [
        make_user(
            3,
            "first1.last1@example.com",
            personio_id="1",
            first_name="First1",
            last_name="Last1",
            job_title="Engineer",
            source="personio",
        )
    ]
    teams = [make_team(50, "Department IT", "department", "10", {3: "member"})]
    plan = plan_for(
        [make_employee(1, department=(10, "Information Technology"))],
        directory(users, teams),
        settings(team_attributes=("department",)),
    )
    assert plan.team_renames == ((50, "Department Information Technology"),)
    assert actions(plan, "team") == {"Department Information Technology": "rename"}


def test_team_attribute_switched_off_deletes_managed_teams_only() -> None:
    teams = [make_team(50, "Department IT", "department", "10"), make_team(51, "Book club")]
    plan = plan_for(
        [make_employee(1, department=(10, "IT"))], directory([], teams), settings(team_attributes=())
    )
    assert plan.team_deletes == (50,)


def test_a_desired_team_name_taken_by_a_manual_team_gets_a_suffix() -> None:
    teams = [make_team(51, "Department IT")]
    plan = plan_for(
        [make_employee(1, department=(10, "IT"))],
        directory([], teams),
        settings(team_attributes=("department",)),
    )
    assert [t.name for t in plan.new_teams] == ["Department IT (2)"]


def test_deactivated_users_leave_managed_teams() -> None:
    users = [
        make_user(3, "first1.last1@example.com", personio_id="1", source="personio"),
        make_user(4, "first2.last2@example.com", personio_id="2", source="personio"),
        make_user(9, "o@x.io", role="owner"),
    ]
    teams = [make_team(50, "Department IT", "department", "10", {3: "member", 4: "member"})]
    plan = plan_for(
        [make_employee(1, department=(10, "IT")), make_employee(2, department=(10, "IT"), status="inactive")],
        directory(users, teams),
        settings(team_attributes=("department",), sync_job_title=False),
    )
    assert plan.membership_removes == ((50, 4),)


def test_a_role_the_platform_gave_in_a_managed_team_becomes_the_role_personio_says() -> None:
    users = [
        make_user(3, "first1.last1@example.com", personio_id="1", source="personio"),
        make_user(4, "first2.last2@example.com", personio_id="2", source="personio"),
    ]
    teams = [make_team(50, "Department IT", "department", "10", {3: "coach", 4: "coach"})]
    plan = plan_for(
        [make_employee(1, department=(10, "IT")), make_employee(2, department=(10, "IT"), status="inactive")],
        directory(users, teams),
        settings(team_attributes=("department",), sync_job_title=False),
    )
    assert plan.membership_roles == ((50, 3, "member"),)
    assert plan.membership_removes == ((50, 4),)
    memberships = {(c.action, c.key): (c.before, c.after) for c in plan.changes if c.entity == "membership"}
    assert memberships == {
        ("update", "Department IT / first1.last1@example.com"): ({"role": "coach"}, {"role": "member"}),
        ("remove", "Department IT / first2.last2@example.com"): ({"role": "coach"}, None),
    }


def test_second_plan_after_applying_is_empty() -> None:
    users = [
        make_user(
            3,
            "first1.last1@example.com",
            personio_id="1",
            first_name="First1",
            last_name="Last1",
            job_title="Engineer",
            source="personio",
        )
    ]
    teams = [make_team(50, "Department IT", "department", "10", {3: "member"})]
    plan = plan_for(
        [make_employee(1, department=(10, "IT"))],
        directory(users, teams),
        settings(team_attributes=("department",)),
    )
    assert plan.is_empty and all(v == 0 for v in plan.counts.values())


def test_swapping_emails_between_two_users_is_allowed() -> None:
    users = [
        make_user(
            3, "a@example.com", personio_id="1", first_name="First1", last_name="Last1", job_title="Engineer"
        ),
        make_user(
            4, "b@example.com", personio_id="2", first_name="First2", last_name="Last2", job_title="Engineer"
        ),
    ]
    plan = plan_for(
        [make_employee(1, email="b@example.com"), make_employee(2, email="a@example.com")], directory(users)
    )
    assert {u.user_id: u.values["email"] for u in plan.user_updates} == {
        3: "b@example.com",
        4: "a@example.com",
    }


def test_an_email_taken_by_a_manual_user_elsewhere_is_not_stolen() -> None:
    users = [
        make_user(
            3, "a@example.com", personio_id="1", first_name="First1", last_name="Last1", job_title="Engineer"
        ),
        make_user(4, "b@example.com"),
    ]
    plan = plan_for([make_employee(1, email="b@example.com")], directory(users))
    assert not plan.user_updates
    assert any("belongs to another platform user" in w.reason for w in plan.warnings)


def _synced(n: int) -> list[object]:
    return [make_user(i, f"u{i}@example.com", personio_id=str(i), source="personio") for i in range(1, n + 1)]


def test_safety_stops_mass_deactivation_above_threshold_and_at_least_five() -> None:
    users = [*_synced(20), make_user(99, "o@x.io", role="owner")]
    keep = [make_employee(i, email=f"u{i}@example.com") for i in range(1, 15)]  # 6 of 20 leave: 30%
    plan = plan_for(keep, directory(users))  # type: ignore[arg-type]
    stop = check_safety(plan, settings(safety_threshold_pct=25))
    assert stop is not None and stop.code == "safety_stop" and "6 of 20" in stop.message
    assert check_safety(plan, settings(safety_threshold_pct=25), approved=True) is None
    assert check_safety(plan, settings(safety_threshold_pct=50)) is None


def test_safety_ignores_fewer_than_five_deactivations() -> None:
    users = [*_synced(4), make_user(99, "o@x.io", role="owner")]
    plan = plan_for([], directory(users))  # type: ignore[arg-type]
    stop = check_safety(plan, settings())
    assert stop is not None and "no employee in scope" in stop.message  # the empty-source guard still holds
    plan = plan_for([make_employee(1, email="u1@example.com")], directory(users))  # type: ignore[arg-type]
    assert check_safety(plan, settings()) is None


def test_empty_source_with_no_synced_users_is_fine() -> None:
    assert check_safety(plan_for([], directory()), settings()) is None


def test_an_address_freed_by_a_user_whose_own_move_is_refused_is_not_handed_on() -> None:
    # 1 wants manual user's address (refused), 2 wants 1's current address: it must wait too.
    users = [
        make_user(
            3, "a@example.com", personio_id="1", first_name="First1", last_name="Last1", job_title="Engineer"
        ),
        make_user(
            4, "b@example.com", personio_id="2", first_name="First2", last_name="Last2", job_title="Engineer"
        ),
        make_user(5, "manual@example.com"),
    ]
    plan = plan_for(
        [make_employee(1, email="manual@example.com"), make_employee(2, email="a@example.com")],
        directory(users),
    )
    assert plan.user_updates == ()
    assert len([w for w in plan.warnings if "belongs to another platform user" in w.reason]) == 2


def test_three_users_rotating_addresses_all_move() -> None:
    users = [
        make_user(i + 3, f"{c}@example.com", personio_id=str(i), first_name=f"First{i}", last_name=f"Last{i}",
                  job_title="Engineer")
        for i, c in ((1, "a"), (2, "b"), (3, "c"))
    ]  # fmt: skip
    employees = [make_employee(1, email="b@example.com"), make_employee(2, email="c@example.com"),
                 make_employee(3, email="a@example.com")]  # fmt: skip
    plan = plan_for(employees, directory(users))
    assert {u.user_id: u.values["email"] for u in plan.user_updates} == {
        4: "b@example.com",
        5: "c@example.com",
        6: "a@example.com",
    }


def test_a_withheld_supervisor_attribute_leaves_supervisor_links_as_they_are() -> None:
    users = [
        make_user(3, "first1.last1@example.com", personio_id="1", first_name="First1", last_name="Last1",
                  job_title="Engineer"),
        make_user(4, "first2.last2@example.com", personio_id="2", first_name="First2", last_name="Last2",
                  job_title="Engineer", supervisor_id=3),
    ]  # fmt: skip
    employees = [make_employee(1), make_employee(2)]  # Personio sent no supervisor attribute at all
    rules = settings()
    desired = desired_state(employees, rules, present_attributes=frozenset({"id", "first_name", "email"}))
    assert make_plan(desired, directory(users), rules).is_empty
    # the same data with the attribute present but empty does unlink
    desired = desired_state(employees, rules, present_attributes=frozenset({"id", "supervisor"}))
    assert make_plan(desired, directory(users), rules).supervisors == (("2", None),)
