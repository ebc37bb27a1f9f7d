"""Read-only views behind the dashboard: paging, change text, avatars, scheduler state, no secrets."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event, insert

from storage.clock import utcnow
from storage.db import write_session
from storage.models import Run, RunChange, RunWarning, SchedulerHeartbeat, table
from sync.accounts.organizations import create_organization, create_staff
from sync.core.errors import ErrorInfo
from sync.integration import queue
from sync.integration.settings import save_settings
from sync.views.avatars import avatar_uri, initials
from sync.views.changes import changes_frame, describe_change, filter_changes
from sync.views.directory import search_frame
from sync.views.integration import integration_view, team_examples
from sync.views.runs import list_runs, runs_frame, runs_json
from sync.views.scheduler import scheduler_status
from sync.views.support import organizations_overview


@pytest.fixture
def org_id(engine: Engine) -> int:
    org = create_organization(
        engine, slug="acme", name="Acme", owner_email="olga@acme.test", owner_password="correct horse"
    )
    assert org.id is not None
    return org.id


def test_ten_thousand_runs_are_read_one_page_at_a_time(engine: Engine, org_id: int) -> None:
    start = utcnow() - timedelta(days=30)
    rows: list[dict[str, Any]] = [
        {
            "org_id": org_id,
            "trigger": "automatic",
            "approve_safety": False,
            "status": "succeeded",
            "queued_at": start + timedelta(minutes=i),
            "counts": {},
        }
        for i in range(10_000)
    ]
    with write_session(engine) as session:
        session.execute(insert(table(Run)), rows)

    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        last = list_runs(engine, org_id=org_id, page=200)
    finally:
        event.remove(engine, "before_cursor_execute", record)

    assert last.total == 10_000 and last.pages == 200 and len(last.rows) == 50
    assert [r.triggered_at for r in last.rows] == sorted((r.triggered_at for r in last.rows), reverse=True)
    assert last.rows[-1].triggered_at == rows[0]["queued_at"]
    page_query = next(s for s in statements if "LIMIT" in s)
    assert "OFFSET" in page_query  # the database pages; Python never holds all 10,000
    first = list_runs(engine, org_id=org_id, page=1)
    assert first.rows[0].triggered_at == rows[-1]["queued_at"]
    assert list_runs(engine, org_id=org_id, page=999).page == 200  # past the end: the last page
    assert len(runs_frame(first)) == 50


def test_the_command_lines_runs_name_who_started_each_and_count_its_log(engine: Engine, org_id: int) -> None:
    staff = create_staff(engine, email="sam@support.test", password="correct horse", name="Sam")
    assert runs_json(engine, org_id=org_id, limit=50) == []
    with write_session(engine) as session:
        by_cli = queue.enqueue_run(session, org_id=org_id, trigger="manual", label="cli:ops@host")
        session.add(RunChange(run_id=by_cli.id, entity="user", action="create", key="a@acme.test"))
        session.add(RunChange(run_id=by_cli.id, entity="user", action="create", key="b@acme.test"))
        session.add(RunWarning(run_id=by_cli.id, personio_id="7", reason="No email address"))
        by_cli.status = "succeeded"  # one open run per organization: the next is queued after it
        session.add(by_cli)
        session.flush()
        by_staff = queue.enqueue_run(session, org_id=org_id, trigger="manual", staff_id=staff.id)
    assert by_staff.id is not None and queue.claim_run(engine, worker_id="w", run_id=by_staff.id)
    error = ErrorInfo(code="auth_failed", message="Rejected.", hint="New credentials.")
    assert queue.fail_run(engine, run_id=by_staff.id, worker_id="w", error=error)
    with write_session(engine) as session:
        scheduled = queue.enqueue_run(session, org_id=org_id, trigger="automatic")

    runs = runs_json(engine, org_id=org_id, limit=50)

    assert [r["run_id"] for r in runs] == [scheduled.id, by_staff.id, by_cli.id]
    assert [r["triggered_by"] for r in runs] == ["Automatic", "sam@support.test", "cli:ops@host"]
    assert [(r["changes"], r["warnings"]) for r in runs] == [(0, 0), (0, 0), (2, 1)]
    assert runs[1]["status"] == "failed" and runs[1]["started_at"] and runs[1]["finished_at"]
    assert runs[1]["error"] == {"code": "auth_failed", "message": "Rejected.", "hint": "New credentials."}
    assert runs[0]["error"] is None and runs[0]["started_at"] is None and runs[0]["counts"] == {}
    assert [r["run_id"] for r in runs_json(engine, org_id=org_id, limit=1)] == [scheduled.id]


@pytest.mark.parametrize(
    ("before", "after", "text"),
    [
        (
            {"first_name": "Ann", "email": "a@x"},
            {"first_name": "Anna", "email": "a@x"},
            "first name: Ann → Anna",
        ),
        ({"job_title": None}, {"job_title": "Engineer"}, "job title: — → Engineer"),
        (None, {"email": "new@x", "first_name": "New", "job_title": None}, "email: new@x; first name: New"),
        ({"name": "Department IT"}, None, "name: Department IT"),
    ],
)
def test_a_change_reads_before_to_after(
    before: dict[str, Any] | None, after: dict[str, Any] | None, text: str
) -> None:
    assert describe_change(before, after) == text


def test_filters_combine_entity_action_and_case_insensitive_search() -> None:
    frame = changes_frame(
        [
            {"entity": "user", "action": "create", "key": "ann@x.test", "personio_id": "1", "after": {}},
            {"entity": "user", "action": "deactivate", "key": "bob@x.test", "personio_id": "2"},
            {
                "entity": "team",
                "action": "create",
                "key": "Department IT",
                "after": {"name": "Department IT"},
            },
        ]
    )
    assert list(filter_changes(frame, entities=["User"])["Name or email"]) == ["ann@x.test", "bob@x.test"]
    assert list(filter_changes(frame, actions=["Create"])["Name or email"]) == ["ann@x.test", "Department IT"]
    assert list(filter_changes(frame, search="department it")["Entity"]) == ["Team"]
    assert len(filter_changes(frame)) == 3


def test_avatars_are_inline_svg_with_initials_and_no_external_url() -> None:
    uri = avatar_uri("Olga Owner", "olga@acme.test")
    svg = base64.b64decode(uri.removeprefix("data:image/svg+xml;base64,")).decode()
    assert ">OO<" in svg
    assert "http" not in svg.replace("http://www.w3.org/2000/svg", "")
    assert initials("", "sam@x.test") == "SA"
    assert avatar_uri("A", "same@x.test") == avatar_uri("A", "SAME@x.test")


def test_team_examples_prefer_the_last_tests_names() -> None:
    assert team_examples("department") == ["Department IT", "Department Sales"]
    assert team_examples("supervisor")[0] == "Peter Wright's team"
    assert team_examples("department", {"department": ["Department Legal"]}) == ["Department Legal"]
    assert team_examples("office", {"office": []}) == ["Office Berlin", "Office Munich"]


def test_scheduler_counts_as_running_only_with_a_fresh_heartbeat(engine: Engine) -> None:
    assert not scheduler_status(engine).running
    now = utcnow()
    with write_session(engine) as session:
        session.add(SchedulerHeartbeat(instance_id="a", host="h", pid=1, started_at=now, last_seen=now))
    assert scheduler_status(engine).running
    assert not scheduler_status(engine, now=now + timedelta(minutes=5)).running


def test_no_view_carries_the_client_secret(engine: Engine, org_id: int) -> None:
    save_settings(engine, org_id, client_id="papi", client_secret="very-secret-value")
    view = integration_view(engine, org_id)
    assert view is not None and view.has_secret
    assert "very-secret-value" not in repr(view)
    assert "very-secret-value" not in repr(organizations_overview(engine))
    assert not any("secret" in name and name != "secret_set_at" for name in view.__dataclass_fields__)


def test_search_matches_any_column() -> None:
    frame = changes_frame([{"entity": "user", "action": "create", "key": "ann@x.test", "personio_id": "42"}])
    assert len(search_frame(frame, "42")) == 1
    assert len(search_frame(frame, "zzz")) == 0
