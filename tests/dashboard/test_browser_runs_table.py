"""The Runs table in Debian's Chromium at 1440 px wide: a failed run's error is in view, no emoji.

The table is a canvas grid; Streamlit's grid also renders the cells it draws (the visible columns
and rows only) as an accessible table, which is what the test reads.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

from storage.clock import utcnow
from storage.db import write_session
from storage.models import Run
from sync.accounts.organizations import create_organization
from sync.views.runs import error_cell
from tests.dashboard.test_browser_journeys import OWNER, PASSWORD, log_in, open_page, select_first_run
from tests.support.dashboard import DashboardServer

pytestmark = pytest.mark.browser

VIEWPORT_WIDTH = 1440
ERROR = (
    "Personio rejected the Client ID / Client Secret (401). The credentials were probably revoked "
    "or replaced in Personio, so every run fails until new ones are saved here and tested again."
)
# Emoji and the pictographs that fonts without emoji draw as boxes.
EMOJI = re.compile("[\U0001f000-\U0001faff\u2600-\u27bf\u2b00-\u2bff\u23e9-\u23fa\ufe0f]")


def add_runs(engine: Engine, org_id: int) -> None:
    """An older succeeded run and the newest, failed one (the table's first row)."""
    now = utcnow()
    with write_session(engine) as session:
        earlier = now - timedelta(hours=1)
        session.add(
            Run(
                org_id=org_id,
                trigger="automatic",
                status="succeeded",
                queued_at=earlier,
                started_at=earlier,
                finished_at=earlier,
                counts={"users_created": 3},
            )
        )
        session.add(
            Run(
                org_id=org_id,
                trigger="automatic",
                status="failed",
                queued_at=now,
                started_at=now,
                finished_at=now,
                error_code="auth_failed",
                error_message=ERROR,
                error_hint="Create new API credentials in Personio and save them on the Integration page.",
            )
        )


def test_at_1440_px_the_error_of_a_failed_run_is_in_view_and_no_status_is_an_emoji(
    engine: Engine, dashboard_server: DashboardServer, browser_page: Any
) -> None:
    org = create_organization(engine, slug="acme", name="Acme", owner_email=OWNER, owner_password=PASSWORD)
    assert org.id is not None
    add_runs(engine, org.id)
    page = browser_page
    assert page.viewport_size["width"] == VIEWPORT_WIDTH
    log_in(page, dashboard_server, OWNER, PASSWORD)
    open_page(page, "Runs", "Sync runs")

    grid = page.locator("[data-testid='stDataFrame']").first
    grid.wait_for()
    box = grid.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= VIEWPORT_WIDTH
    # The grid renders the cells of the columns in its visible area only.
    cells = grid.locator("td")
    page.wait_for_function(
        "([el, text]) => [...el.querySelectorAll('td')].some(td => td.innerText.trim() === text)",
        arg=[grid.element_handle(), error_cell(ERROR)],
    )
    shown = [cell.inner_text().strip() for cell in cells.all()]
    headers = [header.inner_text().strip() for header in grid.locator("th").all()]
    assert headers[:2] == ["Status", "Error"]
    assert {"Failed", "Succeeded"} <= set(shown)
    assert error_cell(ERROR) in shown and ERROR.startswith(error_cell(ERROR).rstrip("…"))
    assert not [text for text in shown + headers if EMOJI.search(text)]

    # The whole error, and its hint, is in the detail panel.
    select_first_run(page)
    page.get_by_role("heading", name=re.compile(r"^Run #2 .*Failed")).wait_for()
    page.locator("[data-testid='stAlertContentError']").filter(has_text=ERROR).first.wait_for()
    assert not EMOJI.search(page.locator("body").inner_text())
