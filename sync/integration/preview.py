"""The Test: everything a run would do up to the plan and the safety check; never writes the directory."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from storage.db import read_session
from sync.core.changes import empty_counts
from sync.core.errors import ErrorInfo, SyncError, describe_exception, internal_error
from sync.core.plan import check_safety
from sync.integration.lifecycle import record_test
from sync.integration.settings import settings_hash, settings_of
from sync.integration.source import (
    ClientFactory,
    fetch_source,
    known_employee_count,
    load_integration,
    plan_source,
    team_names_per_attribute,
    warnings_json,
)
from sync.integration.unchanged import DigestWhileFetching
from sync.personio.client import FetchProgress

log = logging.getLogger("sync.runner")

ProgressCallback = Callable[[str, float], None]


@dataclass(frozen=True)
class TestResult:
    ok: bool
    error: ErrorInfo | None
    counts: dict[str, int]
    changes: list[dict[str, Any]]
    warnings: list[dict[str, Any]]
    team_examples: dict[str, list[str]]
    employees: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "error": self.error.as_dict() if self.error else None,
            "counts": self.counts,
            "changes": self.changes,
            "warnings": self.warnings,
        }


# --- Test --------------------------------------------------------------------------------


def test_integration(
    engine: Engine,
    org_id: int,
    *,
    on_progress: ProgressCallback | None = None,
    client_factory: ClientFactory | None = None,
) -> TestResult:
    """Everything a run would do, up to the plan and the safety check; never writes the directory.

    A passing Test is recorded against the settings' hash (it enables Activate) and resumes
    paused automatic runs; a failing one withdraws an earlier pass.
    """
    report = on_progress or (lambda _message, _fraction: None)

    def fetch_progress(event: FetchProgress) -> None:
        fraction = 0.05 if event.total in (None, 0) else 0.05 + 0.8 * event.fetched / max(event.total or 1, 1)
        report(event.message, min(fraction, 0.85))

    examples: dict[str, list[str]] = {}
    tested_hash: str | None = None
    try:
        with read_session(engine) as session:
            integration, _org = load_integration(session, org_id)
            settings = settings_of(integration)
            tested_hash = settings_hash(integration)
            known = known_employee_count(session, org_id)
        report("Signing in to Personio", 0.02)
        with DigestWhileFetching(engine, org_id) as early:
            source = fetch_source(
                integration,
                settings,
                on_progress=fetch_progress,
                client_factory=client_factory,
                known_employees=known,
            )
        examples = team_names_per_attribute(source.employees, settings)
        report(f"Planning changes for {len(source.employees)} employees", 0.9)
        with read_session(engine) as session:
            plan = plan_source(source, session, org_id, settings, early=early)
        error = check_safety(plan, settings)
        result = TestResult(
            ok=error is None,
            error=error,
            counts=plan.counts,
            changes=[c.as_dict() for c in plan.changes],
            warnings=warnings_json(plan),
            team_examples=examples,
            employees=len(source.employees),
        )
    except SyncError as exc:
        result = TestResult(False, exc.info, empty_counts(), [], [], examples)
    except Exception as exc:  # never a traceback for a person: log it, show a plain message
        log.error("test of org %s failed unexpectedly: %s", org_id, describe_exception(exc))
        result = TestResult(False, internal_error(exc), empty_counts(), [], [], examples)
    record_test(engine, org_id, passed=result.ok, tested_hash=tested_hash)
    report("Done", 1.0)
    return result
