"""A run that finds what the last no-change run found skips planning (sync/integration/unchanged.py).

End to end through the command line, the sandbox over loopback HTTP, on SQLite and PostgreSQL: the
runs after a no-change run give the same outcome without making a plan, and anything that could
change the plan (an employee in Personio, a setting, the directory, a membership) plans in full.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import Engine, delete, text, update
from sqlmodel import select

from storage import db
from storage.db import read_session, write_session
from storage.models import RunWarning, Team, TeamMember, UnchangedPlan, User, table
from sync.core.plan import Plan
from sync.core.settings import SyncSettings
from sync.integration import source as source_module
from sync.integration import unchanged as unchanged_module
from sync.integration.snapshot import directory_digest, load_directory
from sync.integration.unchanged import rules_version, source_key
from tests.support.cli import Cli, create_org_reading


@pytest.fixture
def acme(engine: Engine, sandbox: Any, cli: Cli) -> Iterator[Any]:
    create_org_reading(engine, sandbox, cli, "--teams", "department,supervisor")
    yield sandbox


def run(cli: Cli, *extra: str) -> dict[str, Any]:
    outcome: dict[str, Any] = cli.json("run", "acme", *extra)
    assert outcome["status"] == "succeeded", outcome["error"]
    return outcome


class PlanCalls:
    """Counts the plans made (make_plan calls) while it is installed."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        made = source_module.make_plan

        def counted(*args: Any, **kwargs: Any) -> Plan:
            self.count += 1
            return made(*args, **kwargs)

        monkeypatch.setattr(source_module, "make_plan", counted)


def org_id_of(engine: Engine) -> int:
    with read_session(engine) as session:
        remembered = session.exec(select(UnchangedPlan)).one()
        return remembered.org_id


def test_a_run_that_finds_the_same_answer_and_directory_has_the_same_outcome_without_planning(
    acme: Any, cli: Cli, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = run(cli)
    assert first["counts"]["users_created"] > 0
    with read_session(engine) as session:
        assert session.exec(select(UnchangedPlan)).first() is None  # a run that changed things
    no_change = run(cli)
    assert no_change["changes"] == [] and no_change["counts"]["skipped"] >= 3
    plans = PlanCalls(monkeypatch)

    again = run(cli)
    assert plans.count == 0
    assert again["changes"] == []
    assert again["counts"] == no_change["counts"]
    assert again["warnings"] == no_change["warnings"]
    # the Test says the same, without planning either
    preview = cli.json("test", "acme")
    assert preview["ok"] is True and preview["changes"] == [] and plans.count == 0
    assert preview["warnings"] == no_change["warnings"]
    # and the run is recorded like any other: its warnings are in its record
    with read_session(engine) as session:
        recorded = session.exec(select(RunWarning.reason).where(RunWarning.run_id == again["run_id"])).all()
    assert sorted(recorded) == sorted(w["reason"] for w in no_change["warnings"])


def test_a_change_in_personio_is_planned_and_applied(
    acme: Any, cli: Cli, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    run(cli)
    run(cli)
    employee = next(e for e in acme.employees() if e.get("status") == "active" and e.get("email"))
    acme.update(employee["id"], position="Chief Tea Officer")
    plans = PlanCalls(monkeypatch)
    outcome = run(cli)
    assert plans.count == 1
    assert [c["after"] for c in outcome["changes"]] == [{"job_title": "Chief Tea Officer"}]
    assert run(cli)["changes"] == [] and plans.count == 2  # the no-change run after the change
    assert run(cli)["changes"] == [] and plans.count == 2


def test_a_setting_changed_is_planned_again(
    acme: Any, cli: Cli, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    run(cli)
    run(cli)
    plans = PlanCalls(monkeypatch)
    assert cli("config", "acme", "--no-job-title").code == 0
    outcome = run(cli)
    assert plans.count == 1 and outcome["changes"] == []  # job titles are kept, not cleared
    assert cli("config", "acme", "--teams", "department").code == 0
    outcome = run(cli)
    assert plans.count == 2 and outcome["counts"]["teams_deleted"] > 0


def test_a_change_made_in_the_directory_is_found_and_put_right(
    acme: Any, cli: Cli, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    run(cli)
    run(cli)
    org_id = org_id_of(engine)
    with write_session(engine) as session:
        user = session.exec(select(User).where(User.org_id == org_id, User.personio_id.is_not(None))).first()  # type: ignore[union-attr]
        assert user is not None
        renamed, pid = user.id, user.personio_id
        session.execute(update(table(User)).where(table(User).c.id == renamed).values(last_name="Changed"))
    plans = PlanCalls(monkeypatch)
    outcome = run(cli)
    assert plans.count == 1
    assert [(c["personio_id"], c["before"], c["action"]) for c in outcome["changes"]] == [
        (pid, {"last_name": "Changed"}, "update")
    ]

    # put right, the directory is the one the remembered plan read again: nothing to plan
    assert run(cli)["changes"] == [] and plans.count == 1
    with write_session(engine) as session:
        team_id, user_id = session.execute(
            select(TeamMember.team_id, TeamMember.user_id)
            .join(Team, Team.id == TeamMember.team_id)  # type: ignore[arg-type]
            .where(Team.org_id == org_id, TeamMember.role == "member")
        ).first()  # type: ignore[misc]
        session.execute(
            delete(table(TeamMember)).where(
                table(TeamMember).c.team_id == team_id, table(TeamMember).c.user_id == user_id
            )
        )
    outcome = run(cli)
    assert plans.count == 2
    assert outcome["counts"]["memberships_added"] == 1


def test_the_directory_digest_is_the_snapshots_and_changes_with_any_value_it_reads(
    acme: Any, cli: Cli, engine: Engine
) -> None:
    run(cli)
    run(cli)
    org_id = org_id_of(engine)
    with read_session(engine) as session:
        digest = directory_digest(session, org_id)
        assert load_directory(session, org_id).digest == digest
        remembered = session.get(UnchangedPlan, org_id)
        assert remembered is not None and remembered.directory_digest == digest
    users_t, members_t = table(User), table(TeamMember)
    with read_session(engine) as session:
        user_id = session.execute(
            select(users_t.c.id).where(users_t.c.org_id == org_id, users_t.c.job_title.is_(None))
        ).scalar()
        team_id, member_id = session.execute(select(members_t.c.team_id, members_t.c.user_id)).first()  # type: ignore[misc]
    edits = [
        # an empty job title is not a missing one
        update(users_t).where(users_t.c.id == user_id).values(job_title=""),
        update(users_t).where(users_t.c.id == user_id).values(job_title=None),
        # a role the platform gives (the sync never writes it)
        update(members_t)
        .where(members_t.c.team_id == team_id, members_t.c.user_id == member_id)
        .values(role="coach"),
    ]
    seen = {digest}
    for edit in edits:
        with write_session(engine) as session:
            session.execute(edit)
        with read_session(engine) as session:
            now = directory_digest(session, org_id)
            assert load_directory(session, org_id).digest == now
        seen.add(now)
    assert len(seen) == 3  # the second edit put the first one back


def test_a_remembered_outcome_this_version_cannot_read_plans_in_full(
    acme: Any, cli: Cli, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    run(cli)
    no_change = run(cli)
    with write_session(engine) as session:
        session.execute(update(table(UnchangedPlan)).values(outcome={"warnings": "not a list of pairs"}))
    plans = PlanCalls(monkeypatch)
    again = run(cli)
    assert plans.count == 1 and again["counts"] == no_change["counts"]
    assert again["warnings"] == no_change["warnings"]


def test_migration_6_adds_the_table_to_an_older_database(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE unchangedplan"))
        conn.execute(text("DELETE FROM schemaversion WHERE version = 6"))
    assert 6 not in db.applied_versions(engine)
    db.migrate(engine)
    db.migrate(engine)
    assert 6 in db.applied_versions(engine)
    with read_session(engine) as session:
        assert session.exec(select(UnchangedPlan)).all() == []


def test_the_source_key_is_the_answer_the_settings_and_the_rules_together() -> None:
    settings = SyncSettings(team_attributes=("department",))
    key = source_key("a" * 64, settings)
    assert key is not None and key == source_key("a" * 64, SyncSettings(team_attributes=("department",)))
    assert source_key("b" * 64, settings) != key
    assert source_key("a" * 64, replace(settings, sync_external=True)) != key
    assert source_key("a" * 64, replace(settings, language="de")) != key
    assert source_key("", settings) is None  # a source that did not come from Personio's client
    assert len(rules_version()) == 64


def test_an_early_read_that_fails_plans_in_full_and_logs_no_text_of_the_error(
    acme: Any, cli: Cli, engine: Engine, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    run(cli)
    no_change = run(cli)

    def failing(*_args: Any) -> str:
        raise RuntimeError("could not connect to postgresql://sync:hunter2@db.internal/sync")

    monkeypatch.setattr(unchanged_module.snapshot, "directory_digest", failing)
    plans = PlanCalls(monkeypatch)
    with caplog.at_level(logging.INFO, logger="sync.runner"):
        again = run(cli)
    assert plans.count == 1 and again["counts"] == no_change["counts"]
    assert "RuntimeError" in caplog.text and "hunter2" not in caplog.text
