"""Near-real-time runs on SQLite and PostgreSQL: waiting events become ONE `webhook` run once due,
events arriving during a run cause one more run after it, duplicates no extra run, and old
events are pruned. The scheduler's clock is injected; nothing sleeps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from storage.db import read_session, write_session
from storage.models import Integration, Organization, Run, WebhookEvent
from sync.accounts.organizations import create_organization
from sync.core.states import RunStatus, Trigger
from sync.integration.webhook_runs import enqueue_webhook_runs, event_stats, prune_webhook_events
from sync.views.runs import list_runs, run_detail, runs_json

T0 = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
QUIET = timedelta(seconds=60)
MAX_DELAY = timedelta(seconds=120)


def _org(engine: Engine, slug: str = "acme", **integration: Any) -> int:
    org = create_organization(
        engine,
        slug=slug,
        name=slug.capitalize(),
        owner_email=f"owner@{slug}.test",
        owner_password="password1",
    )
    assert org.id is not None
    values = {"state": "active", "near_real_time": True, **integration}
    with write_session(engine) as session:
        row = session.get(Organization, org.id)
        assert row is not None
        row.addon_enabled = True
        session.add(row)
        found = session.exec(select(Integration).where(Integration.org_id == org.id)).one()
        for name, value in values.items():
            setattr(found, name, value)
        session.add(found)
    return org.id


_serial = iter(range(1_000_000))


def _event(
    engine: Engine, org_id: int, at: datetime, name: str = "person.created", key: str | None = None
) -> None:
    with write_session(engine) as session:
        session.add(
            WebhookEvent(
                org_id=org_id,
                event_name=name,
                occurred_at=at,
                received_at=at,
                dedupe_key=key or f"k{next(_serial)}",
                payload={"id": "1"},
            )
        )


def _tick(engine: Engine, at: datetime) -> list[int]:
    return [item.run_id for item in enqueue_webhook_runs(engine, now=at, quiet=QUIET, max_delay=MAX_DELAY)]


def _runs(engine: Engine, org_id: int) -> list[Run]:
    with read_session(engine) as session:
        return list(session.exec(select(Run).where(Run.org_id == org_id).order_by(col(Run.id))).all())


def _finish(engine: Engine, run_id: int) -> None:
    with write_session(engine) as session:
        run = session.get(Run, run_id)
        assert run is not None
        run.status = RunStatus.SUCCEEDED
        run.finished_at = T0
        session.add(run)


def test_a_burst_of_fifty_events_causes_one_webhook_run_with_the_event_names(db_engine: Engine) -> None:
    org_id = _org(db_engine)
    for second in range(50):
        name = "person.created" if second % 2 else "employment.updated"
        _event(db_engine, org_id, T0 + timedelta(seconds=second / 10), name)
    assert _tick(db_engine, T0 + timedelta(seconds=30)) == []  # still within the quiet period

    queued = _tick(db_engine, T0 + timedelta(seconds=65))
    assert len(queued) == 1
    runs = _runs(db_engine, org_id)
    assert [(run.trigger, run.status) for run in runs] == [(Trigger.WEBHOOK, RunStatus.QUEUED)]
    assert runs[0].trigger_events == ["employment.updated", "person.created"]
    assert _tick(db_engine, T0 + timedelta(seconds=200)) == []  # consumed: no second run

    row = list_runs(db_engine, org_id=org_id).rows[0]
    assert row.triggered_by.text == "Personio change: employment.updated, person.created"
    detail = run_detail(db_engine, queued[0], org_id=org_id)
    assert detail is not None and detail.trigger_events == ("employment.updated", "person.created")
    printed = runs_json(db_engine, org_id=org_id, limit=5)[0]
    assert printed["trigger"] == "webhook"
    assert printed["trigger_events"] == ["employment.updated", "person.created"]
    assert printed["triggered_by"] == "Personio change"


def test_a_steady_trickle_runs_at_the_maximum_delay(db_engine: Engine) -> None:
    org_id = _org(db_engine)
    for second in range(0, 125, 10):
        _event(db_engine, org_id, T0 + timedelta(seconds=second))
        if second < 120:
            assert _tick(db_engine, T0 + timedelta(seconds=second)) == []
    assert len(_tick(db_engine, T0 + timedelta(seconds=120))) == 1


def test_events_during_a_run_cause_exactly_one_more_run_after_it(db_engine: Engine) -> None:
    org_id = _org(db_engine)
    _event(db_engine, org_id, T0)
    [first] = _tick(db_engine, T0 + QUIET)
    for second in range(70, 90):  # arrive while the first run is open
        _event(db_engine, org_id, T0 + timedelta(seconds=second), "employment.updated")
    assert _tick(db_engine, T0 + timedelta(seconds=200)) == []  # the open run finishes first
    _finish(db_engine, first)
    [second_run] = _tick(db_engine, T0 + timedelta(seconds=201))
    assert second_run != first
    assert _tick(db_engine, T0 + timedelta(seconds=400)) == []
    assert [run.trigger_events for run in _runs(db_engine, org_id)] == [
        ["person.created"],
        ["employment.updated"],
    ]


def test_a_duplicate_delivery_is_one_event_and_no_extra_run(db_engine: Engine) -> None:
    org_id = _org(db_engine)
    _event(db_engine, org_id, T0, key="same")
    with pytest.raises(IntegrityError):  # the receiver ignores it; the database refuses a second row
        _event(db_engine, org_id, T0 + timedelta(seconds=1), key="same")
    [run_id] = _tick(db_engine, T0 + QUIET + timedelta(seconds=1))
    _finish(db_engine, run_id)
    assert _tick(db_engine, T0 + timedelta(hours=1)) == []
    assert len(_runs(db_engine, org_id)) == 1


@pytest.mark.parametrize(
    ("integration", "addon"),
    [
        ({"near_real_time": False}, True),
        ({"state": "paused"}, True),
        ({"state": "inactive"}, True),
        ({}, False),
    ],
)
def test_only_active_integrations_with_the_switch_on_and_the_add_on_get_webhook_runs(
    db_engine: Engine, integration: dict[str, Any], addon: bool
) -> None:
    org_id = _org(db_engine, **integration)
    if not addon:
        with write_session(db_engine) as session:
            org = session.get(Organization, org_id)
            assert org is not None
            org.addon_enabled = False
            session.add(org)
    _event(db_engine, org_id, T0)
    assert _tick(db_engine, T0 + timedelta(hours=1)) == []
    assert _runs(db_engine, org_id) == []


def test_an_open_run_of_another_trigger_absorbs_nothing_and_the_events_wait(db_engine: Engine) -> None:
    org_id = _org(db_engine)
    with write_session(db_engine) as session:
        session.add(Run(org_id=org_id, trigger=Trigger.MANUAL, status=RunStatus.RUNNING, queued_at=T0))
    _event(db_engine, org_id, T0)
    assert _tick(db_engine, T0 + timedelta(hours=1)) == []
    [manual] = _runs(db_engine, org_id)
    assert manual.id is not None
    _finish(db_engine, manual.id)
    assert len(_tick(db_engine, T0 + timedelta(hours=1))) == 1


def test_organizations_are_debounced_apart(db_engine: Engine) -> None:
    busy = _org(db_engine, "busy")
    calm = _org(db_engine, "calm")
    _event(db_engine, calm, T0)
    for second in range(0, 60, 5):
        _event(db_engine, busy, T0 + timedelta(seconds=second))
    queued = enqueue_webhook_runs(db_engine, now=T0 + QUIET, quiet=QUIET, max_delay=MAX_DELAY)
    assert [item.org_id for item in queued] == [calm]


def test_events_older_than_four_days_are_pruned_and_stats_count_the_last_day(db_engine: Engine) -> None:
    org_id = _org(db_engine)
    for day in (5, 4.5, 1.5, 0.5, 0.1):
        _event(db_engine, org_id, T0 - timedelta(days=day))
    assert prune_webhook_events(db_engine, now=T0) == 2
    last, recent = event_stats(db_engine, org_id, now=T0)
    assert last == T0 - timedelta(days=0.1)
    assert recent == 2
    with read_session(db_engine) as session:
        assert len(session.exec(select(WebhookEvent)).all()) == 3
