"""apply_plan (sync.integration.apply) on SQLite and PostgreSQL: small hand-made plans, made by the
real planner from hand-written employees against the directory as stored, then applied."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import col, select

from storage.clock import utcnow
from storage.db import read_session, write_session
from storage.models import OutboxEmail, RunChange, RunWarning, Team, TeamMember, User
from sync.accounts.organizations import create_organization
from sync.core.employees import Employee
from sync.core.plan import Plan, make_plan
from sync.core.rules import desired_state
from sync.core.settings import SyncSettings
from sync.integration import queue
from sync.integration.apply import apply_plan, supervisors_first
from sync.integration.snapshot import load_directory
from tests.factories import make_employee, settings
from tests.support.engines import ENGINE_KINDS

NOW = datetime(2024, 5, 6, 4, 0, tzinfo=UTC)
ORG_NAME = "Acme"
DEPARTMENTS = settings(team_attributes=["department"])


@dataclass(frozen=True)
class Applied:
    run_id: int
    plan: Plan


@pytest.fixture
def org_id(db_engine: Engine) -> int:
    org = create_organization(
        db_engine, slug="acme", name=ORG_NAME, owner_email="owner@acme.test", owner_password="password1"
    )
    assert org.id is not None
    return org.id


def _sync(
    engine: Engine, org_id: int, employees: list[Employee], rules: SyncSettings | None = None
) -> Applied:
    """Plan `employees` against the stored directory and apply the plan in one transaction, as a run does."""
    rules = rules or settings()
    with write_session(engine) as session:
        run = queue.enqueue_run(session, org_id=org_id, trigger="manual", now=NOW)
        assert run.id is not None
        plan = make_plan(desired_state(employees, rules), load_directory(session, org_id), rules)
        apply_plan(
            session, plan, org_id=org_id, org_name=ORG_NAME, run_id=run.id, language=rules.language, now=NOW
        )
        run.status = "succeeded"  # as the runner records it: the next _sync gets a run of its own
        session.add(run)
        return Applied(run.id, plan)


def _user(engine: Engine, org_id: int, personio_id: str) -> User:
    with read_session(engine) as session:
        return session.exec(select(User).where(User.org_id == org_id, User.personio_id == personio_id)).one()


def _teams(engine: Engine, org_id: int) -> dict[str, Team]:
    with read_session(engine) as session:
        return {t.name: t for t in session.exec(select(Team).where(Team.org_id == org_id)).all()}


def _members(engine: Engine, team_id: int) -> dict[str, str]:
    """personio id (or email of a manual user) -> role, of one team."""
    with read_session(engine) as session:
        rows = session.exec(
            select(User, TeamMember)
            .join(TeamMember, col(TeamMember.user_id) == col(User.id))
            .where(TeamMember.team_id == team_id)
        ).all()
        return {user.personio_id or user.email: member.role for user, member in rows}


def _memberships(engine: Engine, org_id: int) -> dict[str, dict[str, str]]:
    """Every team of the organization by name, with its members (as `_members` gives them)."""
    return {name: _members(engine, team.id) for name, team in _teams(engine, org_id).items() if team.id}


def _outbox(engine: Engine) -> list[OutboxEmail]:
    with read_session(engine) as session:
        return list(session.exec(select(OutboxEmail).order_by(col(OutboxEmail.id))).all())


def _logged_changes(engine: Engine, run_id: int) -> list[tuple[str, str, str]]:
    with read_session(engine) as session:
        rows = session.exec(select(RunChange).where(RunChange.run_id == run_id)).all()
        return sorted((c.entity, c.action, c.key) for c in rows)


def _planned_changes(plan: Plan) -> list[tuple[str, str, str]]:
    return sorted((c.entity, c.action, c.key) for c in plan.changes)


# --- users ---------------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["en", "de"])
def test_a_created_user_lands_active_as_a_member_with_the_default_language_and_one_welcome_email(
    db_engine: Engine, org_id: int, language: str
) -> None:
    employee = make_employee(1, "Jörg", "Weiß", email="joerg.weiss@acme.test", position="Engineer")

    _sync(db_engine, org_id, [employee], settings(language=language))

    user = _user(db_engine, org_id, "1")
    assert (user.email, user.email_key, user.first_name, user.last_name, user.job_title) == (
        "joerg.weiss@acme.test",
        "joerg.weiss@acme.test",
        "Jörg",
        "Weiß",
        "Engineer",
    )
    assert (user.status, user.role, user.language, user.source) == ("active", "member", language, "personio")
    (welcome,) = _outbox(db_engine)
    assert (welcome.to, welcome.kind, welcome.language, welcome.sent_at) == (
        "joerg.weiss@acme.test",
        "welcome",
        language,
        None,
    )
    assert ORG_NAME in welcome.body


def test_a_second_apply_with_nothing_changed_sends_no_second_welcome(db_engine: Engine, org_id: int) -> None:
    employees = [make_employee(1), make_employee(2)]
    _sync(db_engine, org_id, employees)

    again = _sync(db_engine, org_id, employees)

    assert again.plan.is_empty
    assert _logged_changes(db_engine, again.run_id) == []
    assert len(_outbox(db_engine)) == 2


UPDATES: list[tuple[str, dict[str, str]]] = [
    # (id, what Personio changed)
    ("names", {"first": "Annabel", "last": "Berg-Lund"}),
    ("email", {"email": "anna.lund@acme.test"}),
    ("names-and-email", {"first": "Annabel", "email": "annabel@acme.test"}),
]


@pytest.mark.parametrize(
    ("changed", "database"),
    [pytest.param(changed, kind, id=f"{kind}-{name}") for name, changed in UPDATES for kind in ENGINE_KINDS],
    indirect=["database"],
)
def test_an_update_changes_the_linked_users_names_and_email(
    db_engine: Engine, org_id: int, changed: dict[str, str]
) -> None:
    before = {"first": "Anna", "last": "Berg", "email": "anna@acme.test"}
    _sync(db_engine, org_id, [make_employee(1, before["first"], before["last"], email=before["email"])])
    after = {**before, **changed}

    applied = _sync(
        db_engine, org_id, [make_employee(1, after["first"], after["last"], email=after["email"])]
    )

    user = _user(db_engine, org_id, "1")
    assert (user.first_name, user.last_name, user.email, user.email_key) == (
        after["first"],
        after["last"],
        after["email"],
        after["email"].lower(),
    )
    assert user.status == "active"
    assert _logged_changes(db_engine, applied.run_id) == [("user", "update", after["email"])]
    assert len(_outbox(db_engine)) == 1  # the welcome of the first run only


def test_two_users_may_swap_email_addresses(db_engine: Engine, org_id: int) -> None:
    _sync(db_engine, org_id, [make_employee(1, email="a@acme.test"), make_employee(2, email="b@acme.test")])

    _sync(db_engine, org_id, [make_employee(1, email="b@acme.test"), make_employee(2, email="a@acme.test")])

    assert (_user(db_engine, org_id, "1").email, _user(db_engine, org_id, "2").email) == (
        "b@acme.test",
        "a@acme.test",
    )


def test_a_deactivation_sets_the_status_and_removes_managed_memberships_only(
    db_engine: Engine, org_id: int
) -> None:
    it = ("10", "IT")
    employees = [make_employee(1, department=it), make_employee(2, department=it)]
    _sync(db_engine, org_id, employees, DEPARTMENTS)
    leaver = _user(db_engine, org_id, "1")
    with write_session(db_engine) as session:  # a team the owner made by hand, with the leaver in it
        manual = Team(org_id=org_id, name="Book club", created_at=utcnow())
        session.add(manual)
        session.flush()
        assert manual.id is not None and leaver.id is not None
        session.add(TeamMember(team_id=manual.id, user_id=leaver.id))
        manual_id = manual.id

    applied = _sync(
        db_engine, org_id, [make_employee(1, department=it, status="inactive"), employees[1]], DEPARTMENTS
    )

    user = _user(db_engine, org_id, "1")
    assert user.status == "deactivated"
    assert user.deactivated_at is not None
    department = _teams(db_engine, org_id)["Department IT"]
    assert department.id is not None
    assert _members(db_engine, department.id) == {"2": "member"}
    assert _members(db_engine, manual_id) == {"1": "member"}
    assert ("user", "deactivate", leaver.email) in _logged_changes(db_engine, applied.run_id)


def _supervisor_pid(engine: Engine, org_id: int, personio_id: str) -> str | None:
    user = _user(engine, org_id, personio_id)
    if user.supervisor_id is None:
        return None
    with read_session(engine) as session:
        supervisor = session.get(User, user.supervisor_id)
        assert supervisor is not None
        return supervisor.personio_id


def test_a_first_sync_links_every_supervisor_whatever_order_personio_lists_them_in(
    db_engine: Engine, org_id: int
) -> None:
    # Reports listed before their supervisors, a chain three deep, a loop (4 -> 5 -> 4, which
    # Personio's data can hold), someone reporting to themselves, and a supervisor who already exists.
    _sync(db_engine, org_id, [make_employee(9)])
    employees = [
        make_employee(1, supervisor_id="2"),
        make_employee(2, supervisor_id="3"),
        make_employee(3, supervisor_id="9"),
        make_employee(4, supervisor_id="5"),
        make_employee(5, supervisor_id="4"),
        make_employee(6, supervisor_id="6"),
        make_employee(7),
        make_employee(9),
    ]

    _sync(db_engine, org_id, employees)

    links = {pid: _supervisor_pid(db_engine, org_id, pid) for pid in "1234567"}
    assert links == {"1": "2", "2": "3", "3": "9", "4": "5", "5": "4", "6": None, "7": None}
    assert _sync(db_engine, org_id, employees).plan.is_empty  # and the next run finds nothing to do


@pytest.mark.parametrize(
    ("pids", "supervisor_of", "expected"),
    [
        (["1", "2", "3"], {}, ["1", "2", "3"]),
        (["1", "2", "3"], {"1": "2", "2": "3"}, ["3", "2", "1"]),
        (["1", "2", "3"], {"1": "9", "3": "1"}, ["1", "2", "3"]),  # 9 is not new: no constraint
        (["1", "2"], {"1": "2", "2": "1"}, ["2", "1"]),  # a loop is cut once, at its first user
        (["1"], {"1": "1"}, ["1"]),
    ],
)
def test_supervisors_first_orders_each_supervisor_before_their_reports(
    pids: list[str], supervisor_of: dict[str, str], expected: list[str]
) -> None:
    assert supervisors_first(pids, supervisor_of) == expected


def test_new_users_keep_ids_in_the_order_of_the_plan(db_engine: Engine, org_id: int) -> None:
    employees = [make_employee(1, supervisor_id="3"), make_employee(2, supervisor_id="3"), make_employee(3)]
    _sync(db_engine, org_id, employees)
    ids = [_user(db_engine, org_id, pid).id for pid in "123"]
    assert ids == sorted(ids)


# --- teams ---------------------------------------------------------------------------------


def test_a_team_is_created_for_a_department_with_its_members(db_engine: Engine, org_id: int) -> None:
    employees = [make_employee(1, department=("10", "IT")), make_employee(2, department=("10", "IT"))]

    applied = _sync(db_engine, org_id, employees, DEPARTMENTS)

    team = _teams(db_engine, org_id)["Department IT"]
    assert (team.source_attribute, team.source_key) == ("department", "10")
    assert team.id is not None
    assert _members(db_engine, team.id) == {"1": "member", "2": "member"}
    assert ("team", "create", "Department IT") in _logged_changes(db_engine, applied.run_id)


def test_a_renamed_department_renames_its_team_and_keeps_the_members(db_engine: Engine, org_id: int) -> None:
    _sync(db_engine, org_id, [make_employee(1, department=("10", "IT"))], DEPARTMENTS)
    before = _teams(db_engine, org_id)["Department IT"]

    applied = _sync(db_engine, org_id, [make_employee(1, department=("10", "Engineering"))], DEPARTMENTS)

    teams = _teams(db_engine, org_id)
    assert set(teams) == {"Department Engineering"}
    renamed = teams["Department Engineering"]
    assert renamed.id == before.id and renamed.id is not None
    assert _members(db_engine, renamed.id) == {"1": "member"}
    assert ("team", "rename", "Department Engineering") in _logged_changes(db_engine, applied.run_id)


@pytest.mark.parametrize(
    ("second", "rules", "teams_after"),
    [
        ([make_employee(1, department=("10", "IT"))], settings(), {}),
        ([make_employee(1, department=("20", "Sales"))], DEPARTMENTS, {"Department Sales": {"1": "member"}}),
        ([make_employee(1, department=("10", "IT"), status="inactive")], DEPARTMENTS, {}),
    ],
    ids=["attribute-switched-off", "no-members-left", "only-member-left"],
)
def test_a_managed_team_is_deleted_with_its_memberships(
    db_engine: Engine,
    org_id: int,
    second: list[Employee],
    rules: SyncSettings,
    teams_after: dict[str, dict[str, str]],
) -> None:
    _sync(db_engine, org_id, [make_employee(1, department=("10", "IT"))], DEPARTMENTS)

    applied = _sync(db_engine, org_id, second, rules)

    assert _memberships(db_engine, org_id) == teams_after
    assert ("team", "delete", "Department IT") in _logged_changes(db_engine, applied.run_id)


def test_a_team_made_by_hand_is_never_touched(db_engine: Engine, org_id: int) -> None:
    with write_session(db_engine) as session:
        session.add(Team(org_id=org_id, name="Department IT", created_at=utcnow()))

    _sync(db_engine, org_id, [make_employee(1, department=("10", "IT"))], DEPARTMENTS)
    _sync(db_engine, org_id, [make_employee(1, department=("10", "IT"))], settings())

    teams = _teams(db_engine, org_id)
    assert teams["Department IT"].source_attribute is None
    managed = [t for t in teams.values() if t.source_attribute == "department"]
    assert managed == []  # created beside it under a suffixed name, then deleted with the attribute


# --- the run's change log ------------------------------------------------------------------------

RUNS: list[tuple[str, list[dict[str, Any]], SyncSettings]] = [
    (
        "creates-and-warnings",
        [
            {"pid": 1, "department": ("10", "IT")},
            {"pid": 2, "department": ("10", "IT"), "email": None},
            {"pid": 3, "email": "shared@acme.test"},
            {"pid": 4, "email": "shared@acme.test"},
            {"pid": 5, "department": ("20", "Sales")},
        ],
        DEPARTMENTS,
    ),
    ("deactivation", [{"pid": 1, "department": ("10", "IT"), "status": "inactive"}], DEPARTMENTS),
    ("team-move", [{"pid": 1, "department": ("20", "Sales")}], DEPARTMENTS),
]


@pytest.mark.parametrize(
    ("second", "rules"), [(run, rules) for _, run, rules in RUNS], ids=[n for n, *_ in RUNS]
)
def test_every_change_and_warning_of_the_plan_is_logged_for_the_run(
    db_engine: Engine, org_id: int, second: list[dict[str, Any]], rules: SyncSettings
) -> None:
    _sync(db_engine, org_id, [make_employee(1, department=("10", "IT"))], DEPARTMENTS)
    employees = [make_employee(fields.pop("pid"), **fields) for fields in (dict(f) for f in second)]

    applied = _sync(db_engine, org_id, employees, rules)

    assert applied.plan.changes
    assert _logged_changes(db_engine, applied.run_id) == _planned_changes(applied.plan)
    with read_session(db_engine) as session:
        warnings = session.exec(select(RunWarning).where(RunWarning.run_id == applied.run_id)).all()
        logged = sorted((w.personio_id, w.reason) for w in warnings)
    assert logged == sorted((w.personio_id, w.reason) for w in applied.plan.warnings)
