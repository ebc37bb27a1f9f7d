"""Password logins that last, in Debian's Chromium against `streamlit run dashboard.py`.

A login is a server-side session whose token the browser keeps in a cookie: a reload keeps it;
logout in one tab ends it in another at their next click; a forged, revoked or expired token
gives the login page; a link to a run works signed in and, after the login, signed out.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, update
from sqlmodel import select

from screens._cookie import COOKIE_NAME
from storage.clock import utcnow
from storage.db import read_session, write_session
from storage.models import DashboardSession, Run, table
from sync.accounts import sessions
from sync.accounts.organizations import create_organization, create_staff
from sync.integration.lifecycle import set_addon
from tests.dashboard.test_browser_journeys import OWNER, PASSWORD, STAFF, log_in, open_page
from tests.support.dashboard import DashboardServer, wait_for_app

pytestmark = pytest.mark.browser

LOGIN_BUTTON = "Log in"


def session_cookie(page: Any) -> dict[str, Any] | None:
    for cookie in page.context.cookies():
        if cookie["name"] == COOKIE_NAME:
            return dict(cookie)
    return None


def wait_for_cookie(page: Any) -> dict[str, Any]:
    page.wait_for_function(f"document.cookie.includes('{COOKIE_NAME}=')")
    cookie = session_cookie(page)
    assert cookie is not None
    return cookie


def shows_login(page: Any) -> bool:
    return page.get_by_role("button", name=LOGIN_BUTTON, exact=True).count() > 0


def assert_login_page(page: Any) -> None:
    page.get_by_role("button", name=LOGIN_BUTTON, exact=True).wait_for()
    wait_for_app(page)
    assert page.get_by_role("button", name="Log out").count() == 0


def assert_no_page_not_found(page: Any) -> None:
    """A link to a page of the router is never reported as "Page not found" (Streamlit would run a
    `pages/` folder beside dashboard.py as pages of their own on a server's first script run)."""
    assert page.get_by_role("dialog").filter(has_text="Page not found").count() == 0


def active_rows(engine: Engine) -> list[DashboardSession]:
    with read_session(engine) as session:
        return list(session.exec(select(DashboardSession)).all())


@pytest.fixture
def org_id(engine: Engine) -> int:
    org = create_organization(engine, slug="acme", name="Acme", owner_email=OWNER, owner_password=PASSWORD)
    assert org.id is not None
    set_addon(engine, org.id, True)
    return org.id


def test_a_password_login_survives_a_reload_and_the_cookie_holds_only_the_token(
    engine: Engine, org_id: int, dashboard_server: DashboardServer, browser_page: Any
) -> None:
    page = browser_page
    log_in(page, dashboard_server, OWNER, PASSWORD)
    page.get_by_role("button", name="Log out").wait_for()
    cookie = wait_for_cookie(page)
    assert cookie["sameSite"] == "Strict"
    assert cookie["path"] == "/"
    assert cookie["secure"] is False  # served over http here; over https the script adds Secure
    assert cookie["expires"] > 0  # kept across a browser restart until the session's 12 hours end
    (row,) = active_rows(engine)
    assert row.token_hash == sessions.hash_token(cookie["value"])
    assert OWNER not in cookie["value"] and "owner" not in cookie["value"].lower()

    page.reload()
    wait_for_app(page)
    page.get_by_role("button", name="Log out").wait_for()
    assert page.get_by_text("Owner · Acme").count() == 1
    open_page(page, "Runs", "Sync runs")
    page.reload()
    wait_for_app(page)
    page.get_by_role("heading", name="Sync runs").wait_for()


def test_logout_in_one_tab_ends_the_session_in_another_at_its_next_click(
    engine: Engine, org_id: int, dashboard_server: DashboardServer, browser_page: Any
) -> None:
    first = browser_page
    log_in(first, dashboard_server, OWNER, PASSWORD)
    wait_for_cookie(first)
    second = first.context.new_page()
    second.goto(dashboard_server.url)
    wait_for_app(second)
    second.get_by_role("button", name="Log out").wait_for()

    first.get_by_role("button", name="Log out").click()
    assert_login_page(first)
    (row,) = active_rows(engine)
    assert row.revoked_at is not None

    second.get_by_role("link", name="Runs").click()  # the next click in the other tab
    assert_login_page(second)
    assert second.get_by_text("You were logged out").count() == 1
    second.reload()
    assert_login_page(second)


@pytest.mark.parametrize("kind", ["forged", "revoked"])
def test_a_forged_or_revoked_token_in_the_cookie_gives_the_login_page(
    engine: Engine, org_id: int, dashboard_server: DashboardServer, browser_page: Any, kind: str
) -> None:
    from sync.accounts.login import authenticate

    if kind == "forged":
        token = sessions.new_token()
    else:
        new = sessions.create(engine, authenticate(engine, OWNER, PASSWORD))
        sessions.revoke(engine, session_id=new.id)
        token = new.token
    page = browser_page
    page.context.add_cookies([{"name": COOKIE_NAME, "value": token, "url": dashboard_server.url + "/"}])
    page.goto(dashboard_server.url)
    assert_login_page(page)


def test_an_idle_session_shows_the_login_after_60_minutes(
    engine: Engine, org_id: int, dashboard_server: DashboardServer, browser_page: Any
) -> None:
    page = browser_page
    log_in(page, dashboard_server, OWNER, PASSWORD)
    wait_for_cookie(page)
    # The clock moves on 61 minutes for this session: it was last seen (and began) that long ago.
    earlier = utcnow() - sessions.IDLE_TIMEOUT - timedelta(minutes=1)
    with write_session(engine) as session:
        session.execute(update(table(DashboardSession)).values(last_seen_at=earlier, created_at=earlier))
    page.reload()
    assert_login_page(page)
    assert page.get_by_text("60 minutes without activity").count() == 1


def add_run(engine: Engine, org_id: int) -> int:
    now = utcnow()
    with write_session(engine) as session:
        run = Run(
            org_id=org_id,
            trigger="manual",
            status="failed",
            queued_at=now,
            started_at=now,
            finished_at=now,
            error_code="auth_failed",
            error_message="Personio rejected the credentials (401).",
            error_hint="Enter new credentials.",
        )
        session.add(run)
        session.flush()
        assert run.id is not None
        return run.id


def test_a_link_to_a_run_opens_its_panel_signed_in_and_after_the_login_signed_out(
    engine: Engine, org_id: int, dashboard_server: DashboardServer, browser_page: Any
) -> None:
    run_id = add_run(engine, org_id)
    add_run(engine, org_id)  # a newer one: the panel shows the linked run, not the first row
    create_staff(engine, email=STAFF, password=PASSWORD, name="Sam")
    page = browser_page
    link = f"{dashboard_server.url}/history?run={run_id}"

    page.goto(link)  # signed out: the login, at the link's address
    assert_login_page(page)
    assert_no_page_not_found(page)
    page.get_by_role("textbox", name="Email").fill(STAFF)
    page.get_by_role("textbox", name="Password").fill(PASSWORD)
    page.get_by_role("button", name=LOGIN_BUTTON, exact=True).click()
    page.get_by_role("heading", name=re.compile(rf"^Run #{run_id}\b")).wait_for()
    wait_for_app(page)
    assert re.search(rf"/history\?run={run_id}$", page.url)

    page.goto(link)  # signed in (a new tab's first load): straight to the panel
    wait_for_app(page)
    assert_no_page_not_found(page)
    page.get_by_role("heading", name=re.compile(rf"^Run #{run_id}\b")).wait_for()
    assert page.get_by_text("Personio rejected the credentials (401).").count() >= 1


def test_staff_end_another_session_of_their_account_from_the_organizations_page(
    engine: Engine, org_id: int, dashboard_server: DashboardServer, browser_page: Any
) -> None:
    create_staff(engine, email=STAFF, password=PASSWORD, name="Sam")
    here = browser_page
    elsewhere = here.context.browser.new_context().new_page()  # another browser: its own cookie
    log_in(elsewhere, dashboard_server, STAFF, PASSWORD)
    elsewhere.get_by_role("heading", name="Organizations").wait_for()
    log_in(here, dashboard_server, STAFF, PASSWORD)
    here.get_by_role("heading", name="Your sessions").wait_for()
    ends = here.get_by_role("button", name="End")
    ends.nth(1).wait_for()  # the heading may be drawn before the list under it
    wait_for_app(here)
    assert ends.count() == 2
    assert here.get_by_text("this browser").count() == 1
    # The list is most recently seen first; "here" logged in last, so the other one is second.
    ends.nth(1).click()
    wait_for_app(here)
    here.get_by_text("The session was ended.").wait_for()
    assert here.get_by_role("button", name="End").count() == 1

    elsewhere.get_by_role("link", name="Runs").click()
    assert_login_page(elsewhere)
    elsewhere.context.close()
