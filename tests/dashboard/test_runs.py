"""The Runs, Directory and Support pages (AppTest, in-process) over runs written straight to the database."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
import pytest
import streamlit as st
from sqlalchemy import Engine, insert
from sqlmodel import select
from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df

from storage.clock import utcnow
from storage.db import read_session, write_session
from storage.models import Organization, Run, RunChange, RunWarning, table
from sync.accounts.organizations import create_organization, create_staff
from sync.integration.queue import claim_run
from sync.views.runs import IDLE_REFRESH_SECONDS, OPEN_REFRESH_SECONDS, changes_per_run, refresh_seconds
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


def add_finished_run(engine: Engine, org_id: int, counts: dict[str, int], finished_at: datetime) -> int:
    with write_session(engine) as session:
        run = Run(
            org_id=org_id,
            trigger="automatic",
            status="succeeded",
            queued_at=finished_at - timedelta(seconds=5),
            started_at=finished_at - timedelta(seconds=5),
            finished_at=finished_at,
            counts=counts,
        )
        session.add(run)
        session.flush()
        assert run.id is not None
        return run.id


def finish_run(engine: Engine, run_id: int, counts: dict[str, int]) -> None:
    """What the scheduler records when a run succeeds."""
    with write_session(engine) as session:
        run = session.get(Run, run_id)
        assert run is not None
        run.status = "succeeded"
        run.finished_at = utcnow()
        run.counts = counts
        run.lease_owner = None
        run.lease_expires_at = None
        session.add(run)


@pytest.fixture
def fragment_timers(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any]]:
    """(function name, run_every) of every `st.fragment` the pages define, in order."""
    timers: list[tuple[str, Any]] = []
    real_fragment = st.fragment

    def spy(func: Any = None, *, run_every: Any = None, **options: Any) -> Any:
        def decorate(function: Any) -> Any:
            timers.append((function.__name__, run_every))
            return real_fragment(function, run_every=run_every, **options)

        return decorate if func is None else decorate(func)

    monkeypatch.setattr(st, "fragment", spy)
    return timers


def select_row(app: Any, org_id: int | None, row: int, page: int = 1) -> Any:
    app.session_state[f"runs_table_{org_id}_{page}"] = {
        "selection": {"rows": [row], "columns": [], "cells": []}
    }
    return app.run()


def test_owner_sees_own_runs_newest_first_fifty_per_page(engine: Engine, orgs: dict[str, int]) -> None:
    add_runs(engine, orgs["acme"], 120)
    add_runs(engine, orgs["globex"], 3)
    app = app_logged_in(engine, OWNER, PASSWORD)
    app.switch_page("screens/runs.py").run()
    assert not app.exception
    table_frame = app.dataframe[0].value
    assert len(table_frame) == 50
    assert list(table_frame.columns) == [
        "Status",
        "Error",
        "Triggered at",
        "Avatar",
        "Triggered by",
        "Changes",
        "Run",
    ]
    assert table_frame["Triggered at"].is_monotonic_decreasing
    assert set(table_frame["Triggered by"]) == {"Automatic"}
    assert set(table_frame["Status"]) == {"Succeeded"}
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
    app.switch_page("screens/runs.py").run()
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
    app.switch_page("screens/runs.py").run()
    row = app.dataframe[0].value.iloc[0]
    assert row["Triggered by"] == f"Olga Owner ({OWNER})"
    assert str(row["Avatar"]).startswith("data:image/svg+xml;base64,")


def test_the_page_refreshes_quickly_only_while_a_run_is_open() -> None:
    assert refresh_seconds(open_run=True) == OPEN_REFRESH_SECONDS
    assert refresh_seconds(open_run=False) == IDLE_REFRESH_SECONDS
    assert OPEN_REFRESH_SECONDS <= 5 < IDLE_REFRESH_SECONDS


def test_a_queued_run_shows_queued_and_the_page_keeps_refreshing(
    engine: Engine, orgs: dict[str, int], fragment_timers: list[tuple[str, Any]]
) -> None:
    add_runs(engine, orgs["acme"], 1, status="queued", started_at=None, finished_at=None, counts={})
    with read_session(engine) as session:
        run_id = session.exec(select(Run.id).where(Run.org_id == orgs["acme"])).one()
    app = app_logged_in(engine, OWNER, PASSWORD)
    app.switch_page("screens/runs.py").run()
    assert not app.exception
    assert app.dataframe[0].value.iloc[0]["Status"] == "Queued"
    # The run table is a fragment that Streamlit re-runs on a short timer while the run is open.
    assert fragment_timers[-1] == ("runs_table", OPEN_REFRESH_SECONDS)
    app = select_row(app, orgs["acme"], 0)
    assert "Waiting for the scheduler" in page_text(app)
    assert "No scheduler is running" in page_text(app)

    # A scheduler picks the run up. The timer's re-run (no click, no widget change) shows it.
    assert claim_run(engine, worker_id="test-worker", run_id=run_id) is not None
    app.run()
    assert not app.exception
    assert app.dataframe[0].value.iloc[0]["Status"] == "Running"
    assert "This panel updates by itself" in page_text(app)
    assert fragment_timers[-1] == ("runs_table", OPEN_REFRESH_SECONDS)

    # The run finishes: the next re-run shows the result and the page drops to the slow timer.
    finish_run(engine, run_id, COUNTS)
    app.run()
    assert not app.exception
    row = app.dataframe[0].value.iloc[0]
    assert (row["Run"], row["Status"], row["Changes"]) == (run_id, "Succeeded", 11)
    assert any(f"Run #{run_id} · :material/check_circle: Succeeded" in s.value for s in app.subheader)
    assert ("Created", 3) in {(m.label, int(m.value)) for m in app.metric}
    assert "Waiting for the scheduler" not in page_text(app)
    assert fragment_timers[-1] == ("runs_table", IDLE_REFRESH_SECONDS)


def test_chart_of_changes_per_run_is_drawn(engine: Engine, orgs: dict[str, int]) -> None:
    at = utcnow().replace(microsecond=0) - timedelta(hours=1)
    only_users = add_finished_run(engine, orgs["acme"], {"users_created": 2, "skipped": 7}, at)
    everything = add_finished_run(engine, orgs["acme"], COUNTS, at + timedelta(minutes=10))
    teams_and_members = add_finished_run(
        engine, orgs["acme"], {"teams_deleted": 3, "memberships_removed": 1}, at + timedelta(minutes=20)
    )
    add_failed_run(engine, orgs["acme"])  # failed, queued and other organizations' runs are not charted
    add_runs(engine, orgs["acme"], 1, status="queued", started_at=None, finished_at=None, counts={})
    add_runs(engine, orgs["globex"], 2)

    def label(run_id: int, minutes: int) -> str:
        return f"#{run_id} · {at + timedelta(minutes=minutes):%m-%d %H:%M}"

    expected = pd.DataFrame(
        {
            "Label": [label(only_users, 0), label(everything, 10), label(teams_and_members, 20)],
            "Users": [2, 5, 0],
            "Teams": [0, 2, 3],
            "Memberships": [0, 4, 1],
        }
    )
    data = changes_per_run(engine, org_id=orgs["acme"])
    assert list(data["Run"]) == [only_users, everything, teams_and_members]  # oldest first
    pd.testing.assert_frame_equal(
        data[["Label", "Users", "Teams", "Memberships"]].reset_index(drop=True), expected, check_dtype=False
    )

    app = app_logged_in(engine, OWNER, PASSWORD)
    app.switch_page("screens/runs.py").run()
    assert not app.exception
    assert "Changes per run" in [s.value for s in app.subheader]
    charts = app.get("vega_lite_chart")
    assert len(charts) == 1
    chart = charts[0].proto
    spec = json.loads(chart.spec)
    assert spec["mark"]["type"] == "bar"
    assert spec["encoding"]["x"]["field"] == "Label"
    assert spec["encoding"]["x"]["sort"] is None  # runs stay in run order, not alphabetical
    assert spec["encoding"]["x"]["title"] == "Run, finished at (UTC)"
    assert spec["encoding"]["y"]["title"] == "Changes"
    assert [d.name for d in chart.datasets] == [spec["data"]["name"]]
    # st.bar_chart stores the frame long (one row per run and series): widen it back and compare.
    long = convert_arrow_bytes_to_pandas_df(chart.datasets[0].data.data)
    x, series, value = (
        spec["encoding"]["x"]["field"],
        spec["encoding"]["color"]["field"],
        spec["encoding"]["y"]["field"],
    )
    drawn = long.pivot(index=x, columns=series, values=value).loc[list(expected["Label"])]
    assert list(drawn.index) == list(expected["Label"])
    for name in ("Users", "Teams", "Memberships"):
        assert list(drawn[name]) == list(expected[name]), name


def test_staff_reads_another_organizations_failed_run(engine: Engine, orgs: dict[str, int]) -> None:
    add_runs(engine, orgs["acme"], 2)
    run_id = add_failed_run(engine, orgs["globex"])
    app = app_logged_in(engine, STAFF, PASSWORD)
    app.switch_page("screens/runs.py").run()
    everything = app.dataframe[0].value
    assert set(everything["Organization"]) == {"Acme", "Globex"}
    app.selectbox(key="runs_org").set_value(orgs["globex"]).run()
    only_globex = app.dataframe[0].value
    assert list(only_globex["Run"]) == [run_id]
    assert only_globex.iloc[0]["Status"] == "Failed"
    assert "attribute 'email'" in only_globex.iloc[0]["Error"]
    app = select_row(app, orgs["globex"], 0)
    assert any("attribute 'email'" in e.value for e in app.error)
    assert any("Settings > Integrations" in i.value for i in app.info)
    assert "missing_attribute" in page_text(app)


def test_owner_cannot_open_a_run_of_another_organization(engine: Engine, orgs: dict[str, int]) -> None:
    from sync.views.runs import run_detail

    run_id = add_failed_run(engine, orgs["globex"])
    assert run_detail(engine, run_id, org_id=orgs["acme"]) is None
    assert run_detail(engine, run_id, org_id=orgs["globex"]) is not None


def test_directory_lists_users_and_teams_and_searches(engine: Engine, orgs: dict[str, int]) -> None:
    app = app_logged_in(engine, OWNER, PASSWORD)
    app.switch_page("screens/directory.py").run()
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
