"""End to end through the command line: the sandbox over loopback HTTP, the database of the engine
parameter (a SQLite file, then a PostgreSQL database).

Each test starts from a fresh 60-employee sandbox and an organization `acme` whose owner
is owner@acme.test, with the integration pointed at the sandbox.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, func
from sqlmodel import col, select

from storage.clock import utcnow
from storage.db import read_session, write_session
from storage.models import Integration, Organization, OutboxEmail, Run, RunChange, User
from sync import cli as cli_module
from sync.cli import main
from sync.core.employees import ACTIVE_STATUSES
from sync.integration import queue
from sync.personio.client import FetchResult, PersonioClient
from tests.support.cli import Cli, create_org_reading, run_subprocess

ALL_TEAMS = "supervisor,team,department,office,employment_type"


@pytest.fixture
def acme(engine: Engine, sandbox: Any, cli: Cli) -> Iterator[Any]:
    create_org_reading(engine, sandbox, cli, "--teams", "department,supervisor")
    yield sandbox


def directory(cli: Cli) -> dict[str, Any]:
    return cli.json("directory", "acme")  # type: ignore[no-any-return]


def users_by_pid(cli: Cli) -> dict[str, dict[str, Any]]:
    return {u["personio_id"]: u for u in directory(cli)["users"] if u["personio_id"]}


def run(cli: Cli, *extra: str) -> dict[str, Any]:
    return cli.json("run", "acme", *extra)  # type: ignore[no-any-return]


def expected_users(employees: list[dict[str, Any]], *, external: bool = False) -> set[str]:
    """Personio ids that should be active users: in scope, active, a valid email used once."""
    emails: dict[str, int] = {}
    for e in employees:
        email = (e.get("email") or "").strip().lower()
        if email and (external or e.get("employment_type") != "external"):
            emails[email] = emails.get(email, 0) + 1
    return {
        str(e["id"])
        for e in employees
        if e.get("status") in ACTIVE_STATUSES
        and (external or e.get("employment_type") != "external")
        and (e.get("email") or "").strip()
        and emails[(e.get("email") or "").strip().lower()] == 1
    }


def an_employee(sandbox: Any, **wanted: Any) -> dict[str, Any]:
    synced = expected_users(sandbox.employees())
    for e in sandbox.employees():
        if str(e["id"]) in synced and all(e.get(k) == v for k, v in wanted.items()):
            return e  # type: ignore[no-any-return]
    raise AssertionError(f"no employee with {wanted}")


def test_first_sync_creates_users_teams_and_welcome_emails(acme: Any, cli: Cli, engine: Engine) -> None:
    outcome = run(cli)
    assert outcome["status"] == "succeeded", outcome["error"]
    employees = acme.employees()
    want = expected_users(employees)
    users = users_by_pid(cli)
    assert {pid for pid, u in users.items() if u["status"] == "active"} == want
    assert outcome["counts"]["users_created"] == len(want)
    # the employee whose email had capitals and spaces in Personio is stored normalized
    assert all(u["email"] == u["email"].strip().lower() for u in users.values())
    # bad records are warnings, not failures
    reasons = " ".join(w["reason"] for w in outcome["warnings"])
    assert "No email" in reasons and "used by 2 employees" in reasons
    assert outcome["counts"]["skipped"] == len(outcome["warnings"]) >= 3
    # teams: departments and supervisors' teams with the supervisor as lead
    teams = {t["name"]: t for t in directory(cli)["teams"]}
    assert any(name.startswith("Department ") for name in teams)
    supervisor_teams = [t for name, t in teams.items() if name.endswith("'s team")]
    assert supervisor_teams and any(t["leads"] for t in supervisor_teams)
    with read_session(engine) as session:
        welcome = session.exec(select(OutboxEmail).where(OutboxEmail.kind == "welcome")).all()
    assert len(welcome) == len(want)
    assert all(m.language == "en" and "Welcome to Acme" in m.subject for m in welcome)


def test_second_run_without_changes_changes_nothing(acme: Any, cli: Cli, engine: Engine) -> None:
    first = run(cli)
    before = directory(cli)
    second = run(cli)
    assert second["status"] == "succeeded"
    assert second["changes"] == []
    # nothing changes; the bad records are still reported as skipped
    assert all(value == 0 for key, value in second["counts"].items() if key != "skipped")
    assert second["counts"]["skipped"] == first["counts"]["skipped"]
    assert directory(cli) == before
    with read_session(engine) as session:
        logged = session.exec(
            select(func.count()).select_from(RunChange).where(RunChange.run_id == second["run_id"])
        )
        assert logged.one() == 0
        users_updated_after = session.exec(select(func.max(User.updated_at))).one()
        run_one = session.get(Run, first["run_id"])
        assert run_one and run_one.finished_at and users_updated_after <= run_one.finished_at


def test_test_command_previews_without_writing(acme: Any, cli: Cli) -> None:
    result = cli("test", "acme", "--json")
    assert result.code == 0, result.err
    preview = result.json()
    assert preview["ok"] is True and preview["error"] is None
    assert preview["counts"]["users_created"] == len(expected_users(acme.employees()))
    assert {c["action"] for c in preview["changes"] if c["entity"] == "user"} == {"create"}
    assert [u for u in directory(cli)["users"] if u["personio_id"]] == []
    # the run then does exactly what the preview showed
    outcome = run(cli)
    assert outcome["counts"] == preview["counts"]


def test_hire_leave_rehire_and_delete(acme: Any, cli: Cli) -> None:
    run(cli)
    hired = acme.hire(
        first_name="Zoë",
        last_name="Neumann",
        email="zoe.neumann@acme.example",
        status="active",
        employment_type="internal",
        position="Designer",
    )
    outcome = run(cli)
    assert outcome["counts"]["users_created"] == 1
    assert users_by_pid(cli)[str(hired["id"])]["first_name"] == "Zoë"

    acme.update(hired["id"], status="inactive")
    outcome = run(cli)
    assert outcome["counts"]["users_deactivated"] == 1
    assert users_by_pid(cli)[str(hired["id"])]["status"] == "deactivated"
    assert users_by_pid(cli)[str(hired["id"])]["teams"] == []

    acme.update(hired["id"], status="active")
    outcome = run(cli)
    assert outcome["counts"]["users_reactivated"] == 1
    assert users_by_pid(cli)[str(hired["id"])]["status"] == "active"

    acme.delete(hired["id"])
    outcome = run(cli)
    (change,) = [c for c in outcome["changes"] if c["entity"] == "user"]
    assert change["action"] == "deactivate" and "No longer returned" in change["after"]["reason"]
    # deactivated, never deleted
    assert users_by_pid(cli)[str(hired["id"])]["status"] == "deactivated"


def test_transfer_rename_supervisor_email_and_position(acme: Any, cli: Cli) -> None:
    run(cli)
    units = acme.org_units()
    employee = an_employee(acme)
    pid = str(employee["id"])
    target = next(d for d in units["departments"] if d["id"] != (employee.get("department") or {}).get("id"))
    acme.update(employee["id"], department=target["id"])
    run(cli)
    assert f"Department {target['name']}" in users_by_pid(cli)[pid]["teams"]

    acme.rename_department(target["id"], "Renamed Unit")
    outcome = run(cli)
    assert outcome["counts"]["teams_updated"] >= 1 and outcome["counts"]["teams_created"] == 0
    assert "Department Renamed Unit" in users_by_pid(cli)[pid]["teams"]

    boss = an_employee(acme, status="active")
    if str(boss["id"]) == pid:
        boss = next(
            e
            for e in acme.employees()
            if str(e["id"]) in expected_users(acme.employees()) and e["id"] != employee["id"]
        )
    acme.update(employee["id"], supervisor_id=boss["id"])
    run(cli)
    assert users_by_pid(cli)[pid]["supervisor_email"] == users_by_pid(cli)[str(boss["id"])]["email"]

    acme.update(employee["id"], email="New.Address@Acme.Example")
    run(cli)
    assert users_by_pid(cli)[pid]["email"] == "new.address@acme.example"

    acme.update(employee["id"], position="Chief Tea Officer")
    run(cli)
    assert users_by_pid(cli)[pid]["job_title"] == "Chief Tea Officer"
    assert cli("config", "acme", "--no-job-title").code == 0
    acme.update(employee["id"], position="Something Else")
    outcome = run(cli)
    assert users_by_pid(cli)[pid]["job_title"] == "Chief Tea Officer"
    assert not [c for c in outcome["changes"] if c["entity"] == "user"]


def test_externals_switched_on_and_off(acme: Any, cli: Cli) -> None:
    run(cli)
    externals = expected_users(acme.employees(), external=True) - expected_users(acme.employees())
    assert externals, "the sandbox should have external employees"
    assert cli("config", "acme", "--sync-external").code == 0
    outcome = run(cli)
    assert outcome["counts"]["users_created"] == len(externals)
    assert cli("config", "acme", "--no-sync-external").code == 0
    outcome = run(cli)
    assert outcome["counts"]["users_deactivated"] == len(externals)


def test_team_attributes_switched_on_and_off(acme: Any, cli: Cli) -> None:
    run(cli)
    assert cli("config", "acme", "--teams", ALL_TEAMS).code == 0
    outcome = run(cli)
    names = {t["name"] for t in directory(cli)["teams"]}
    assert {"Employment type Internal"} <= names
    assert any(n.startswith("Office ") for n in names) and any(n.startswith("Team ") for n in names)
    assert outcome["counts"]["teams_created"] > 0
    assert cli("config", "acme", "--teams", "").code == 0
    outcome = run(cli)
    assert directory(cli)["teams"] == []
    assert outcome["counts"]["teams_deleted"] == len(names)


def test_existing_user_adopted_by_email_in_another_case_and_manual_user_untouched(
    acme: Any, cli: Cli, engine: Engine
) -> None:
    employee = an_employee(acme)
    now = utcnow()
    with write_session(engine) as session:
        org = session.exec(select(Organization)).one()
        for email in (employee["email"].strip().upper(), "manual.person@acme.test"):
            session.add(
                User(
                    org_id=org.id or 0,
                    email=email,
                    email_key=email.lower(),
                    first_name="Pre",
                    last_name="Existing",
                    created_at=now,
                    updated_at=now,
                )
            )
    outcome = run(cli)
    assert outcome["status"] == "succeeded"
    emails = [u["email"].lower() for u in directory(cli)["users"]]
    assert emails.count(employee["email"].strip().lower()) == 1
    adopted = users_by_pid(cli)[str(employee["id"])]
    assert adopted["first_name"] == employee["first_name"]
    assert any(c["action"] == "link" for c in outcome["changes"])
    manual = next(u for u in directory(cli)["users"] if u["email"] == "manual.person@acme.test")
    assert manual["first_name"] == "Pre" and manual["status"] == "active" and manual["personio_id"] is None


def test_the_last_owner_stays_active_when_personio_says_they_left(
    acme: Any, cli: Cli, engine: Engine
) -> None:
    employee = an_employee(acme)
    with write_session(engine) as session:
        owner = session.exec(select(User).where(User.role == "owner")).one()
        owner.email, owner.email_key = employee["email"].strip(), employee["email"].strip().lower()
        session.add(owner)
    run(cli)
    acme.update(employee["id"], status="inactive")
    outcome = run(cli)
    assert outcome["status"] == "succeeded"
    assert users_by_pid(cli)[str(employee["id"])]["status"] == "active"
    assert any("last active owner" in w["reason"] for w in outcome["warnings"])


def test_two_supervisors_with_the_same_name(acme: Any, cli: Cli) -> None:
    first = acme.hire(
        first_name="Peter",
        last_name="Wright",
        email="peter.wright1@acme.example",
        status="active",
        employment_type="internal",
    )
    second = acme.hire(
        first_name="Peter",
        last_name="Wright",
        email="peter.wright2@acme.example",
        status="active",
        employment_type="internal",
    )
    for boss, n in ((first, 1), (second, 2)):
        acme.hire(
            first_name=f"Report{n}",
            last_name="Doe",
            email=f"report{n}@acme.example",
            status="active",
            employment_type="internal",
            supervisor_id=boss["id"],
        )
    run(cli)
    teams = {t["name"]: t for t in directory(cli)["teams"]}
    assert teams["Peter Wright's team"]["leads"] == ["peter.wright1@acme.example"]
    assert teams["Peter Wright's team (2)"]["leads"] == ["peter.wright2@acme.example"]
    assert teams["Peter Wright's team (2)"]["members"] == ["report2@acme.example"]


def test_safety_stop_then_approval(acme: Any, cli: Cli, engine: Engine) -> None:
    run(cli)
    with write_session(engine) as session:  # automatic runs are on
        integration = session.exec(select(Integration)).one()
        integration.state = "active"
        session.add(integration)
    synced = sorted(expected_users(acme.employees()))
    leavers = synced[: len(synced) // 2]
    before = directory(cli)
    for pid in leavers:
        acme.update(int(pid), status="inactive")
    result = cli("run", "acme", "--json")
    assert result.code == 1
    outcome = result.json()
    assert outcome["status"] == "failed" and outcome["error"]["code"] == "safety_stop"
    assert f"deactivate {len(leavers)} of" in outcome["error"]["message"]
    assert directory(cli) == before
    with read_session(engine) as session:
        mails = session.exec(select(OutboxEmail).where(OutboxEmail.kind == "safety_stop")).all()
        integration = session.exec(select(Integration)).one()
    assert [m.to for m in mails] == ["owner@acme.test"]
    assert str(len(leavers)) in mails[0].body
    assert integration.state == "paused"
    approved = run(cli, "--approve-safety")
    assert approved["status"] == "succeeded" and approved["counts"]["users_deactivated"] == len(leavers)
    with read_session(engine) as session:
        assert session.exec(select(Integration)).one().state == "active"  # a successful manual run resumes


def test_an_empty_personio_result_stops_the_run(acme: Any, cli: Cli) -> None:
    run(cli)
    before = directory(cli)
    acme.set_faults(empty_result=True)
    result = cli("run", "acme", "--json")
    assert result.code == 1 and result.json()["error"]["code"] == "safety_stop"
    assert "no employee in scope" in result.json()["error"]["message"]
    assert directory(cli) == before


@pytest.mark.parametrize(
    ("faults", "code"),
    [
        ({"total_drift": {"delta": -3, "count": -1}}, "invalid_response"),
        ({"server_error": {"status": 503, "count": -1}}, "personio_unavailable"),
        ({"malformed_json": -1}, "invalid_response"),
    ],
)
def test_a_fault_during_the_fetch_leaves_the_directory_unchanged(
    acme: Any, cli: Cli, faults: dict[str, Any], code: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    run(cli)
    acme.hire(
        first_name="New",
        last_name="Hire",
        email="new.hire@acme.example",
        status="active",
        employment_type="internal",
    )
    before = directory(cli)
    monkeypatch.setenv("PERSONIO_RETRY_BACKOFF_SECONDS", "0.01")
    acme.set_faults(**faults)
    result = cli("run", "acme", "--json")
    assert result.code == 1
    outcome = result.json()
    assert outcome["error"]["code"] == code and outcome["error"]["hint"]
    assert directory(cli) == before


def test_wrong_credentials_and_missing_attribute_fail_the_test_with_a_reason(acme: Any, cli: Cli) -> None:
    assert cli("config", "acme", "--client-secret", "papi-wrong-secret").code == 0
    result = cli("test", "acme")
    assert result.code == 1
    assert "rejected the Client ID / Client Secret" in result.err and "papi-wrong-secret" not in result.err
    acme.add_credential(
        client_id="papi-limited", client_secret="papi-limited-secret", withheld=["employment_type"]
    )
    assert (
        cli("config", "acme", "--client-id", "papi-limited", "--client-secret", "papi-limited-secret").code
        == 0
    )
    result = cli("test", "acme", "--json")
    assert result.code == 1
    error = result.json()["error"]
    assert error["code"] == "missing_attribute" and "Employment type" in error["message"]


def test_cli_as_a_process_prints_one_line_errors_and_exit_codes(acme: Any) -> None:
    missing = run_subprocess("run", "nope")
    assert missing.code == 1
    assert (
        missing.err.strip().count("\n") == 0
        and "No organization" in missing.err
        and "Traceback" not in missing.err
    )
    ok = run_subprocess("run", "acme", "--json")
    assert ok.code == 0, ok.err
    assert ok.json()["status"] == "succeeded"
    runs = run_subprocess("runs", "acme", "--json")
    assert runs.json()[0]["status"] == "succeeded"


@pytest.mark.parametrize(
    "command", ["org", "staff", "config", "test", "run", "activate", "deactivate", "runs", "directory"]
)
def test_every_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main([command, "--help"])
    assert done.value.code == 0
    assert "usage: python -m sync" in capsys.readouterr().out


def test_employees_swapping_addresses_in_personio(acme: Any, cli: Cli) -> None:
    run(cli)
    synced = sorted(expected_users(acme.employees()), key=int)[:3]
    people = [acme.employee(int(pid)) for pid in synced]
    addresses = [p["email"].strip() for p in people]
    for n, person in enumerate(people):  # park, then rotate: a -> b's, b -> c's, c -> a's
        acme.update(person["id"], email=f"parked{n}@acme.example")
    for n, person in enumerate(people):
        acme.update(person["id"], email=addresses[(n + 1) % 3])
    outcome = run(cli)
    assert outcome["status"] == "succeeded", outcome["error"]
    users = users_by_pid(cli)
    assert [users[pid]["email"] for pid in synced] == [a.lower() for a in addresses[1:] + addresses[:1]]


def test_credentials_that_may_not_read_supervisors_keep_the_links(acme: Any, cli: Cli) -> None:
    run(cli)
    before = {pid: u["supervisor_email"] for pid, u in users_by_pid(cli).items()}
    assert any(before.values())
    acme.add_credential(client_id="papi-nosup", client_secret="papi-nosup-secret", withheld=["supervisor"])
    assert cli("config", "acme", "--client-id", "papi-nosup", "--client-secret", "papi-nosup-secret",
               "--teams", "department").code == 0  # fmt: skip
    outcome = run(cli)
    assert outcome["status"] == "succeeded"
    assert not [c for c in outcome["changes"] if c["entity"] == "user"]
    assert {pid: u["supervisor_email"] for pid, u in users_by_pid(cli).items()} == before


def test_an_unusable_database_is_one_line_without_the_password(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://sync:hunter22@127.0.0.1:1/nothing")
    result = cli("runs", "acme")
    assert result.code == 1
    assert result.err.count("\n") == 1 and "cannot be used" in result.err and "Hint:" in result.err
    assert "hunter22" not in result.err


def test_run_executes_the_run_that_activation_queued(acme: Any, cli: Cli, engine: Engine) -> None:
    assert cli("activate", "acme").code == 0  # queues the first run; no scheduler is running here
    outcome = run(cli)
    assert outcome["status"] == "succeeded"
    with read_session(engine) as session:
        runs = session.exec(select(Run)).all()
    assert [(r.trigger, r.status) for r in runs] == [("activation", "succeeded")]


def test_a_supervisor_personio_does_not_return_gets_no_team_until_returned(
    acme: Any, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    department = acme.org_units()["departments"][0]
    boss = acme.hire(first_name="Bea", last_name="Hidden", email="bea.hidden@acme.example", status="active")
    reports = [
        acme.hire(
            first_name=f"Report{n}",
            last_name="Hidden",
            email=f"report{n}.hidden@acme.example",
            status="active",
            supervisor_id=boss["id"],
            department=department["id"],
        )
        for n in (1, 2)
    ]
    report_emails = sorted(r["email"] for r in reports)
    # The sandbox cannot hide a record from a credential: drop the boss from what the client
    # returns, as Personio does for a supervisor that is not readable or outside the company.
    fetch = PersonioClient.fetch_employees
    not_returned = {str(boss["id"])}

    def fetch_without_boss(self: PersonioClient, **kwargs: Any) -> FetchResult:
        result = fetch(self, **kwargs)
        kept = [e for e in result.employees if e.personio_id not in not_returned]
        return dataclasses.replace(result, employees=kept)

    monkeypatch.setattr(PersonioClient, "fetch_employees", fetch_without_boss)
    hidden = run(cli)
    assert hidden["status"] == "succeeded", hidden["error"]
    (warning,) = [w for w in hidden["warnings"] if w["personio_id"] == str(boss["id"])]
    assert warning["reason"] == (
        f"Supervisor {boss['id']} is not returned by Personio (not readable, deleted or outside the "
        "company): no team for their 2 direct reports."
    )
    names = {t["name"] for t in directory(cli)["teams"]}
    assert not any(name.startswith("Supervisor ") or "Hidden" in name for name in names)
    users = users_by_pid(cli)
    assert all(users[str(r["id"])]["teams"] == [f"Department {department['name']}"] for r in reports)

    not_returned.clear()  # the boss is returned again
    returned = run(cli)
    assert not [w for w in returned["warnings"] if w["personio_id"] == str(boss["id"])]
    teams = {t["name"]: t for t in directory(cli)["teams"]}
    assert teams["Bea Hidden's team"]["members"] == report_emails
    assert teams["Bea Hidden's team"]["leads"] == ["bea.hidden@acme.example"]


def test_an_internal_whose_supervisor_is_external_gets_the_team_without_a_lead(acme: Any, cli: Cli) -> None:
    employees = acme.employees()
    synced = expected_users(employees)
    # The generated company has no external supervisor: give an internal one.
    external = next(e for e in employees if e["employment_type"] == "external" and e["status"] == "active")
    report = next(e for e in employees if str(e["id"]) in synced and e["id"] != external["supervisor_id"])
    acme.update(report["id"], supervisor_id=external["id"])
    outcome = run(cli)
    assert outcome["status"] == "succeeded", outcome["error"]
    users = users_by_pid(cli)
    assert str(external["id"]) not in users  # externals are not synced
    name = f"{external['first_name'].strip()} {external['last_name'].strip()}'s team"
    team = {t["name"]: t for t in directory(cli)["teams"]}[name]
    assert team["members"] == [users[str(report["id"])]["email"]] and team["leads"] == []


def test_a_database_url_with_a_bad_port_is_a_database_error(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://sync:hunter22@127.0.0.1:port/nothing")
    result = cli("runs", "acme")
    assert result.code == 1
    assert result.err.count("\n") == 1 and "cannot be used" in result.err and "Hint:" in result.err
    assert "hunter22" not in result.err


def test_an_unexpected_error_is_one_line_and_not_called_a_database_failure(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: Any) -> int:
        raise ValueError("private detail")

    monkeypatch.setattr("sync.cli._dispatch", broken)
    result = cli("runs", "acme")
    assert result.code == 1
    assert result.err.startswith("error: unexpected error (ValueError") and "Hint:" in result.err
    assert result.err.count("\n") == 1 and "database" not in result.err and "private detail" not in result.err


def _running_run_elsewhere(engine: Engine, *, lease_seconds: int) -> None:
    """A run of acme that another process (a scheduler) has claimed and is running."""
    with read_session(engine) as session:
        org = session.exec(select(Organization).where(Organization.slug == "acme")).one()
    assert org.id is not None
    with write_session(engine) as session:
        run_id = queue.enqueue_run(session, org_id=org.id, trigger="automatic").id
    assert queue.claim_run(engine, worker_id="elsewhere", run_id=run_id, lease_seconds=lease_seconds)


def test_run_gives_up_while_another_run_is_running_and_queues_nothing(
    acme: Any, cli: Cli, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    _running_run_elsewhere(engine, lease_seconds=600)
    monkeypatch.setattr(cli_module, "WAIT_FOR_OPEN_RUN_SECONDS", 0)
    result = cli("run", "acme")
    assert result.code == 1 and "still in progress" in result.err
    with read_session(engine) as session:
        runs = session.exec(select(Run)).all()
    assert [(r.trigger, r.status) for r in runs] == [("automatic", "running")]


def test_run_fails_a_run_whose_process_died_then_runs(acme: Any, cli: Cli, engine: Engine) -> None:
    _running_run_elsewhere(engine, lease_seconds=-1)  # its lease has already expired
    outcome = run(cli)
    assert outcome["status"] == "succeeded"
    with read_session(engine) as session:
        runs = session.exec(select(Run).order_by(col(Run.id))).all()
    # The dead run is failed and retried once automatically; `run` executes that retry (one open
    # run per organization) instead of queuing a second run beside it.
    assert [(r.trigger, r.status, r.error_code, r.retry_of_run_id) for r in runs] == [
        ("automatic", "failed", "lease_expired", None),
        ("automatic", "succeeded", None, runs[0].id),
    ]


def test_control_characters_in_a_personio_name_are_removed_and_the_run_succeeds(
    engine: Engine, sandbox: Any, cli: Cli
) -> None:
    # PostgreSQL refuses NUL in text outright; SQLite would store it. Either way it never arrives.
    create_org_reading(engine, sandbox, cli, "--teams", "department")
    hired = sandbox.hire(
        first_name="Jo\x00sé",
        last_name="RTL\u202egpj.exe",
        email="jose.nul@acme.example",
        status="active",
        employment_type="internal",
    )
    assert sandbox.employee(hired["id"])["first_name"] == "Jo\x00sé"
    outcome = run(cli)
    assert outcome["status"] == "succeeded", outcome["error"]
    user = users_by_pid(cli)[str(hired["id"])]
    assert (user["first_name"], user["last_name"], user["status"]) == ("José", "RTLgpj.exe", "active")
    (warning,) = [w for w in outcome["warnings"] if w["personio_id"] == str(hired["id"])]
    assert "control characters" in warning["reason"]
    assert run(cli)["changes"] == []
