"""Deadlines and caps end to end: a run or a Test against a Personio that drips, sends a huge page
or reports an absurd number of employees fails with a plain message and writes nothing.

A 150-employee sandbox (two pages) over loopback HTTP, on SQLite and on PostgreSQL. The first run
succeeds; then someone is hired, so a run that got through would change the directory.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from storage.db import read_session
from storage.models import Organization
from sync.core.errors import FetchAbandoned, SyncError
from sync.integration.settings import settings_of
from sync.integration.source import fetch_source, known_employee_count, load_integration
from tests.support.cli import Cli, create_org_reading
from tests.support.sandbox import SandboxFactory, SandboxProcess

EMPLOYEES = 150
NEW_HIRE_EMAIL = "deadline.hire@acme.example"


@pytest.fixture
def acme(engine: Engine, sandbox_factory: SandboxFactory, cli: Cli) -> Iterator[SandboxProcess]:
    sandbox = sandbox_factory(employees=EMPLOYEES)
    create_org_reading(engine, sandbox, cli)
    first = cli.json("run", "acme")
    assert first["status"] == "succeeded", first["error"]
    sandbox.hire(
        first_name="Deadline",
        last_name="Hire",
        email=NEW_HIRE_EMAIL,
        status="active",
        employment_type="internal",
    )
    sandbox.reset_stats()
    yield sandbox


def directory(cli: Cli) -> dict[str, Any]:
    return cli.json("directory", "acme")  # type: ignore[no-any-return]


def failed_run(cli: Cli, code: str) -> dict[str, Any]:
    """`sync run acme`, which must fail with `code` and be recorded so, with a hint."""
    result = cli("run", "acme", "--json")
    assert result.code == 1
    outcome = result.json()
    assert outcome["status"] == "failed"
    assert outcome["error"]["code"] == code and outcome["error"]["hint"]
    recorded = cli.json("runs", "acme")[0]
    assert recorded["run_id"] == outcome["run_id"] and recorded["error"] == outcome["error"]
    return outcome  # type: ignore[no-any-return]


def recovers(sandbox: SandboxProcess, cli: Cli) -> None:
    sandbox.clear_faults()
    outcome = cli.json("run", "acme")
    assert outcome["status"] == "succeeded", outcome["error"]
    assert NEW_HIRE_EMAIL in {user["email"] for user in directory(cli)["users"]}


def test_a_dripping_personio_fails_the_run_by_its_deadline_and_writes_nothing(
    acme: SandboxProcess, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = directory(cli)
    monkeypatch.setenv("PERSONIO_RUN_DEADLINE_SECONDS", "3")
    acme.set_faults(drip={"seconds": 1, "forever": True, "count": -1})  # one byte a second, forever

    outcome = failed_run(cli, "personio_unavailable")

    assert outcome["error"]["message"].startswith("Personio answered too slowly: ")
    assert "PERSONIO_RUN_DEADLINE_SECONDS" in outcome["error"]["hint"]
    assert directory(cli) == before
    recovers(acme, cli)


def test_the_test_preview_keeps_the_same_deadline(
    acme: SandboxProcess, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PERSONIO_RUN_DEADLINE_SECONDS", "3")
    acme.set_faults(drip={"seconds": 1, "forever": True, "count": -1})

    result = cli("test", "acme", "--json")

    assert result.code == 1
    error = result.json()["error"]
    assert error["code"] == "personio_unavailable"
    assert error["message"].startswith("Personio answered too slowly: ")


def test_an_oversized_page_fails_the_run_as_invalid_response_and_writes_nothing(
    acme: SandboxProcess, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = directory(cli)
    monkeypatch.setenv("PERSONIO_MAX_PAGE_BYTES", "1000000")
    acme.set_faults(oversized_page={"megabytes": 2, "count": -1, "after": 1})  # page 2 is 2 MB

    outcome = failed_run(cli, "invalid_response")

    assert outcome["error"]["message"].startswith("Personio sent a page of employees larger than 1 MB")
    assert acme.stats()["employee_requests"] == 2
    assert directory(cli) == before
    recovers(acme, cli)


def test_an_absurd_total_fails_the_run_as_invalid_response_before_page_two(
    acme: SandboxProcess, cli: Cli
) -> None:
    before = directory(cli)
    acme.set_faults(absurd_total={"total": 10**12, "count": -1})

    outcome = failed_run(cli, "invalid_response")

    assert outcome["error"]["message"].startswith("Personio reported 1,000,000,000,000 employees")
    assert acme.stats()["employee_requests"] == 1
    assert directory(cli) == before
    recovers(acme, cli)


def test_a_total_over_ten_times_the_last_successful_run_fails_the_run(
    acme: SandboxProcess, cli: Cli, engine: Engine
) -> None:
    before = directory(cli)
    with read_session(engine) as session:
        org = session.exec(select(Organization).where(Organization.slug == "acme")).one()
        assert org.id is not None
        known = known_employee_count(session, org.id)
    assert known is not None and 0 < known <= EMPLOYEES
    acme.set_faults(absurd_total={"total": 10 * known + 1 + 1000, "count": -1})

    outcome = failed_run(cli, "invalid_response")

    message = outcome["error"]["message"]
    assert f"more than ten times the {known:,} employees of the last successful run" in message
    assert acme.stats()["employee_requests"] == 1
    assert directory(cli) == before


def test_a_set_stop_abandons_the_fetch_of_a_run_with_its_own_exception(
    acme: SandboxProcess, cli: Cli, engine: Engine
) -> None:
    with read_session(engine) as session:
        org = session.exec(select(Organization).where(Organization.slug == "acme")).one()
        assert org.id is not None
        integration, _org = load_integration(session, org.id)
        settings = settings_of(integration)
    stop = threading.Event()
    stop.set()

    with pytest.raises(FetchAbandoned) as caught:
        fetch_source(integration, settings, on_progress=None, client_factory=None, stop=stop)

    assert not isinstance(caught.value, SyncError)
    assert acme.stats()["requests"] == 0


def test_new_credentials_lift_the_limit_relative_to_the_last_run(
    acme: SandboxProcess, cli: Cli, engine: Engine
) -> None:
    # other API credentials may read another company: ten times the old one means nothing then
    def known() -> int | None:
        with read_session(engine) as session:
            org = session.exec(select(Organization).where(Organization.slug == "acme")).one()
            assert org.id is not None
            return known_employee_count(session, org.id)

    before = known()
    assert before is not None and 0 < before <= EMPLOYEES  # externals are not synced by default
    configured = cli("config", "acme", "--client-id", acme.client_id, "--client-secret", acme.client_secret)
    assert configured.code == 0, configured.err
    assert known() is None
    assert cli.json("run", "acme")["status"] == "succeeded"
    assert known() == before + 1  # the new hire
