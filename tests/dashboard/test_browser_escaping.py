"""Hostile text from Personio in Debian's Chromium: no page, as owner or staff, links to or loads from it.

The payloads come in the way they would in production: departments renamed and an employee (the
owner, by email) renamed in the sandbox through its admin API and synced by the scheduler; the
organization's name; a failed run's error message written as the runner writes it (the sandbox has
no fault that answers with a chosen message).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from storage.clock import utcnow
from storage.db import read_session, write_session
from storage.models import Run, User
from sync.accounts.organizations import create_organization, create_staff
from sync.integration.lifecycle import run_now
from sync.integration.settings import save_settings
from tests.dashboard.test_browser_journeys import log_in, open_page, select_first_run
from tests.support.dashboard import DashboardServer, wait_for_app
from tests.support.processes import SchedulerProcess, wait_until
from tests.support.sandbox import SandboxProcess

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery"
OWNER = "olga@acme.test"
STAFF = "sam@support.test"
LINK = "[link](https://evil.example)"
DEPARTMENT = f"x` {LINK} `y"
OWNER_FIRST = f"Olga {LINK}"
OWNER_LAST = "![pixel](https://evil.example/track.png)"
ORG_NAME = "Acme **bold** [site](https://evil.example) ![logo](https://evil.example/logo.png)"
SERVER_SAYS = "**Urgent** [reset](https://evil.example) ![t](https://evil.example/t.gif)"
FORMULA = '=HYPERLINK("https://evil.example","click")'


def assert_nothing_from_evil(page: Any, where: str, *, shown_as_text: bool = True) -> None:
    """No link to and no image from the payloads' host; where a payload is in the page's text (not
    only in a table's canvas or a select box), it is there as plain text."""
    wait_for_app(page)
    assert page.locator("a[href*='evil']").count() == 0, where
    assert page.locator("img[src*='evil']").count() == 0, where
    if shown_as_text:
        shown = page.locator("body").inner_text().replace("\u2060", "")
        assert "https://evil.example" in shown, where


def seed_personio(sandbox: SandboxProcess) -> None:
    """Every department renamed (the examples show any three), and one employee becomes the owner."""
    for number, department in enumerate(sandbox.org_units()["departments"], start=1):
        sandbox.rename_department(int(department["id"]), f"{DEPARTMENT} {number}")
    employee = next(
        e for e in sandbox.employees() if e["status"] == "active" and e["employment_type"] == "internal"
    )
    sandbox.update(
        int(employee["id"]), email=OWNER, first_name=OWNER_FIRST, last_name=OWNER_LAST, position=FORMULA
    )


def add_failed_run(engine: Engine, org_id: int, user_id: int) -> int:
    now = utcnow()
    with write_session(engine) as session:
        run = Run(
            org_id=org_id,
            trigger="manual",
            triggered_by_user_id=user_id,
            status="failed",
            queued_at=now,
            started_at=now,
            finished_at=now,
            error_code="invalid_response",
            error_message=SERVER_SAYS,
            error_hint="Try again later.",
        )
        session.add(run)
        session.flush()
        assert run.id is not None
        return run.id


def test_hostile_personio_text_is_never_a_link_or_image_for_owner_or_staff(
    engine: Engine,
    sandbox: SandboxProcess,
    dashboard_scheduler: SchedulerProcess,
    dashboard_server: DashboardServer,
    browser_page: Any,
    tmp_path: Path,
) -> None:
    org = create_organization(engine, slug="acme", name=ORG_NAME, owner_email=OWNER, owner_password=PASSWORD)
    create_staff(engine, email=STAFF, password=PASSWORD, name="Sam Support")
    assert org.id is not None
    seed_personio(sandbox)
    save_settings(
        engine,
        org.id,
        client_id=sandbox.client_id,
        client_secret=sandbox.client_secret,
        base_url=sandbox.base_url,
        team_attributes=["department"],
    )
    first = run_now(engine, org.id, label="test")

    def finished() -> Run | None:
        with read_session(engine) as session:
            run = session.get(Run, first.id)
        return run if run is not None and run.status in ("succeeded", "failed") else None

    synced = wait_until(finished, timeout=90, message=lambda: dashboard_scheduler.output)
    assert synced.status == "succeeded", synced.error_message
    with read_session(engine) as session:
        owner = session.exec(select(User).where(User.email == OWNER)).one()
        assert owner.first_name == OWNER_FIRST  # adopted: the Personio name is the owner's now
        owner_id = owner.id
    assert owner_id is not None
    add_failed_run(engine, org.id, owner_id)

    page = browser_page
    log_in(page, dashboard_server, OWNER, PASSWORD)
    page.get_by_role("heading", name="Personio integration").wait_for()
    page.get_by_role("button", name="Test").click()
    page.get_by_text("Test passed").first.wait_for(timeout=120_000)
    page.get_by_text("(from your last Test)").first.wait_for()
    assert_nothing_from_evil(page, "Integration after a Test")

    open_page(page, "Runs", "Sync runs")
    select_first_run(page)
    page.locator("[data-testid='stAlertContentError']").filter(has_text="Urgent").first.wait_for()
    assert_nothing_from_evil(page, "Runs, owner")

    open_page(page, "Directory", "Directory")
    assert_nothing_from_evil(page, "Directory")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download users (CSV)").click()
    saved = tmp_path / "users.csv"
    download.value.save_as(saved)
    with saved.open(newline="", encoding="utf-8") as handle:
        titles = [row["Job title"] for row in csv.DictReader(handle)]
    assert "'" + FORMULA in titles and FORMULA not in titles
    grid = page.locator("[data-testid='stDataFrame']").first
    grid.hover()
    assert page.get_by_role("button", name="Download as CSV").count() == 0  # only our neutralised one

    page.get_by_role("button", name="Log out").click()
    wait_for_app(page)
    log_in(page, dashboard_server, STAFF, PASSWORD)
    page.get_by_role("heading", name="Organizations").wait_for()
    assert_nothing_from_evil(page, "Organizations", shown_as_text=False)
    open_page(page, "Runs", "Sync runs")
    select_first_run(page)
    page.locator("[data-testid='stAlertContentError']").filter(has_text="Urgent").first.wait_for()
    assert_nothing_from_evil(page, "Runs, staff")
