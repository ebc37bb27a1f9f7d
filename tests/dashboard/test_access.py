"""Who sees which page (Streamlit AppTest of dashboard.py, in-process, against the test's database)."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from sqlmodel import select
from streamlit.testing.v1 import AppTest

from storage.clock import utcnow
from storage.db import read_session, write_session
from storage.models import Integration, Organization, Run, StaffAccount, User
from sync.accounts.organizations import create_organization, create_staff
from sync.accounts.passwords import hash_password
from sync.integration.lifecycle import set_addon
from tests.support.dashboard import app_logged_in, new_app, page_text

PASSWORD = "correct horse battery"
OWNER = "olga@acme.test"
STAFF = "sam@support.test"


@pytest.fixture
def org_id(engine: Engine) -> int:
    org = create_organization(
        engine,
        slug="acme",
        name="Acme",
        owner_email=OWNER,
        owner_password=PASSWORD,
        owner_first_name="Olga",
        owner_last_name="Owner",
    )
    create_staff(engine, email=STAFF, password=PASSWORD, name="Sam Support")
    assert org.id is not None
    return org.id


def log_in_with_form(app: AppTest, email: str, password: str) -> AppTest:
    app.text_input(key="login_email").input(email)
    app.text_input(key="login_password").input(password)
    return app.button(key="FormSubmitter:login-Log in").click().run()


def test_logged_out_visitor_sees_only_the_login_form(org_id: int) -> None:
    app = new_app().run()
    assert not app.exception
    assert [t.value for t in app.title] == ["Personio Sync"]
    assert app.text_input(key="login_email")
    with pytest.raises(ValueError):
        app.switch_page("screens/integration.py")


def test_owner_logs_in_with_the_form_and_lands_on_the_integration_page(org_id: int) -> None:
    app = log_in_with_form(new_app().run(), OWNER, PASSWORD)
    assert not app.exception
    assert app.session_state["principal"].org_id == org_id
    assert "Personio integration" in [t.value for t in app.title]
    assert "Owner · Acme" in page_text(app)
    assert app.button(key="logout")


def test_wrong_password_shows_a_plain_message_and_no_traceback(org_id: int) -> None:
    app = log_in_with_form(new_app().run(), OWNER, "not the password")
    assert not app.exception
    assert [e.value for e in app.error] == ["The email or password is not correct."]
    assert "principal" not in app.session_state


def test_member_is_refused_with_a_clear_message(engine: Engine, org_id: int) -> None:
    now = utcnow()
    with write_session(engine) as session:
        session.add(
            User(
                org_id=org_id,
                email="mia@acme.test",
                email_key="mia@acme.test",
                role="member",
                password_hash=hash_password(PASSWORD),
                created_at=now,
                updated_at=now,
            )
        )
    app = log_in_with_form(new_app().run(), "mia@acme.test", PASSWORD)
    assert not app.exception
    assert "principal" not in app.session_state
    (error,) = app.error
    assert "available for users with role Owner" in error.value
    assert "Member" in error.value


def test_repeated_failures_are_throttled_with_a_plain_message(org_id: int) -> None:
    app = new_app().run()
    for _ in range(6):
        app = log_in_with_form(app, OWNER, "guess")
    assert "Too many failed attempts" in app.error[0].value
    app = log_in_with_form(app, OWNER, PASSWORD)
    assert "principal" not in app.session_state


def test_owner_has_integration_runs_and_directory_but_no_support_page(engine: Engine, org_id: int) -> None:
    app = app_logged_in(engine, OWNER, PASSWORD)
    for page, title in [("screens/runs.py", "Sync runs"), ("screens/directory.py", "Directory")]:
        app.switch_page(page).run()
        assert not app.exception
        assert title in [t.value for t in app.title]
    with pytest.raises(ValueError):
        app.switch_page("screens/support.py")


def test_staff_has_support_and_runs_but_no_owner_pages(engine: Engine, org_id: int) -> None:
    app = app_logged_in(engine, STAFF, PASSWORD)
    assert not app.exception
    assert "Organizations" in [t.value for t in app.title]
    app.switch_page("screens/runs.py").run()
    assert "Sync runs" in [t.value for t in app.title]
    for page in ("screens/integration.py", "screens/directory.py"):
        with pytest.raises(ValueError):
            app.switch_page(page)


def test_owner_without_the_addon_learns_what_it_is_and_whom_to_ask(engine: Engine, org_id: int) -> None:
    set_addon(engine, org_id, False)
    app = app_logged_in(engine, OWNER, PASSWORD)
    assert not app.exception
    page = page_text(app)
    assert "paid add-on" in page
    assert "account manager enables it" in page
    assert not [b for b in app.button if b.key in ("save", "test", "activate")]


def test_an_owner_demoted_while_logged_in_sees_owner_only_message(engine: Engine, org_id: int) -> None:
    app = app_logged_in(engine, OWNER, PASSWORD)
    with write_session(engine) as session:
        owner = session.get(User, app.session_state["principal"].id)
        assert owner is not None
        owner.role = "admin"
        session.add(owner)
    app.run()
    assert "Available for users with role Owner" in [i.value for i in app.info]
    assert not [b for b in app.button if b.key in ("save", "test", "activate")]


def test_log_out_returns_to_the_login_form(engine: Engine, org_id: int) -> None:
    app = app_logged_in(engine, OWNER, PASSWORD)
    app.button(key="logout").click().run()
    assert not app.exception
    assert "principal" not in app.session_state
    assert app.text_input(key="login_email")


def shows_the_login_page(app: AppTest) -> bool:
    """What a logged-out person sees: the login form, no session, no sidebar of a role."""
    return (
        "principal" not in app.session_state
        and bool(app.text_input(key="login_email"))
        and not [b for b in app.button if b.key == "logout"]
    )


def delete_staff(engine: Engine, email: str) -> None:
    with write_session(engine) as session:
        staff = session.exec(select(StaffAccount).where(StaffAccount.email == email)).one()
        session.delete(staff)


def change_owner(engine: Engine, app: AppTest, **fields: str) -> None:
    with write_session(engine) as session:
        owner = session.get(User, app.session_state["principal"].id)
        assert owner is not None
        for field, value in fields.items():
            setattr(owner, field, value)
        session.add(owner)


def pause_on_a_safety_stop(engine: Engine, org_id: int) -> None:
    now = utcnow()
    with write_session(engine) as session:
        run = Run(
            org_id=org_id,
            trigger="automatic",
            status="failed",
            queued_at=now,
            finished_at=now,
            error_code="safety_stop",
            error_message="The run would deactivate 19 of 40 synced users (48%), more than the 25% allowed.",
            error_hint="Check Personio. If the deactivations are right, approve the run.",
        )
        session.add(run)
        session.flush()
        integration = session.exec(select(Integration).where(Integration.org_id == org_id)).one()
        integration.state = "paused"
        integration.paused_run_id = run.id
        session.add(integration)


def queued_runs(engine: Engine) -> list[Run]:
    with read_session(engine) as session:
        return list(session.exec(select(Run).where(Run.status == "queued")).all())


def test_a_deleted_staff_account_cannot_switch_an_addon_and_sees_the_login_page(
    engine: Engine, org_id: int
) -> None:
    app = app_logged_in(engine, STAFF, PASSWORD)
    app.selectbox(key="support_org").set_value(org_id).run()
    delete_staff(engine, STAFF)
    app.toggle(key=f"support_addon_{org_id}").set_value(False).run()
    assert not app.exception
    with read_session(engine) as session:
        org = session.get(Organization, org_id)
    assert org is not None and org.addon_enabled is True
    assert shows_the_login_page(app)
    assert "You were logged out: this account no longer exists." in [i.value for i in app.info]
    assert "now disabled" not in page_text(app)


def test_a_deleted_staff_account_cannot_open_an_organizations_runs(engine: Engine, org_id: int) -> None:
    app = app_logged_in(engine, STAFF, PASSWORD)
    delete_staff(engine, STAFF)
    app.button(key="support_open_runs").click().run()
    assert not app.exception
    assert shows_the_login_page(app)
    assert "Sync runs" not in [t.value for t in app.title]
    assert not app.dataframe


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"role": "member"}, "Available for users with role Owner"),
        ({"status": "deactivated"}, "You were logged out: your account is deactivated."),
    ],
    ids=["demoted", "deactivated"],
)
def test_an_owner_who_lost_the_role_cannot_approve_a_safety_stop(
    engine: Engine, org_id: int, change: dict[str, str], reason: str
) -> None:
    pause_on_a_safety_stop(engine, org_id)
    app = app_logged_in(engine, OWNER, PASSWORD)
    approve = app.button(key="approve_safety")
    change_owner(engine, app, **change)
    approve.click().run()
    assert not app.exception
    assert queued_runs(engine) == []
    assert shows_the_login_page(app)
    assert reason in [i.value for i in app.info]
    assert not [b for b in app.button if b.key == "approve_safety"]


@pytest.mark.parametrize(
    "change", [{"role": "member"}, {"status": "deactivated"}], ids=["demoted", "deactivated"]
)
def test_an_owner_who_lost_the_role_cannot_open_a_runs_details(
    engine: Engine, org_id: int, change: dict[str, str]
) -> None:
    pause_on_a_safety_stop(engine, org_id)  # one failed run in the table
    app = app_logged_in(engine, OWNER, PASSWORD)
    app.switch_page("screens/runs.py").run()
    assert "Select a run in the table" in page_text(app)
    change_owner(engine, app, **change)
    app.session_state[f"runs_table_{org_id}_1"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    app.run()
    assert not app.exception
    assert shows_the_login_page(app)
    assert not [s for s in app.subheader if s.value.startswith("Run #")]
    assert "deactivate 19 of 40" not in page_text(app)
