"""The dashboard loads nothing from other hosts: every request a browser makes stays on the server."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

import pytest
from sqlalchemy import Engine

from sync.accounts.organizations import create_organization
from tests.dashboard.test_browser_journeys import OWNER, PASSWORD, log_in
from tests.support.dashboard import DashboardServer, wait_for_app

pytestmark = pytest.mark.browser
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


def test_no_page_makes_the_browser_fetch_anything_from_a_third_party_host(
    engine: Engine, dashboard_server: DashboardServer, browser_page: Any
) -> None:
    create_organization(engine, slug="acme", name="Acme", owner_email=OWNER, owner_password=PASSWORD)
    hosts: list[str] = []
    browser_page.on("request", lambda request: hosts.append(urlparse(request.url).hostname or ""))

    log_in(browser_page, dashboard_server, OWNER, PASSWORD)
    for name in ("Runs", "Directory", "Integration"):
        browser_page.get_by_role("link", name=name).click()
        wait_for_app(browser_page)

    assert hosts, "the browser made no request at all"
    assert {h for h in hosts if h and h not in LOCAL_HOSTS} == set()
