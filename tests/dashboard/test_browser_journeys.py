"""Whole journeys in Debian's Chromium against `streamlit run dashboard.py`, the sandbox and a scheduler.

Each test starts the dashboard on a free port and a scheduler (real processes, the test's
SQLite file). On failure `browser_page` saves a screenshot to test-artifacts/.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from storage.clock import utcnow
from storage.db import read_session, write_session
from storage.models import Integration, Organization, Run, StaffAccount, User
from sync.accounts.organizations import create_organization, create_staff
from sync.accounts.passwords import hash_password
from sync.integration.lifecycle import run_now
from sync.integration.settings import save_settings
from tests.support.dashboard import DashboardServer, wait_for_app
from tests.support.processes import SchedulerProcess, wait_until
from tests.support.sandbox import SandboxProcess

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery"
OWNER = "olga@acme.test"
STAFF = "sam@support.test"
GRID_HEADER_PX = 35
GRID_ROW_PX = 35


def log_in(page: Any, server: DashboardServer, email: str, password: str) -> None:
    page.goto(server.url)
    wait_for_app(page)
    page.get_by_role("textbox", name="Email").fill(email)
    page.get_by_role("textbox", name="Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    wait_for_app(page)


def open_page(page: Any, name: str, heading: str) -> None:
    page.get_by_role("link", name=name).click()
    page.get_by_role("heading", name=heading).wait_for()
    wait_for_app(page)


def select_first_run(page: Any) -> None:
    """Click the row marker of the first row of the runs table (a canvas grid)."""
    grid = page.locator("[data-testid='stDataFrame']").first
    grid.wait_for()
    box = grid.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + 16, box["y"] + GRID_HEADER_PX + GRID_ROW_PX / 2)
    page.get_by_role("heading", name=re.compile(r"^Run #\d+")).wait_for()
    wait_for_app(page)


def choose(page: Any, label: str, option: str) -> None:
    """Pick `option` in the selectbox labelled `label` (nothing to do when it is chosen already)."""
    box = page.locator("[data-testid='stSelectbox']").filter(has_text=label).first
    if box.get_by_text(option, exact=True).count():
        return
    box.locator("input").click()
    page.get_by_role("option", name=option, exact=True).click()
    wait_for_app(page)


def metric_value(page: Any, label: str) -> int:
    metric = page.locator("[data-testid='stMetric']").filter(has_text=re.compile(rf"^{label}"))
    return int(metric.first.locator("[data-testid='stMetricValue']").inner_text().strip())


def test_owner_configures_tests_activates_and_reads_the_first_run(
    engine: Engine,
    sandbox: SandboxProcess,
    dashboard_scheduler: SchedulerProcess,
    dashboard_server: DashboardServer,
    browser_page: Any,
) -> None:
    org = create_organization(
        engine, slug="acme", name="Acme", owner_email=OWNER, owner_password=PASSWORD, owner_first_name="Olga"
    )
    page = browser_page
    log_in(page, dashboard_server, OWNER, PASSWORD)
    page.get_by_role("heading", name="Personio integration").wait_for()
    wait_for_app(page)  # the sign-in's own rerun (it sets the session cookie) is over: fields stay
    assert page.get_by_role("button", name="Activate").is_disabled()

    page.get_by_role("textbox", name="Client ID").fill(sandbox.client_id)
    page.get_by_role("textbox", name="Client Secret").fill(sandbox.client_secret)
    page.get_by_role("textbox", name="API address").fill(sandbox.base_url)
    page.get_by_text("Department", exact=True).click()
    wait_for_app(page)
    page.get_by_role("button", name="Save").click()
    page.get_by_text("Settings saved").wait_for()
    wait_for_app(page)
    page.get_by_text("A secret is set").wait_for()
    assert sandbox.client_secret not in page.content()

    page.get_by_role("button", name="Test").click()
    page.get_by_text(re.compile(r"Test passed .*Personio returned 60 employees")).wait_for(timeout=120_000)
    wait_for_app(page)
    planned_users = metric_value(page, "Users to create")
    assert planned_users > 0
    page.get_by_text(re.compile(r"Planned changes")).wait_for()
    page.get_by_role("button", name="Download CSV").wait_for()

    page.get_by_role("button", name="Activate").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_text("The first sync run starts now.").wait_for()
    dialog.get_by_role("button", name="Activate integration").click()
    wait_for_app(page)
    # The page refreshes itself until the run is done: no reload.
    page.get_by_text(re.compile(r"Last run #1 succeeded")).wait_for(timeout=120_000)
    page.get_by_text(re.compile(r"Active\. Next automatic run")).wait_for()

    open_page(page, "Runs", "Sync runs")
    select_first_run(page)
    page.get_by_role("heading", name=re.compile(r"Run #1 .*Succeeded")).wait_for()
    with read_session(engine) as session:
        run = session.exec(select(Run).where(Run.org_id == org.id)).one()
    assert metric_value(page, "Created") == run.counts["users_created"] == planned_users
    page.get_by_text(re.compile(r"^Changes \(\d+\)")).wait_for()


def test_support_switches_the_addon_and_reads_another_organizations_failed_run(
    engine: Engine,
    sandbox: SandboxProcess,
    dashboard_scheduler: SchedulerProcess,
    dashboard_server: DashboardServer,
    browser_page: Any,
) -> None:
    acme = create_organization(engine, slug="acme", name="Acme", owner_email=OWNER, owner_password=PASSWORD)
    globex = create_organization(
        engine, slug="globex", name="Globex", owner_email="gina@globex.test", owner_password=PASSWORD
    )
    create_staff(engine, email=STAFF, password=PASSWORD, name="Sam Support")
    assert acme.id is not None and globex.id is not None
    save_settings(
        engine,
        globex.id,
        client_id=sandbox.client_id,
        client_secret="not-the-secret",
        base_url=sandbox.base_url,
    )
    failed = run_now(engine, globex.id, label="test")

    def finished() -> Run | None:
        with read_session(engine) as session:
            run = session.get(Run, failed.id)
        return run if run is not None and run.status == "failed" else None

    failed_run = wait_until(finished, timeout=90, message=lambda: dashboard_scheduler.output)
    assert failed_run is not None and failed_run.error_code == "auth_failed"

    page = browser_page
    log_in(page, dashboard_server, STAFF, PASSWORD)
    page.get_by_role("heading", name="Organizations").wait_for()
    choose(page, "Organization", "Acme (acme)")
    page.get_by_text("Personio add-on enabled").click()
    page.get_by_text("The Personio add-on is now disabled for Acme").wait_for()
    with read_session(engine) as session:
        assert session.get(Organization, acme.id).addon_enabled is False  # type: ignore[union-attr]

    open_page(page, "Runs", "Sync runs")
    choose(page, "Organization", "Globex")
    select_first_run(page)
    page.get_by_role("heading", name=re.compile(rf"Run #{failed.id} .*Failed")).wait_for()
    page.locator("[data-testid='stAlertContentError']").filter(has_text="rejected").first.wait_for()
    page.get_by_text("auth_failed").first.wait_for()
    assert "not-the-secret" not in page.content()


def test_member_is_refused_with_a_clear_message(
    engine: Engine, dashboard_server: DashboardServer, browser_page: Any
) -> None:
    org = create_organization(engine, slug="acme", name="Acme", owner_email=OWNER, owner_password=PASSWORD)
    now = utcnow()
    with write_session(engine) as session:
        session.add(
            User(
                org_id=org.id,  # type: ignore[arg-type]
                email="mia@acme.test",
                email_key="mia@acme.test",
                role="member",
                password_hash=hash_password(PASSWORD),
                created_at=now,
                updated_at=now,
            )
        )
    page = browser_page
    log_in(page, dashboard_server, "mia@acme.test", PASSWORD)
    page.get_by_text("This dashboard is available for users with role Owner").wait_for()
    page.get_by_role("textbox", name="Email").wait_for()
    assert page.get_by_role("link", name="Runs").count() == 0


def test_a_deleted_staff_account_is_refused_at_its_next_click(
    engine: Engine, dashboard_server: DashboardServer, browser_page: Any
) -> None:
    acme = create_organization(engine, slug="acme", name="Acme", owner_email=OWNER, owner_password=PASSWORD)
    create_staff(engine, email=STAFF, password=PASSWORD, name="Sam Support")
    page = browser_page
    log_in(page, dashboard_server, STAFF, PASSWORD)
    page.get_by_role("heading", name="Organizations").wait_for()
    choose(page, "Organization", "Acme (acme)")
    with write_session(engine) as session:
        session.delete(session.exec(select(StaffAccount).where(StaffAccount.email == STAFF)).one())

    page.get_by_text("Personio add-on enabled").click()
    page.get_by_text("You were logged out: this account no longer exists.").wait_for()
    page.get_by_role("textbox", name="Email").wait_for()
    wait_for_app(page)
    with read_session(engine) as session:
        assert session.get(Organization, acme.id).addon_enabled is True  # type: ignore[union-attr]
    assert page.get_by_text("The Personio add-on is now disabled").count() == 0
    assert page.get_by_role("link", name="Runs").count() == 0


def test_a_demoted_owner_is_refused_when_approving_a_safety_stop(
    engine: Engine, dashboard_server: DashboardServer, browser_page: Any
) -> None:
    org = create_organization(engine, slug="acme", name="Acme", owner_email=OWNER, owner_password=PASSWORD)
    now = utcnow()
    with write_session(engine) as session:
        stopped = Run(
            org_id=org.id,  # type: ignore[arg-type]
            trigger="automatic",
            status="failed",
            queued_at=now,
            finished_at=now,
            error_code="safety_stop",
            error_message="The run would deactivate 19 of 40 synced users (48%), more than the 25% allowed.",
            error_hint="Check Personio. If the deactivations are right, approve the run.",
        )
        session.add(stopped)
        session.flush()
        integration = session.exec(select(Integration).where(Integration.org_id == org.id)).one()
        integration.state = "paused"
        integration.paused_run_id = stopped.id
        session.add(integration)
    page = browser_page
    log_in(page, dashboard_server, OWNER, PASSWORD)
    approve = page.get_by_role("button", name="Approve these deactivations and run now")
    approve.wait_for()
    with write_session(engine) as session:
        owner = session.exec(select(User).where(User.email_key == OWNER)).one()
        owner.role = "member"
        session.add(owner)

    approve.click()  # inside the banner fragment: only the fragment reruns
    page.get_by_role("textbox", name="Email").wait_for()
    page.get_by_text("Available for users with role Owner").wait_for()
    wait_for_app(page)
    with read_session(engine) as session:
        runs = session.exec(select(Run)).all()
    assert [run.id for run in runs] == [stopped.id]  # no approved run was queued
    assert page.get_by_role("button", name="Approve these deactivations and run now").count() == 0
