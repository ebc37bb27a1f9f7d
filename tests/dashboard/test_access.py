"""Who sees which page (Streamlit AppTest of dashboard.py, in-process, against the test's database)."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from streamlit.testing.v1 import AppTest

from storage.clock import utcnow
from storage.db import write_session
from storage.models import User
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
        app.switch_page("pages/integration.py")


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
    for page, title in [("pages/runs.py", "Sync runs"), ("pages/directory.py", "Directory")]:
        app.switch_page(page).run()
        assert not app.exception
        assert title in [t.value for t in app.title]
    with pytest.raises(ValueError):
        app.switch_page("pages/support.py")


def test_staff_has_support_and_runs_but_no_owner_pages(engine: Engine, org_id: int) -> None:
    app = app_logged_in(engine, STAFF, PASSWORD)
    assert not app.exception
    assert "Organizations" in [t.value for t in app.title]
    app.switch_page("pages/runs.py").run()
    assert "Sync runs" in [t.value for t in app.title]
    for page in ("pages/integration.py", "pages/directory.py"):
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
