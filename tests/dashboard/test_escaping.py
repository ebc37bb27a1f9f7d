"""Text from Personio or a Personio server renders as text, never as markdown (AppTest, in-process).

Each payload would otherwise become a live link, a remote image or bold text on an owner's or a
staff member's screen. The rendered element's body must be the escaped form of the payload.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine

from screens._test_preview import StoredTest
from storage.clock import utcnow
from storage.db import write_session
from storage.models import Run
from sync.accounts.organizations import create_organization, create_staff
from sync.core.text import markdown_text
from sync.integration import preview
from sync.personio.errors import unexpected_status
from tests.support.dashboard import app_logged_in

PASSWORD = "correct horse battery"
OWNER = "olga@acme.test"
STAFF = "sam@support.test"
DEPARTMENT = "x` [link](https://evil.example) `y"
OWNER_FIRST = "Olga [link](https://evil.example)"
OWNER_LAST = "![pixel](https://evil.example/track.png)"
ORG_NAME = "Acme **bold** [site](https://evil.example)"
SERVER_SAYS = "**Urgent** [reset](https://evil.example) ![t](https://evil.example/t.gif)"


@pytest.fixture
def org_id(engine: Engine) -> int:
    org = create_organization(
        engine,
        slug="acme",
        name=ORG_NAME,
        owner_email=OWNER,
        owner_password=PASSWORD,
        owner_first_name=OWNER_FIRST,
        owner_last_name=OWNER_LAST,
    )
    assert org.id is not None
    return org.id


def bodies(elements: Any) -> list[str]:
    return [str(element.value) for element in elements]


def assert_shown_as_text(rendered: list[str], payload: str) -> None:
    """The escaped payload is on the screen, and the raw (live) markdown nowhere."""
    assert any(markdown_text(payload) in body for body in rendered), rendered
    assert not any(payload in body for body in rendered), rendered


def failed_run(engine: Engine, org_id: int, *, user_id: int) -> int:
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


def test_the_owners_personio_name_and_organization_name_show_as_text_in_the_sidebar(
    engine: Engine, org_id: int
) -> None:
    app = app_logged_in(engine, OWNER, PASSWORD)
    assert not app.exception
    (who,) = bodies(app.sidebar.markdown)
    assert who == f"**{markdown_text(f'{OWNER_FIRST} {OWNER_LAST}')}**  \n{markdown_text(OWNER)}"
    assert_shown_as_text(bodies(app.sidebar.caption), ORG_NAME)
    assert_shown_as_text(bodies(app.main.caption), ORG_NAME)


def test_department_names_and_personio_errors_show_as_text_on_the_integration_page(
    engine: Engine, org_id: int
) -> None:
    error = unexpected_status("/v1/company/employees", 400, SERVER_SAYS).info
    app = app_logged_in(engine, OWNER, PASSWORD)
    app.session_state["integration_test"] = StoredTest(
        result=preview.TestResult(
            ok=False,
            error=error,
            counts={},
            changes=[],
            warnings=[],
            team_examples={"department": [f"Department {DEPARTMENT}"]},
        ),
        tested_at=utcnow(),
    )
    app.run()
    assert not app.exception
    assert_shown_as_text(bodies(app.caption), f"Department {DEPARTMENT}")
    (shown,) = bodies(app.error)
    assert shown == "Test failed: " + markdown_text(error.message)
    assert "[reset]" not in shown  # what Personio said is quoted, escaped, never markup


@pytest.mark.parametrize("viewer", ["owner", "staff"])
def test_a_runs_error_and_who_triggered_it_show_as_text_in_the_run_detail(
    engine: Engine, org_id: int, viewer: str
) -> None:
    create_staff(engine, email=STAFF, password=PASSWORD, name="Sam Support")
    owner = app_logged_in(engine, OWNER, PASSWORD)
    failed_run(engine, org_id, user_id=owner.session_state["principal"].id)
    app = owner if viewer == "owner" else app_logged_in(engine, STAFF, PASSWORD)
    app.switch_page("screens/runs.py").run()
    table_id = None if viewer == "staff" else org_id
    app.session_state[f"runs_table_{table_id}_1"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    app.run()
    assert not app.exception
    assert bodies(app.error) == [markdown_text(SERVER_SAYS)]
    captions = bodies(app.caption)
    assert_shown_as_text(captions, f"{OWNER_FIRST} {OWNER_LAST}")
    assert_shown_as_text(captions, ORG_NAME)


def test_a_flash_naming_an_organization_shows_it_as_text(engine: Engine, org_id: int) -> None:
    create_staff(engine, email=STAFF, password=PASSWORD, name="Sam Support")
    app = app_logged_in(engine, STAFF, PASSWORD)
    app.toggle(key=f"support_addon_{org_id}").set_value(False).run()
    assert not app.exception
    assert_shown_as_text(bodies(app.success), ORG_NAME)
