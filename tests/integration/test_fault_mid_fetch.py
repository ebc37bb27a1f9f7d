"""Faults that start in the middle of a listing, end to end through the command line.

A 250-employee sandbox (three pages of 100) over loopback HTTP and a real SQLite file. The first
run succeeds; then someone is hired and a fault switched on with `after: 1`, so page 1 of the next
run comes through and the fault hits from page 2 on. A run that fails must leave the directory
exactly as it was and be recorded as failed with a hint; a fault the client reads past must not.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine

from tests.support.cli import Cli, create_org_reading
from tests.support.sandbox import SandboxFactory, SandboxProcess

EMPLOYEES = 250  # pages of 100: 100, 100, 50 (51 after the hire)
NEW_HIRE_EMAIL = "mid.fetch@acme.example"


@pytest.fixture
def acme(engine: Engine, sandbox_factory: SandboxFactory, cli: Cli) -> Iterator[SandboxProcess]:
    """Organization `acme` synced once from a fresh 250-employee sandbox, then a new hire in Personio."""
    sandbox = sandbox_factory(employees=EMPLOYEES)
    create_org_reading(engine, sandbox, cli)
    first = cli.json("run", "acme")
    assert first["status"] == "succeeded", first["error"]
    sandbox.hire(
        first_name="Mid",
        last_name="Fetch",
        email=NEW_HIRE_EMAIL,
        status="active",
        employment_type="internal",
    )
    sandbox.reset_stats()
    yield sandbox


def directory(cli: Cli) -> dict[str, Any]:
    return cli.json("directory", "acme")  # type: ignore[no-any-return]


def emails(report: dict[str, Any]) -> set[str]:
    return {user["email"] for user in report["users"]}


# (fault from page 2 on, error code, employee requests the run sends)
FAILING: list[tuple[str, dict[str, Any], str, int]] = [
    # page 1, then page 2 five times (every try the client has)
    ("server_error", {"status": 503, "count": -1, "after": 1}, "personio_unavailable", 6),
    # page 1, then page 2 cut off twice (read once more, then given up)
    ("truncated_page", {"count": -1, "after": 1}, "invalid_response", 3),
    # page 2's total disagrees with page 1's; the whole list read once more drifts too (total 256,
    # but page 3 holds 51 records): inconsistent twice
    ("total_drift", {"count": -1, "after": 1}, "invalid_response", 5),
]


@pytest.mark.parametrize(
    ("fault", "setting", "code", "employee_requests"), FAILING, ids=[name for name, *_ in FAILING]
)
def test_a_fault_from_page_two_fails_the_run_and_leaves_the_directory_as_it_was(
    acme: SandboxProcess,
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
    fault: str,
    setting: dict[str, Any],
    code: str,
    employee_requests: int,
) -> None:
    before = directory(cli)
    assert NEW_HIRE_EMAIL not in emails(before)
    monkeypatch.setenv("PERSONIO_RETRY_BACKOFF_SECONDS", "0.01")
    acme.set_faults(**{fault: setting})

    result = cli("run", "acme", "--json")

    assert result.code == 1
    outcome = result.json()
    assert outcome["status"] == "failed"
    assert outcome["error"]["code"] == code and outcome["error"]["hint"]
    assert acme.stats()["employee_requests"] == employee_requests  # page 1 came through first
    assert directory(cli) == before
    recorded = cli.json("runs", "acme")[0]
    assert recorded["run_id"] == outcome["run_id"] and recorded["status"] == "failed"
    assert recorded["error"]["code"] == code and recorded["error"]["hint"] == outcome["error"]["hint"]
    assert acme.client_secret not in result.out + result.err

    # once Personio is well again, the next run picks up the new hire
    acme.clear_faults()
    recovered = cli.json("run", "acme")
    assert recovered["status"] == "succeeded", recovered["error"]
    assert NEW_HIRE_EMAIL in emails(directory(cli))


def test_a_one_off_total_drift_on_page_two_is_read_past_by_reading_the_list_again(
    acme: SandboxProcess, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PERSONIO_RETRY_BACKOFF_SECONDS", "0.01")
    acme.set_faults(total_drift={"count": 1, "after": 1})

    outcome = cli.json("run", "acme")

    # page 1, page 2 (drifted), then pages 1-3 again, consistent this time
    assert outcome["status"] == "succeeded", outcome["error"]
    assert acme.stats()["employee_requests"] == 5
    assert acme.faults()["total_drift"]["count"] == 0
    users = {user["email"]: user for user in directory(cli)["users"]}
    assert users[NEW_HIRE_EMAIL]["status"] == "active"
    assert outcome["counts"]["users_created"] == 1
