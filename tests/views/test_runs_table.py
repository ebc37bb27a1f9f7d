"""The rows of the Runs table and of the Support page's lists: status words, error cells, no emoji."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from sqlalchemy import Engine

from storage.clock import utcnow
from storage.db import write_session
from storage.models import OutboxEmail, SchedulerHeartbeat
from sync.core.states import RunStatus
from sync.views.integration import LastRun
from sync.views.runs import (
    ERROR_CELL_CHARS,
    STATUS_ICONS,
    RunPage,
    RunRow,
    error_cell,
    runs_frame,
    triggered_by,
)
from sync.views.scheduler import heartbeats_frame
from sync.views.support import OrganizationOverview, organizations_frame, outbox_frame

AT = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)
EMOJI = re.compile("[\U0001f000-\U0001faff\u2600-\u27bf\u2b00-\u2bff\u23e9-\u23fa\ufe0f]")
LONG_ERROR = "Personio answered with a page that is not JSON.\n  " + "The page said: maintenance. " * 20


def run_row(run_id: int, status: str, error: str | None = None) -> RunRow:
    return RunRow(
        id=run_id,
        org_id=1,
        org_name="Acme",
        trigger="automatic",
        triggered_at=AT,
        triggered_by=triggered_by(user=None, staff=None, label=None),
        status=status,
        finished_at=AT + timedelta(seconds=5),
        error_message=error,
        changes=4,
        started_at=AT,
        counts={"users_created": 4},
        error_code="invalid_response" if error else None,
        error_hint="Try again later." if error else None,
    )


def no_emoji(frame: pd.DataFrame) -> bool:
    texts = [str(value) for value in frame.to_numpy().ravel()] + list(frame.columns)
    return not [text for text in texts if EMOJI.search(text)]


def test_status_and_error_come_first_then_the_rest() -> None:
    page = RunPage(rows=[run_row(2, RunStatus.FAILED, "Rejected.")], total=1, page=1, page_size=50)
    assert list(runs_frame(page).columns) == [
        "Status",
        "Error",
        "Triggered at",
        "Avatar",
        "Triggered by",
        "Changes",
        "Run",
    ]
    with_org = runs_frame(page, with_org=True)
    assert list(with_org.columns)[:3] == ["Status", "Error", "Triggered at"]
    assert with_org.iloc[0]["Organization"] == "Acme" and with_org.iloc[0]["Run"] == 2


@pytest.mark.parametrize(
    ("status", "word"),
    [
        (RunStatus.SUCCEEDED, "Succeeded"),
        (RunStatus.FAILED, "Failed"),
        (RunStatus.QUEUED, "Queued"),
        (RunStatus.RUNNING, "Running"),
    ],
)
def test_each_status_is_a_plain_word_in_the_table_and_a_material_icon_in_the_panel(
    status: str, word: str
) -> None:
    page = RunPage(rows=[run_row(1, status)], total=1, page=1, page_size=50)
    frame = runs_frame(page)
    assert frame.iloc[0]["Status"] == word
    assert no_emoji(frame)
    assert STATUS_ICONS[status].startswith(":material/") and STATUS_ICONS[status].endswith(":")


def test_a_long_error_is_one_line_cut_with_an_ellipsis_and_a_short_one_is_whole() -> None:
    cell = error_cell(LONG_ERROR)
    assert len(cell) <= ERROR_CELL_CHARS and cell.endswith("…") and "\n" not in cell
    assert cell.startswith("Personio answered with a page that is not JSON. The page said:")
    assert error_cell("Rejected (401).") == "Rejected (401)."
    assert error_cell(None) == "" and error_cell("  two\nlines ") == "two lines"
    page = RunPage(
        rows=[run_row(2, RunStatus.FAILED, LONG_ERROR), run_row(1, RunStatus.SUCCEEDED)],
        total=2,
        page=1,
        page_size=50,
    )
    frame = runs_frame(page)
    assert list(frame["Error"]) == [cell, ""]
    assert list(frame["Changes"].isna()) == [True, False]  # a failed run changed nothing


def test_the_support_pages_lists_say_states_in_words() -> None:
    def overview(status: str | None) -> OrganizationOverview:
        last = LastRun(id=7, status=status, trigger="automatic", queued_at=AT, finished_at=AT, error=None)
        return OrganizationOverview(
            id=1,
            slug="acme",
            name="Acme",
            addon_enabled=True,
            state="active",
            configured=True,
            schedule_every_hours=None,
            next_run_at=None,
            last_run=last if status else None,
        )

    frame = organizations_frame([overview(RunStatus.SUCCEEDED), overview(RunStatus.FAILED), overview(None)])
    assert list(frame["Last run"]) == [
        "Succeeded #7 2026-11-25 04:00 UTC",
        "Failed #7 2026-11-25 04:00 UTC",
        "—",
    ]
    assert no_emoji(frame)


def test_outbox_and_scheduler_states_are_words(engine: Engine) -> None:
    now = utcnow()
    with write_session(engine) as session:
        for sent, error in ((now, None), (None, "Connection refused"), (None, None)):
            session.add(
                OutboxEmail(
                    to="a@acme.test",
                    subject="Hello",
                    body="Hi",
                    kind="welcome",
                    created_at=now,
                    sent_at=sent,
                    last_error=error,
                )
            )
        session.add(SchedulerHeartbeat(instance_id="h:1", host="h", pid=1, started_at=now, last_seen=now))
        session.add(
            SchedulerHeartbeat(
                instance_id="h:2", host="h", pid=2, started_at=now, last_seen=now, stopped_at=now
            )
        )
    emails = outbox_frame(engine)
    assert sorted(emails["State"]) == ["Failing", "Pending", "Sent"]
    beats = heartbeats_frame(engine, now=now)
    assert sorted(beats["State"]) == ["Running", "Stopped"]
    assert no_emoji(emails) and no_emoji(beats)
