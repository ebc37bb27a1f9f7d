"""The Runs, Directory and Support pages (AppTest, in-process) over runs written straight to the database."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, insert
from sqlmodel import select

from storage.clock import utcnow
from storage.db import read_session, write_session
from storage.models import Organization, Run, RunChange, RunWarning, table
from sync.accounts import create_organization, create_staff
from tests.support.dashboard import app_logged_in, page_text

PASSWORD = "correct horse battery"
OWNER = "olga@acme.test"
STAFF = "sam@support.test"
COUNTS = {
    "users_created": 3,
    "users_updated": 1,
    "users_deactivated": 1,
    "users_reactivated": 0,
    "teams_created": 2,
    "teams_updated": 0,
    "teams_deleted": 0,
    "memberships_added": 4,
    "memberships_removed": 0,
    "skipped": 1,
}


@pytest.fixture
def orgs(engine: Engine) -> dict[str, int]:
    acme = create_organization(
        engine,
        slug="acme",
        name="Acme",
        owner_email=OWNER,
        owner_password=PASSWORD,
        owner_first_name="Olga",
        owner_last_name="Owner",
    )
    globex = create_organization(
        engine, slug="globex", name="Globex", owner_email="gina@globex.test", owner_password=PASSWORD
    )
    create_staff(engine, email=STAFF, password=PASSWORD, name="Sam Support")
    assert acme.id is not None and globex.id is not None
    return {"acme": acme.id, "globex": globex.id}


def add_runs(engine: Engine, org_id: int, count: int, **fields: Any) -> None:
    """`count` finished runs, one a minute, the newest now."""
    now = utcnow()
    rows = []
    for index in range(count):
        at = now - timedelta(minutes=count - index)
        row: dict[str, Any] = {
            "org_id": org_id,
            "trigger": "automatic",
            "approve_safety": False,
            "status": "succeeded",
            "queued_at": at,
            "started_at": at,
            "finished_at": at + timedelta(seconds=5),
            "counts": COUNTS,
        }
        row.update(fields)
        rows.append(row)
    with write_session(engine) as session:
        session.execute(insert(table(Run)), rows)


def add_failed_run(engine: Engine, org_id: int) -> int:
    now = utcnow()
    with write_session(engine) as session:
        run = Run(
            org_id=org_id,
            trigger="automatic",
            status="failed",
            queued_at=now,
            started_at=now,
            finished_at=now,
            error_code="missing_attribute",
            error_message="Personio does not return the attribute 'email' to these credentials.",
            error_hint="In Personio, Settings > Integrations > API credentials: allow 'email'.",
        )
        session.add(run)
        session.flush()
        assert run.id is not None
        return run.id


def add_run_with_changes(engine: Engine, org_id: int) -> int:
    now = utcnow()
    with write_session(engine) as session:
        run = Run(
            org_id=org_id,
            trigger="manual",
            status="succeeded",
            queued_at=now,
            started_at=now,
            finished_at=now,
            counts=COUNTS,
        )
        session.add(run)
        session.flush()
        assert run.id is not None
        session.add(
            RunChange(
                run_id=run.id,
                entity="user",
                action="update",
                key="ann@acme.test",
                personio_id="17",
                before={"last_name": "Meyer"},
                after={"last_name": "Schmidt"},
            )
        )
        session.add(RunWarning(run_id=run.id, personio_id="99", reason="No email address in Personio."))
        return run.id


def select_row(app: Any, org_id: int | None, row: int, page: int = 1) -> Any:
    app.session_state[f"runs_table_{org_id}_{page}"] = {
        "selection": {"rows": [row], "columns": [], "cells": []}
    }
    return app.run()


def test_owner_sees_own_runs_newest_first_fifty_per_page(engine: Engine, orgs: dict[str, int]) -> None:
    add_runs(engine, orgs["acme"], 120)
    add_runs(engine, orgs["globex"], 3)
    app = app_logged_in(engine, OWNER, PASSWORD)
    app.switch_page("pages/runs.py").run()
    assert not app.exception
    table_frame = app.dataframe[0].value
    assert len(table_frame) == 50
    assert list(table_frame.columns) == [
        "Run",
        "Triggered at",
        "Avatar",
        "Triggered by",
        "Status",
        "Changes",
        "Error",
    ]
    assert table_frame["Triggered at"].is_monotonic_decreasing
    assert set(table_frame["Triggered by"]) == {"Automatic"}
    assert set(table_frame["Status"]) == {"✅ Succeeded"}
    assert all(str(a).startswith("data:image/svg+xml;base64,") for a in table_frame["Avatar"])
    assert "Runs 1 to 50 of 120" in page_text(app)

    app.number_input(key=f"runs_page_{orgs['acme']}").set_value(3).run()
    assert len(app.dataframe[0].value) == 20
    assert "Runs 101 to 120 of 120" in page_text(app)


def test_selecting_a_succeeded_run_shows_counts_changes_and_warnings(
    engine: Engine, orgs: dict[str, int]
) -> None:
    run_id = add_run_with_changes(engine, orgs["acme"])
    app = app_logged_in(engine, OWNER, PASSWORD)
    app.switch_page("pages/runs.py").run()
    assert "Select a run in the table" in page_text(app)
    app = select_row(app, orgs["acme"], 0)
    assert not app.exception
    assert any(f"Run #{run_id}" in s.value for s in app.subheader)
    metrics = {(m.label, int(m.value)) for m in app.metric}
    assert ("Created", 3) in metrics and ("Deactivated", 1) in metrics and ("Added", 4) in metrics
    changes = app.dataframe[1].value
    assert changes.iloc[0]["Change"] == "last name: Meyer → Schmidt"
    assert app.dataframe[2].value.iloc[0]["Reason"] == "No email address in Personio."


def test_a_person_who_triggered_a_run_is_shown_with_name_email_and_avatar(
    engine: Engine, orgs: dict[str, int]
) -> None:
    app = app_logged_in(engine, OWNER, PASSWORD)
    owner_id = app.session_state["principal"].id
    add_runs(engine, orgs["acme"], 1, trigger="manual", triggered_by_user_id=owner_id)
    app.switch_page("pages/runs.py").run()
    row = app.dataframe[0].value.iloc[0]
    assert row["Triggered by"] == f"Olga Owner ({OWNER})"
    assert str(row["Avatar"]).startswith("data:image/svg+xml;base64,")


def test_a_queued_run_shows_queued_and_the_page_keeps_refreshing(
    engine: Engine, orgs: dict[str, int]
) -> None:
    add_runs(engine, orgs["acme"], 1, status="queued", started_at=None, finished_at=None, counts={})
    app = app_logged_in(engine, OWNER, PASSWORD)
    app.switch_page("pages/runs.py").run()
    assert app.dataframe[0].value.iloc[0]["Status"] == "⏳ Queued"
    app = select_row(app, orgs["acme"], 0)
    assert "Waiting for the scheduler" in page_text(app)
    assert "No scheduler is running" in page_text(app)


def test_chart_of_changes_per_run_is_drawn(engine: Engine, orgs: dict[str, int]) -> None:
    add_runs(engine, orgs["acme"], 5)
    app = app_logged_in(engine, OWNER, PASSWORD)
    app.switch_page("pages/runs.py").run()
    assert "Changes per run" in [s.value for s in app.subheader]


def test_staff_reads_another_organizations_failed_run(engine: Engine, orgs: dict[str, int]) -> None:
    add_runs(engine, orgs["acme"], 2)
    run_id = add_failed_run(engine, orgs["globex"])
    app = app_logged_in(engine, STAFF, PASSWORD)
    app.switch_page("pages/runs.py").run()
    everything = app.dataframe[0].value
    assert set(everything["Organization"]) == {"Acme", "Globex"}
    app.selectbox(key="runs_org").set_value(orgs["globex"]).run()
    only_globex = app.dataframe[0].value
    assert list(only_globex["Run"]) == [run_id]
    assert only_globex.iloc[0]["Status"] == "❌ Failed"
    assert "attribute 'email'" in only_globex.iloc[0]["Error"]
    app = select_row(app, orgs["globex"], 0)
    assert any("attribute 'email'" in e.value for e in app.error)
    assert any("Settings > Integrations" in i.value for i in app.info)
    assert "missing_attribute" in page_text(app)


def test_owner_cannot_open_a_run_of_another_organization(engine: Engine, orgs: dict[str, int]) -> None:
    from sync.views_runs import run_detail

    run_id = add_failed_run(engine, orgs["globex"])
    assert run_detail(engine, run_id, org_id=orgs["acme"]) is None
    assert run_detail(engine, run_id, org_id=orgs["globex"]) is not None


def test_directory_lists_users_and_teams_and_searches(engine: Engine, orgs: dict[str, int]) -> None:
    app = app_logged_in(engine, OWNER, PASSWORD)
    app.switch_page("pages/directory.py").run()
    assert not app.exception
    users = app.dataframe[0].value
    assert list(users["Email"]) == [OWNER]
    assert {"Status", "Job title", "Supervisor", "Teams", "Source"} <= set(users.columns)
    app.text_input(key="directory_search").input("nobody-matches-this").run()
    assert len(app.dataframe[0].value) == 0


def test_support_switches_the_addon_and_the_schedule(engine: Engine, orgs: dict[str, int]) -> None:
    app = app_logged_in(engine, STAFF, PASSWORD)
    overview = app.dataframe[0].value
    assert list(overview["Organization"]) == ["Acme", "Globex"]
    assert "Client Secret" not in page_text(app)
    acme = orgs["acme"]
    app.selectbox(key="support_org").set_value(acme).run()
    app.toggle(key=f"support_addon_{acme}").set_value(False).run()
    assert not app.exception
    with read_session(engine) as session:
        org = session.exec(select(Organization).where(Organization.id == acme)).one()
    assert org.addon_enabled is False
    assert "now disabled for Acme" in page_text(app)
    app.selectbox(key=f"support_schedule_{acme}").set_value(6).run()
    assert "Acme now syncs every 6 hours" in page_text(app)
    assert app.dataframe[0].value.iloc[0]["Schedule"] == "every 6 hours"

    app.button(key="support_open_runs").click().run()
    assert not app.exception
    assert "Sync runs" in [t.value for t in app.title]
    assert app.selectbox(key="runs_org").value == acme
