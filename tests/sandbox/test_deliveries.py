"""Webhook deliveries: admin changes reach real receivers on loopback with the webhook's token, in
the background, retried on 5xx and missing acknowledgements; drops and duplicates on demand."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from sandbox.__main__ import parse_args
from sandbox.events import EMPLOYMENT_ID_OFFSET, change_events
from sandbox.webhooks import EVENTS
from tests.support.capture import CaptureServer
from tests.support.sandbox import SandboxError, SandboxFactory, SandboxProcess, free_port

WAIT = 30.0  # generous: outcomes, never speed
TOKEN = "Bearer whk-0123456789abcdef"


def eventually(check: Callable[[], Any], *, timeout: float = WAIT) -> Any:
    """The first truthy result of `check`, polled until `timeout`; fails the test otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout:g} s: {check.__doc__ or check}")
        time.sleep(0.05)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


class Receiver:
    """A webhook receiver on loopback. `answers` are the statuses of the next requests (then 200);
    while `hold` is set the receiver keeps the next request waiting until `release` (or 10 s)."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.answers: list[int] = []
        self.hold = threading.Event()
        self.release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length))
                headers = {name.lower(): value for name, value in self.headers.items()}
                receiver.received.append(Received(self.path, headers, body))
                if receiver.hold.is_set():
                    receiver.hold.clear()
                    receiver.release.wait(10)
                status = receiver.answers.pop(0) if receiver.answers else 200
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", "/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/personio/webhooks/org-7"

    def events(self, name: str | None = None) -> list[Received]:
        return [r for r in list(self.received) if name is None or r.body["event_name"] == name]

    def stop(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.stop()


def register(sandbox: SandboxProcess, url: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "url": url,
        "description": "tests",
        "status": "ENABLED",
        "auth_type": "TOKEN",
        "token": TOKEN,
        "enabled_events": list(EVENTS),
    }
    body.update(overrides)
    body = {key: value for key, value in body.items() if value is not None}
    headers = {"Authorization": f"Bearer {sandbox.v2_token()}"}
    response = sandbox.http.post(f"{sandbox.base_url}/v2/webhooks", json=body, headers=headers)
    if response.status_code != 201:
        raise SandboxError(f"POST /v2/webhooks -> {response.status_code}: {response.text}")
    return dict(response.json())


def finished(sandbox: SandboxProcess, count: int) -> list[dict[str, Any]]:
    """The deliveries once `count` of them exist and none is pending any more."""

    def done() -> list[dict[str, Any]] | None:
        deliveries = sandbox.deliveries()
        pending = [d for d in deliveries if d["status"] == "pending"]
        return deliveries if len(deliveries) >= count and not pending else None

    result: list[dict[str, Any]] = eventually(done)
    return result


def a_member(sandbox: SandboxProcess) -> dict[str, Any]:
    return next(e for e in sandbox.employees() if e["status"] == "active" and e["department"] and e["email"])


def test_a_hire_delivers_person_and_employment_created_with_the_token(
    sandbox: SandboxProcess, capture_server: CaptureServer
) -> None:
    webhook = register(sandbox, capture_server.url)
    hired = sandbox.hire(first_name="Ada", last_name="Lovelace")
    deliveries = finished(sandbox, 2)
    assert sorted(d["event_name"] for d in deliveries) == ["employment.created", "person.created"]
    assert all(d["delivered"] and d["attempts"] == 1 and d["status_codes"] == [200] for d in deliveries)
    assert {d["webhook_id"] for d in deliveries} == {webhook["id"]}
    eventually(lambda: len(capture_server.requests) == 2)
    assert all(request.startswith(b"POST / ") for request in capture_server.requests)
    assert capture_server.received(f"Authorization: {TOKEN}")
    assert capture_server.received("Content-Type: application/json")
    bodies = [json.loads(request.split(b"\n\n", 1)[1]) for request in capture_server.requests]
    person = next(body for body in bodies if body["event_name"] == "person.created")
    assert set(person) == {"company_id", "event_name", "occurred_at", "payload", "meta"}
    assert person["payload"] == {"id": str(hired["id"])}
    assert isinstance(person["company_id"], str) and person["occurred_at"].endswith("Z")
    employment = next(body for body in bodies if body["event_name"] == "employment.created")
    assert employment["payload"] == {
        "id": str(hired["id"] + EMPLOYMENT_ID_OFFSET),
        "person": {"id": str(hired["id"])},
    }
    assert TOKEN not in json.dumps(sandbox.deliveries())  # the admin listing never shows it


def test_changes_map_to_the_events_personio_sends(sandbox: SandboxProcess, receiver: Receiver) -> None:
    register(sandbox, receiver.url)
    member = a_member(sandbox)
    sandbox.update(member["id"], email="new.address@example.com")
    eventually(lambda: receiver.events("person.updated"))
    sandbox.update(member["id"], status="inactive")  # a leave
    sandbox.update(member["id"], department="Brand New Department")  # a transfer
    eventually(lambda: len(receiver.events("employment.updated")) == 2)
    sandbox.update(member["id"], email="new.address@example.com")  # no change, no event
    units = sandbox.org_units()["teams"][0]
    members = [e["id"] for e in sandbox.employees() if e["team"] and e["team"]["id"] == units["id"]]
    sandbox.rename_team(units["id"], "Renamed Team")
    eventually(lambda: len(receiver.events("employment.updated")) == 2 + len(members))
    renamed = {r.body["payload"]["person"]["id"] for r in receiver.events("employment.updated")[2:]}
    assert renamed == {str(m) for m in members}
    everyone = sandbox.employees()
    boss = next(e for e in everyone if any(other["supervisor_id"] == e["id"] for other in everyone))
    reports = [e["id"] for e in everyone if e["supervisor_id"] == boss["id"]]
    before = len(receiver.events("employment.updated"))
    sandbox.delete(boss["id"])
    eventually(lambda: receiver.events("person.deleted") and receiver.events("employment.deleted"))
    eventually(lambda: len(receiver.events("employment.updated")) == before + len(reports))
    assert [r.body["payload"] for r in receiver.events("person.deleted")] == [{"id": str(boss["id"])}]
    assert len(receiver.events("person.updated")) == 1
    assert not receiver.events("person.created")


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        ({"first_name": "A"}, {"first_name": "B"}, ["person.updated"]),
        ({"status": "active"}, {"status": "inactive"}, ["employment.updated"]),
        ({"email": "a", "office": 1}, {"email": "b", "office": 2}, ["person.updated", "employment.updated"]),
        ({"email": "a", "last_modified_at": "x"}, {"email": "a", "last_modified_at": "y"}, []),
    ],
)
def test_change_events_follow_personios_mapping(
    before: dict[str, Any], after: dict[str, Any], expected: list[str]
) -> None:
    assert [event.name for event in change_events(1000, before, after)] == expected


def test_only_enabled_webhooks_get_only_their_events(sandbox: SandboxProcess, receiver: Receiver) -> None:
    other = Receiver()
    try:
        register(sandbox, other.url, status=None)  # DISABLED by default: nothing
        register(sandbox, receiver.url, enabled_events=["person.created"])
        sandbox.hire(first_name="Grace", last_name="Hopper")
        deliveries = finished(sandbox, 1)
        assert [d["event_name"] for d in deliveries] == ["person.created"]
        eventually(lambda: receiver.events("person.created"))
        assert not other.received
    finally:
        other.stop()


def test_a_500_is_retried_fast_then_after_the_backoff(sandbox: SandboxProcess, receiver: Receiver) -> None:
    sandbox.set_webhook_retry_scale(0.001)
    register(sandbox, receiver.url, enabled_events=["person.created"])
    receiver.answers = [500, 503, 502]
    sandbox.hire(first_name="Katherine", last_name="Johnson")
    (delivery,) = finished(sandbox, 1)
    assert delivery["delivered"] is True
    assert delivery["status_codes"] == [500, 503, 502, 200]
    assert delivery["attempts"] == 2  # two requests per attempt (the fast attempt)
    assert [r["attempt"] for r in delivery["requests"]] == [1, 1, 2, 2]
    bodies = [r.body for r in receiver.events()]
    assert len(bodies) == 4 and all(body == bodies[0] for body in bodies)  # the same event each time


def test_a_5xx_forever_gives_up_after_14_requests(sandbox: SandboxProcess, receiver: Receiver) -> None:
    sandbox.set_webhook_retry_scale(0.00001)  # the ~62 h of delays in about 2 s
    register(sandbox, receiver.url, enabled_events=["person.created"])
    receiver.answers = [500] * 20
    sandbox.hire(first_name="Mary", last_name="Jackson")
    (delivery,) = finished(sandbox, 1)
    assert delivery["status"] == "failed" and delivery["attempts"] == 7
    assert delivery["status_codes"] == [500] * 14


@pytest.mark.parametrize("status", [501, 404, 302])
def test_other_answers_are_not_retried(sandbox: SandboxProcess, receiver: Receiver, status: int) -> None:
    sandbox.set_webhook_retry_scale(0.001)
    register(sandbox, receiver.url, enabled_events=["person.created"])
    receiver.answers = [status]
    sandbox.hire(first_name="Dorothy", last_name="Vaughan")
    (delivery,) = finished(sandbox, 1)
    assert delivery["status"] == "failed" and delivery["status_codes"] == [status]
    assert len(receiver.events()) == 1  # a redirect is not followed either


def test_drop_and_duplicate(sandbox: SandboxProcess, receiver: Receiver) -> None:
    register(sandbox, receiver.url, enabled_events=["person.created"])
    assert sandbox.set_webhook_faults(drop=1, duplicate=1) == {"drop": 1, "duplicate": 1}
    dropped = sandbox.hire(first_name="Dropped", last_name="Person")
    doubled = sandbox.hire(first_name="Doubled", last_name="Person")
    deliveries = finished(sandbox, 3)
    assert [d["status"] for d in deliveries] == ["dropped", "delivered", "delivered"]
    assert [d["duplicate"] for d in deliveries] == [False, False, True]
    eventually(lambda: len(receiver.events()) == 2)
    payloads = [r.body["payload"]["id"] for r in receiver.events()]
    assert payloads == [str(doubled["id"])] * 2
    assert receiver.events()[0].body == receiver.events()[1].body  # the very same event twice
    assert str(dropped["id"]) not in payloads
    assert sandbox.http.get(f"{sandbox.admin_url}/webhook_faults").json() == {"drop": 0, "duplicate": 0}


def test_a_slow_receiver_does_not_block_admin_calls_and_is_retried(
    sandbox: SandboxProcess, receiver: Receiver
) -> None:
    register(sandbox, receiver.url, enabled_events=["person.created"])
    receiver.hold.set()  # the first request waits until released, far past the 3 s acknowledgement
    sandbox.hire(first_name="Slow", last_name="Receiver")
    eventually(lambda: receiver.received)
    # The receiver has not answered yet, and the sandbox keeps answering admin calls meanwhile.
    assert not receiver.release.is_set()
    sandbox.hire(first_name="Second", last_name="Hire")
    assert sandbox.employees()
    deliveries = finished(sandbox, 2)
    receiver.release.set()
    slow = next(d for d in deliveries if d["requests"][0]["status"] is None)
    assert "no acknowledgement within 3 s" in slow["requests"][0]["error"]
    assert slow["status_codes"] == [None, 200] and slow["delivered"]  # the fast attempt got through


def test_an_unreachable_receiver_does_not_block_admin_calls(sandbox: SandboxProcess) -> None:
    sandbox.set_webhook_retry_scale(0.00001)
    register(sandbox, f"http://127.0.0.1:{free_port()}/hook", enabled_events=["person.created"])
    for number in range(3):
        sandbox.hire(first_name="Nobody", last_name=f"Listens {number}")
    deliveries = finished(sandbox, 3)
    assert all(d["status"] == "failed" and d["status_codes"] == [None] * 14 for d in deliveries)
    assert all(r["error"] for d in deliveries for r in d["requests"])


def test_custom_and_no_authentication(sandbox: SandboxProcess, receiver: Receiver) -> None:
    other = Receiver()
    try:
        register(
            sandbox,
            receiver.url,
            auth_type="CUSTOM",
            token=None,
            custom_headers=[{"key": "X-Hook-Key", "value": "k-1"}],
            enabled_events=["person.created"],
        )
        register(sandbox, other.url, auth_type="NONE", token=None, enabled_events=["person.created"])
        sandbox.hire(first_name="Custom", last_name="Headers")
        (received,) = eventually(lambda: receiver.events())
        assert received.headers["x-hook-key"] == "k-1" and "authorization" not in received.headers
        (plain,) = eventually(lambda: other.events())
        assert "authorization" not in plain.headers
    finally:
        other.stop()


def test_deleting_the_webhook_stops_deliveries(sandbox: SandboxProcess, receiver: Receiver) -> None:
    sandbox.set_webhook_retry_scale(100.0)  # the retry would come in well over an hour
    webhook = register(sandbox, receiver.url, enabled_events=["person.created"])
    receiver.answers = [500, 500]
    sandbox.hire(first_name="Before", last_name="Delete")
    eventually(lambda: len(receiver.events()) == 2)
    eventually(
        lambda: sandbox.deliveries()[0]["attempts"] == 1 and len(sandbox.deliveries()[0]["requests"]) == 2
    )
    headers = {"Authorization": f"Bearer {sandbox.v2_token()}"}
    url = f"{sandbox.base_url}/v2/webhooks/{webhook['id']}"
    assert sandbox.http.delete(url, headers=headers).status_code == 204
    assert sandbox.deliveries()[0]["status"] == "cancelled"
    sandbox.hire(first_name="After", last_name="Delete")
    assert len(sandbox.deliveries()) == 1


def test_reset_forgets_deliveries_faults_and_the_retry_scale(
    sandbox: SandboxProcess, receiver: Receiver
) -> None:
    register(sandbox, receiver.url, enabled_events=["person.created"])
    sandbox.set_webhook_faults(drop=5)
    sandbox.set_webhook_retry_scale(0.5)
    sandbox.hire(first_name="Reset", last_name="Me")
    assert sandbox.deliveries()
    sandbox.reset()
    assert sandbox.deliveries() == []
    assert sandbox.http.get(f"{sandbox.admin_url}/webhook_faults").json() == {"drop": 0, "duplicate": 0}
    assert sandbox.http.get(f"{sandbox.admin_url}/webhook_settings").json() == {"retry_scale": 1.0}


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/webhook_faults", {"drop": -1}),
        ("/webhook_faults", {"drop": "1"}),
        ("/webhook_faults", {"lose": 1}),
        ("/webhook_settings", {"retry_scale": -1}),
        ("/webhook_settings", {"retry_scale": "fast"}),
    ],
)
def test_webhook_admin_settings_are_validated(
    sandbox: SandboxProcess, path: str, body: dict[str, Any]
) -> None:
    response = sandbox.http.put(f"{sandbox.admin_url}{path}", json=body)
    assert response.status_code == 422 and response.json()["error"]


def test_deliveries_can_be_filtered(sandbox: SandboxProcess, receiver: Receiver) -> None:
    register(sandbox, receiver.url)
    sandbox.hire(first_name="Filter", last_name="Me")
    finished(sandbox, 2)
    assert [d["event_name"] for d in sandbox.deliveries(event_name="person.created")] == ["person.created"]
    assert len(sandbox.deliveries(status="delivered")) == 2
    assert sandbox.deliveries(webhook_id="nope") == []


def test_the_retry_scale_comes_from_the_command_line() -> None:
    assert parse_args(["--webhook-retry-scale", "0.01"]).webhook_retry_scale == 0.01
    assert parse_args([]).webhook_retry_scale == 1.0
    with pytest.raises(SystemExit):
        parse_args(["--webhook-retry-scale", "-1"])


def test_a_delivery_in_flight_does_not_hold_up_sigterm(
    sandbox_factory: SandboxFactory, receiver: Receiver
) -> None:
    private = sandbox_factory(employees=5)
    register(private, receiver.url, enabled_events=["person.created"])
    receiver.hold.set()
    private.hire(first_name="In", last_name="Flight")
    eventually(lambda: receiver.received)
    private.stop()
    assert private.returncode == 0
    assert "Traceback" not in private.log()
