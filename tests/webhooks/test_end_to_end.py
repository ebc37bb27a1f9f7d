"""Near-real-time updates end to end with real processes: the sandbox delivers its events over
loopback HTTP to `python -m sync.webhooks`, `python -m sync.scheduler` turns them into runs, and
the directory (SQLite or PostgreSQL) follows Personio. Short quiet settings; every assertion waits
for an outcome with a generous deadline and none measures time.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import col, select

from storage.clock import utcnow
from storage.db import read_session, write_session
from storage.models import Integration, Run, User, WebhookEvent
from tests.support.cli import Cli, create_org_reading
from tests.support.processes import SchedulerProcesses, wait_until
from tests.support.sandbox import free_port

DEADLINE = 90.0


@dataclass
class Live:
    """The organization `acme` with near-real-time updates on, its receiver and its scheduler."""

    engine: Engine
    sandbox: Any
    cli: Cli
    processes: SchedulerProcesses
    receiver_url: str

    def integration(self) -> Integration:
        with read_session(self.engine) as session:
            return session.exec(select(Integration)).one()

    def runs(self) -> list[Run]:
        with read_session(self.engine) as session:
            return list(session.exec(select(Run).order_by(col(Run.id))).all())

    def webhook_runs(self) -> list[Run]:
        return [run for run in self.runs() if run.trigger == "webhook"]

    def user(self, personio_id: int) -> User | None:
        with read_session(self.engine) as session:
            return session.exec(select(User).where(User.personio_id == str(personio_id))).first()

    def events(self) -> list[WebhookEvent]:
        with read_session(self.engine) as session:
            return list(session.exec(select(WebhookEvent).order_by(col(WebhookEvent.id))).all())

    def idle(self) -> bool:
        """No run open and no event waiting for one."""
        open_runs = [run for run in self.runs() if run.status in ("queued", "running")]
        return not open_runs and all(event.run_id is not None for event in self.events())

    def delivered(self, count: int) -> bool:
        """At least `count` deliveries reached the receiver and none is still on its way."""
        deliveries = self.sandbox.deliveries()
        settled = all(d["status"] != "pending" for d in deliveries)
        return settled and len([d for d in deliveries if d["status"] == "delivered"]) >= count

    def diagnostics(self) -> str:
        runs = [(r.id, r.trigger, r.status, r.trigger_events, r.error_code) for r in self.runs()]
        return f"runs: {runs}\ndeliveries: {self.sandbox.deliveries()}\n{self.processes.outputs()}"


@contextmanager
def _started(
    engine: Engine,
    sandbox: Any,
    cli: Cli,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    quiet: int,
    wait_for_activation: bool = True,
) -> Iterator[Live]:
    port = free_port()
    receiver_url = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("PUBLIC_WEBHOOK_BASE_URL", receiver_url)
    sandbox.set_webhook_retry_scale(0.001)
    create_org_reading(engine, sandbox, cli)
    activated = cli("activate", "acme")
    assert activated.code == 0, activated.err
    switched = cli("config", "acme", "--near-real-time")
    assert switched.code == 0, switched.err
    with SchedulerProcesses(tmp_path / "processes") as processes:
        receiver = processes.start(module="sync.webhooks", args=("--host", "127.0.0.1", "--port", str(port)))
        wait_until(
            lambda: _healthy(receiver_url),
            timeout=DEADLINE,
            message=lambda: f"the receiver did not answer /healthz:\n{receiver.output}",
        )
        processes.start(
            tick_seconds=1,
            env={"WEBHOOK_QUIET_SECONDS": str(quiet), "WEBHOOK_MAX_DELAY_SECONDS": str(quiet * 10)},
        )
        live = Live(engine, sandbox, cli, processes, receiver_url)
        if wait_for_activation:
            wait_until(
                lambda: [r for r in live.runs() if r.trigger == "activation" and r.status == "succeeded"],
                timeout=DEADLINE,
                message=live.diagnostics,
            )
        yield live


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def live(
    engine: Engine, sandbox: Any, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Live]:
    with _started(engine, sandbox, cli, tmp_path, monkeypatch, quiet=1) as started:
        yield started


@pytest.fixture
def live_patient(
    engine: Engine, sandbox: Any, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Live]:
    """Quiet for 4 s, so a burst made within it is one change."""
    with _started(engine, sandbox, cli, tmp_path, monkeypatch, quiet=4) as started:
        yield started


def test_a_hire_in_personio_becomes_a_user_through_a_personio_change_run(live: Live) -> None:
    hired = live.sandbox.hire(first_name="Ada", last_name="Lovelace")

    user = wait_until(lambda: live.user(hired["id"]), timeout=DEADLINE, message=live.diagnostics)
    assert (user.first_name, user.last_name, user.status) == ("Ada", "Lovelace", "active")
    [run] = live.webhook_runs()
    assert run.status == "succeeded" and run.counts["users_created"] == 1
    assert sorted(run.trigger_events or []) == ["employment.created", "person.created"]
    assert {event.run_id for event in live.events()} == {run.id}

    listed = live.cli.json("runs", "acme")
    [shown] = [entry for entry in listed if entry["run_id"] == run.id]
    assert shown["trigger"] == "webhook"
    assert sorted(shown["trigger_events"]) == ["employment.created", "person.created"]


def test_a_burst_of_fifty_events_causes_one_run_two_at_most(live_patient: Live) -> None:
    live = live_patient
    hired = [live.sandbox.hire(first_name=f"Burst{n}", last_name="Hire") for n in range(25)]  # 50 events

    wait_until(lambda: live.delivered(50), timeout=DEADLINE, message=live.diagnostics)
    wait_until(
        lambda: all(live.user(person["id"]) for person in hired) and live.idle(),
        timeout=DEADLINE,
        message=live.diagnostics,
    )
    runs = live.webhook_runs()
    assert 1 <= len(runs) <= 2, live.diagnostics()
    assert all(run.status == "succeeded" for run in runs)
    assert sum(run.counts["users_created"] for run in runs) == 25
    assert len(live.events()) == 50


def test_a_duplicate_delivery_causes_no_extra_run(live_patient: Live) -> None:
    live = live_patient
    live.sandbox.set_webhook_faults(duplicate=2)
    hired = live.sandbox.hire(first_name="Twice", last_name="Delivered")

    wait_until(lambda: live.delivered(4), timeout=DEADLINE, message=live.diagnostics)
    wait_until(lambda: live.user(hired["id"]) and live.idle(), timeout=DEADLINE, message=live.diagnostics)
    assert len(live.webhook_runs()) == 1
    assert len(live.events()) == 2  # each event recorded once


def test_a_dropped_delivery_is_caught_by_the_next_scheduled_run(live: Live) -> None:
    live.sandbox.set_webhook_faults(drop=2)
    hired = live.sandbox.hire(first_name="Lost", last_name="Webhook")

    wait_until(
        lambda: len(live.sandbox.deliveries(status="dropped")) == 2,
        timeout=DEADLINE,
        message=live.diagnostics,
    )
    assert live.user(hired["id"]) is None and live.webhook_runs() == [] and live.events() == []

    with write_session(live.engine) as session:  # the daily reconciliation comes due
        integration = session.exec(select(Integration)).one()
        integration.next_run_at = utcnow() - timedelta(minutes=1)
        session.add(integration)

    user = wait_until(lambda: live.user(hired["id"]), timeout=DEADLINE, message=live.diagnostics)
    assert user.status == "active"
    assert [run.trigger for run in live.runs()] == ["activation", "automatic"]


def test_a_wrong_token_is_refused_and_records_nothing(live: Live) -> None:
    path_id = live.integration().webhook_path_id
    body = {
        "company_id": "1",
        "event_name": "person.created",
        "occurred_at": "2026-12-04T10:00:00Z",
        "payload": {"id": "1"},
    }
    refused = httpx.post(
        f"{live.receiver_url}/personio/webhooks/{path_id}",
        json=body,
        headers={"Authorization": "Bearer not-the-token"},
        timeout=5,
    )
    unknown = httpx.post(f"{live.receiver_url}/personio/webhooks/not-an-organization", json=body, timeout=5)

    assert (refused.status_code, unknown.status_code) == (401, 404)
    assert refused.content == b"" or "token" not in refused.text.lower()
    hired = live.sandbox.hire(first_name="After", last_name="Refusal")  # the receiver still works
    wait_until(lambda: live.user(hired["id"]), timeout=DEADLINE, message=live.diagnostics)
    assert len(live.events()) == 2  # only the sandbox's two genuine events


def test_the_receiver_acknowledges_at_once_while_a_large_run_executes(
    engine: Engine, sandbox_factory: Any, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = sandbox_factory(employees=20_000, rate_limit=False)
    synced = [e for e in big.employees() if e["status"] == "active" and e["employment_type"] == "internal"]
    people = [e["id"] for e in synced if e["email"]][:5]
    with _started(engine, big, cli, tmp_path, monkeypatch, quiet=1, wait_for_activation=False) as live:
        running = wait_until(
            lambda: [r for r in live.runs() if r.status == "running"],
            timeout=DEADLINE,
            message=live.diagnostics,
        )
        # Renames, not hires: a hire while the run pages through the list would (rightly) fail it
        # as an inconsistent read.
        for person_id in people:
            big.update(person_id, last_name=f"During{person_id}")

        wait_until(lambda: live.delivered(5), timeout=DEADLINE, message=live.diagnostics)
        # Personio waits 3 s for the answer; the sandbox does too and would retry after a timeout.
        assert all(d["attempts"] == 1 and d["status_codes"] == [202] for d in big.deliveries())
        [still] = [run for run in live.runs() if run.id == running[0].id]
        assert still.status == "running", "the run ended before the deliveries: nothing was shown"

        def renamed_in_directory() -> bool:
            users = [live.user(person_id) for person_id in people]
            return all(u is not None and u.last_name.startswith("During") for u in users) and live.idle()

        wait_until(renamed_in_directory, timeout=DEADLINE * 2, message=live.diagnostics)
        triggers = [run.trigger for run in live.runs()]
        assert triggers in (["activation"], ["activation", "webhook"]), live.diagnostics()
