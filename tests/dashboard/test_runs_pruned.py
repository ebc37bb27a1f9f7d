"""The Runs page's detail panel of a run whose details were pruned (RUN_DETAIL_RETENTION_DAYS)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine

from storage.clock import utcnow
from sync.integration.retention import RetentionPolicy, prune_run_details
from tests.dashboard.test_runs import OWNER, PASSWORD, add_run_with_changes, orgs, select_row
from tests.support.dashboard import app_logged_in, page_text

__all__ = ["orgs"]  # the fixture, used by name


def test_an_old_runs_panel_says_its_details_were_pruned_and_keeps_the_counts(
    engine: Engine, orgs: dict[str, int]
) -> None:
    run_id = add_run_with_changes(engine, orgs["acme"])  # 3 created, 1 skipped, a change, a warning
    report = prune_run_details(
        engine, now=utcnow() + timedelta(days=181), policy=RetentionPolicy(keep_days=180)
    )
    assert (report.runs, report.changes, report.warnings) == (1, 1, 1)

    app = app_logged_in(engine, OWNER, PASSWORD)
    app.switch_page("screens/runs.py").run()
    app = select_row(app, orgs["acme"], 0)
    assert not app.exception
    assert any(f"Run #{run_id}" in s.value for s in app.subheader)
    text = page_text(app)
    assert "were pruned after 180 days" in text and "its counts are kept" in text
    assert "Nothing changed" not in text and "(see Warnings)" not in text
    assert ("Created", 3) in {(m.label, int(m.value)) for m in app.metric}
    assert len(app.dataframe) == 1  # the runs table only: no empty list of changes or warnings
