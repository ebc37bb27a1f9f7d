"""The Personio client: pacing and back-off on a fake clock, error sorting, and whole fetches over
real loopback HTTP against the sandbox (tests/support/sandbox.py)."""

from __future__ import annotations

import json
import logging
import random
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from sync.core.employees import REQUIRED_ATTRIBUTES, SYNC_ATTRIBUTES, Employee, OrgUnit
from sync.core.errors import (
    AUTH_FAILED,
    FORBIDDEN,
    INVALID_RESPONSE,
    MISSING_ATTRIBUTE,
    NOT_CONFIGURED,
    PERSONIO_UNAVAILABLE,
    RATE_LIMITED,
    FetchAbandoned,
    SyncError,
)
from sync.personio.budget import FetchBudget
from sync.personio.client import FetchProgress, FetchResult, PersonioClient
from sync.personio.limits import derived_run_deadline, employee_limit
from sync.personio.pacing import (
    Pacer,
    RateLimit,
    backoff_delay,
    parse_retry_after,
    rate_limit_per_minute,
    shared_host_pacer,
)
from tests.support.sandbox import SandboxFactory, SandboxProcess

SECRET = "papi-secret-7b1f0c"

# -- pacing on a fake clock ---------------------------------------------------------------------


class FakeClock:
    """A clock that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def paced_times(limit: RateLimit, requests: int, *, gap: float = 0.0) -> list[float]:
    clock = FakeClock()
    pacer = Pacer(limit, clock=clock, sleep=clock.sleep)
    times = []
    for _ in range(requests):
        pacer.acquire()
        times.append(clock.now)
        clock.now += gap
    return times


def most_in_any_window(times: list[float], seconds: float) -> int:
    return max(sum(1 for t in times if start <= t < start + seconds) for start in times)


def test_pacer_lets_a_burst_through_up_to_the_per_second_limit_without_waiting() -> None:
    times = paced_times(RateLimit(per_minute=290, per_second=14), 14)
    assert times == [1000.0] * 14


def test_pacer_holds_the_fifteenth_request_until_the_first_leaves_the_second() -> None:
    times = paced_times(RateLimit(per_minute=290, per_second=14), 15)
    assert times[14] == pytest.approx(1001.0)


@pytest.mark.parametrize("gap", [0.0, 0.01, 0.25])
def test_pacer_never_exceeds_either_sliding_window(gap: float) -> None:
    limit = RateLimit(per_minute=290, per_second=14)
    times = paced_times(limit, 700, gap=gap)
    assert most_in_any_window(times, 1.0) <= 14
    assert most_in_any_window(times, 60.0) <= 290


def test_pacer_waits_for_the_minute_window_once_it_is_full() -> None:
    times = paced_times(RateLimit(per_minute=5, per_second=5), 6)
    assert times[:5] == [1000.0] * 5
    assert times[5] == pytest.approx(1060.0)


def test_pacer_does_not_wait_when_requests_are_spread_out() -> None:
    clock = FakeClock()
    pacer = Pacer(RateLimit(per_minute=290, per_second=14), clock=clock, sleep=clock.sleep)
    for _ in range(50):
        assert pacer.acquire() == 0.0
        clock.now += 0.5
    assert clock.slept == []


@pytest.mark.parametrize(("per_minute", "per_second"), [(0, 14), (290, 0), (-1, 1)])
def test_rate_limit_refuses_zero_or_negative(per_minute: int, per_second: int) -> None:
    with pytest.raises(ValueError):
        RateLimit(per_minute=per_minute, per_second=per_second)


@pytest.mark.parametrize(
    ("per_minute", "expected"),
    [
        (None, RateLimit(per_minute=290, per_second=14)),
        (0, None),
        (120, RateLimit(per_minute=120, per_second=14)),
        (5, RateLimit(per_minute=5, per_second=5)),
    ],
)
def test_rate_limit_per_minute_setting(per_minute: int | None, expected: RateLimit | None) -> None:
    assert rate_limit_per_minute(per_minute) == expected


def test_rate_limit_per_minute_refuses_a_negative_number() -> None:
    with pytest.raises(ValueError):
        rate_limit_per_minute(-3)


def test_client_paces_by_default_and_none_switches_it_off() -> None:
    def pacer_of(**kwargs: Any) -> Pacer | None:
        client = PersonioClient(
            base_url="https://api.personio.de", client_id="id", client_secret=SECRET, **kwargs
        )
        pacer: Pacer | None = client._pacer
        return pacer

    default = pacer_of()
    assert default is not None and default.limit == RateLimit(per_minute=290, per_second=14)
    assert pacer_of(rate_limit=None) is None
    assert pacer_of(rate_limit=rate_limit_per_minute(0)) is None
    explicit = pacer_of(rate_limit=RateLimit(per_minute=60, per_second=2))
    assert explicit is not None and explicit.limit == RateLimit(per_minute=60, per_second=2)


# -- back-off -----------------------------------------------------------------------------------


def test_backoff_doubles_per_attempt_with_jitter_in_the_upper_half() -> None:
    rng = random.Random(7)
    for attempt, step in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0)]:
        for _ in range(20):
            assert step / 2 <= backoff_delay(attempt, base=1.0, rng=rng) <= step


def test_backoff_jitter_spreads_clients_apart() -> None:
    rng = random.Random(1)
    assert len({backoff_delay(3, base=1.0, rng=rng) for _ in range(10)}) == 10


def test_backoff_honours_retry_after_but_caps_it() -> None:
    assert backoff_delay(1, base=1.0, retry_after=7.0) == 7.0
    assert backoff_delay(1, base=1.0, retry_after=3600.0) == 60.0
    assert backoff_delay(1, base=0.01, retry_after=30.0) == pytest.approx(0.6)
    assert backoff_delay(10, base=1.0) == 60.0


@pytest.mark.parametrize(
    ("header", "expected"),
    [("3", 3.0), (" 1.5 ", 1.5), ("-4", 0.0), ("", None), (None, None), ("soon", None)],
)
def test_retry_after_in_seconds(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header) == expected


def test_retry_after_as_http_date() -> None:
    now = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)
    header = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(header, now=now) == pytest.approx(30.0)


# -- construction -------------------------------------------------------------------------------


@pytest.mark.parametrize("base_url", ["", "api.personio.de", "ftp://api.personio.de", "https://"])
def test_base_url_must_be_a_web_address(base_url: str) -> None:
    with pytest.raises(SyncError) as caught:
        PersonioClient(base_url=base_url, client_id="id", client_secret=SECRET)
    assert caught.value.code == NOT_CONFIGURED


@pytest.mark.parametrize(("client_id", "secret"), [("", SECRET), ("id", ""), ("  ", "  ")])
def test_credentials_are_required(client_id: str, secret: str) -> None:
    with pytest.raises(SyncError) as caught:
        PersonioClient(base_url="https://api.personio.de", client_id=client_id, client_secret=secret)
    assert caught.value.code == NOT_CONFIGURED


def test_repr_and_state_never_show_the_secret() -> None:
    client = PersonioClient(base_url="https://api.personio.de/v1/", client_id="papi-id", client_secret=SECRET)
    assert repr(client) == "PersonioClient(base_url='https://api.personio.de', client_id='papi-id')"
    assert SECRET not in repr(vars(client))
    assert SECRET not in str(client)


# -- sorting answers into typed errors (an in-memory Personio, for statuses the sandbox has no fault for)


def fake_personio(
    employees_answer: Callable[[httpx.Request], httpx.Response],
    *,
    auth_answer: Callable[[httpx.Request], httpx.Response] | None = None,
    seen: list[httpx.Request] | None = None,
) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        if request.url.path == "/v1/auth":
            if auth_answer is not None:
                return auth_answer(request)
            return httpx.Response(
                200, json={"success": True, "data": {"token": "papi-token-1", "expires_in": 86400}}
            )
        return employees_answer(request)

    return httpx.MockTransport(handler)


def employees_page(request: httpx.Request, ids: list[int]) -> httpx.Response:
    offset, limit = int(request.url.params["offset"]), int(request.url.params["limit"])
    chunk = ids[offset : offset + limit]
    data = [{"type": "Employee", "attributes": {"id": {"label": "ID", "value": i}}} for i in chunk]
    body = {"success": True, "metadata": {"total_elements": len(ids)}, "limit": limit, "data": data}
    return httpx.Response(200, json=body)


def client_for(transport: httpx.BaseTransport, **kwargs: Any) -> PersonioClient:
    options: dict[str, Any] = {"rate_limit": None, "max_attempts": 3, "backoff_base": 0.001}
    options.update(kwargs)
    return PersonioClient(
        base_url="http://personio.test",
        client_id="papi-id",
        client_secret=SECRET,
        transport=transport,
        allowed_origins=("http://personio.test",),
        **options,
    )


def fetch_employees(
    *,
    base_url: str,
    client_id: str,
    client_secret: str,
    required: Iterable[str] = REQUIRED_ATTRIBUTES,
    **options: Any,
) -> FetchResult:
    """One fetch with a client of its own, closed afterwards (as a run does it)."""
    options.setdefault("allowed_origins", (base_url,))
    with PersonioClient(
        base_url=base_url, client_id=client_id, client_secret=client_secret, **options
    ) as client:
        return client.fetch_employees(required=required)


def fetch_error(transport: httpx.BaseTransport, **kwargs: Any) -> SyncError:
    with client_for(transport, **kwargs) as client, pytest.raises(SyncError) as caught:
        client.fetch_employees(required=())
    return caught.value


def answer(status: int, body: Any = None) -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: httpx.Response(status, json=body if body is not None else {"success": False})


@pytest.mark.parametrize(
    ("status", "code"),
    [(403, FORBIDDEN), (404, INVALID_RESPONSE), (422, INVALID_RESPONSE), (400, INVALID_RESPONSE)],
)
def test_final_statuses_of_the_employees_endpoint(status: int, code: str) -> None:
    error = fetch_error(fake_personio(answer(status)))
    assert error.code == code
    assert str(status) in error.message
    assert error.hint


@pytest.mark.parametrize("status", [401, 403])
def test_rejected_sign_in_is_auth_failed(status: int) -> None:
    body = {"success": False, "error": {"code": status, "message": "Wrong credentials"}}
    error = fetch_error(fake_personio(answer(200), auth_answer=answer(status, body)))
    assert error.code == AUTH_FAILED
    assert error.message == f"Personio rejected the Client ID / Client Secret ({status})."
    assert "Settings > Integrations > API credentials" in error.hint


def test_personio_text_in_a_message_never_echoes_the_secret() -> None:
    body = {"success": False, "error": {"code": 0, "message": f"bad request for client_secret={SECRET}"}}
    error = fetch_error(fake_personio(answer(422, body)))
    assert error.code == INVALID_RESPONSE
    assert SECRET not in error.message
    assert "***" in error.message


@pytest.mark.parametrize(
    "said",
    [
        "**Urgent** [reset here](https://evil.example) ![t](https://evil.example/t.gif) " + "padding " * 30,
        "evil\u202egpj.exe\x1b[2J\nsecond line",
    ],
)
def test_personio_text_in_a_message_is_a_short_quoted_excerpt_without_control_characters(said: str) -> None:
    error = fetch_error(fake_personio(answer(422, {"success": False, "error": {"code": 0, "message": said}})))
    assert error.code == INVALID_RESPONSE
    quoted = error.message.split(": ", 1)[1]
    assert quoted.startswith('"') and quoted.endswith('".')
    assert len(quoted) <= 80 + 3
    assert not any(c in error.message for c in "\u202e\x1b\n")


def test_an_unreadable_answer_quotes_personio_on_one_short_line() -> None:
    said = "bad\nthing " + "x" * 400
    error = fetch_error(fake_personio(answer(200, {"success": False, "error": {"message": said}})))
    assert error.code == INVALID_RESPONSE
    assert "\n" not in error.message
    assert len(error.message) < 200


def test_duplicate_ids_across_pages_refetch_once_then_fail() -> None:
    seen: list[httpx.Request] = []
    ids = [*range(100), 5, *range(101, 150)]  # employee 5 again on page two
    error = fetch_error(fake_personio(lambda r: employees_page(r, ids), seen=seen))
    assert error.code == INVALID_RESPONSE
    assert "came twice" in error.message
    assert [r.url.params["offset"] for r in seen if r.url.path.endswith("employees")] == [
        "0",
        "100",
        "0",
        "100",
    ]


def test_token_from_the_authorization_header_is_used_next() -> None:
    seen: list[httpx.Request] = []
    ids = list(range(250))

    def rotating(request: httpx.Request) -> httpx.Response:
        response = employees_page(request, ids)
        response.headers["authorization"] = f"Bearer papi-rotated-{request.url.params['offset']}"
        return response

    with client_for(fake_personio(rotating, seen=seen)) as client:
        result = client.fetch_employees(required=())
    used = [r.headers["authorization"] for r in seen if r.url.path.endswith("employees")]
    assert used == ["Bearer papi-token-1", "Bearer papi-rotated-0", "Bearer papi-rotated-100"]
    assert len(result.employees) == 250
    assert all(r.headers["x-personio-app-id"] == "PERSONIO_SYNC" for r in seen)


def test_connection_refused_is_personio_unavailable_naming_the_host() -> None:
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(SyncError) as caught:
        fetch_employees(
            base_url=f"http://127.0.0.1:{port}",
            client_id="papi-id",
            client_secret=SECRET,
            max_attempts=2,
            backoff_base=0.001,
            rate_limit=None,
        )
    assert caught.value.code == PERSONIO_UNAVAILABLE
    assert f"127.0.0.1:{port}" in caught.value.message
    assert SECRET not in caught.value.message


def test_progress_reports_sign_in_and_pages() -> None:
    seen: list[FetchProgress] = []
    ids = list(range(250))
    with client_for(fake_personio(lambda r: employees_page(r, ids)), on_progress=seen.append) as client:
        client.fetch_employees(required=())
    assert [p.phase for p in seen] == ["auth", "page", "page", "page"]
    assert seen[-1] == FetchProgress(
        phase="page", fetched=250, total=250, message="Fetched 250 of 250 employees"
    )


def test_employees_answering_401_after_a_fresh_sign_in_is_auth_failed() -> None:
    seen: list[httpx.Request] = []
    error = fetch_error(fake_personio(answer(401), seen=seen))
    assert error.code == AUTH_FAILED
    assert [r.url.path for r in seen] == ["/v1/auth", "/v1/company/employees"] * 2


INVALID_AUTHORIZATION = {
    "success": False,
    "error": {"code": 403, "message": "Provided authorization is not valid"},
}
NO_READ_ACCESS = {
    "success": False,
    "error": {"code": 0, "message": "personio.core.api.exceptions.api.forbidden.http.exception"},
}


def test_employees_answering_403_invalid_authorization_signs_in_again_once_then_is_auth_failed() -> None:
    seen: list[httpx.Request] = []
    error = fetch_error(fake_personio(answer(403, INVALID_AUTHORIZATION), seen=seen))
    assert error.code == AUTH_FAILED
    assert "(403)" in error.message and "Settings > Integrations > API credentials" in error.hint
    assert [r.url.path for r in seen] == ["/v1/auth", "/v1/company/employees"] * 2


def test_403_without_read_access_is_forbidden_at_once_without_signing_in_again() -> None:
    seen: list[httpx.Request] = []
    error = fetch_error(fake_personio(answer(403, NO_READ_ACCESS), seen=seen))
    assert error.code == FORBIDDEN
    assert [r.url.path for r in seen] == ["/v1/auth", "/v1/company/employees"]


def test_clients_of_the_same_credentials_share_one_pacer() -> None:
    def pacer_of(base_url: str, client_id: str) -> Pacer | None:
        client = PersonioClient(
            base_url=base_url,
            client_id=client_id,
            client_secret=SECRET,
            rate_limit=RateLimit(),
            allowed_origins=("https://api.personio.de", "http://127.0.0.1:*"),
        )
        pacer: Pacer | None = client._pacer
        return pacer

    first = pacer_of("https://api.personio.de", "papi-a")
    assert first is pacer_of("https://api.personio.de/", "papi-a")
    assert first is not pacer_of("https://api.personio.de", "papi-b")
    assert first is not pacer_of("http://127.0.0.1:8765", "papi-a")


# -- whole fetches against the sandbox over loopback HTTP -----------------------------------------


def sandbox_client(sandbox: SandboxProcess, **kwargs: Any) -> PersonioClient:
    """A client as the runner builds one, with short waits so retries do not slow the tests."""
    options: dict[str, Any] = {"backoff_base": 0.01, "allowed_origins": (sandbox.base_url,)}
    options.update(kwargs)
    return PersonioClient(
        base_url=sandbox.base_url, client_id=sandbox.client_id, client_secret=sandbox.client_secret, **options
    )


def fetch_from(sandbox: SandboxProcess, **kwargs: Any) -> FetchResult:
    with sandbox_client(sandbox, **kwargs) as client:
        return client.fetch_employees()


def fetch_error_from(sandbox: SandboxProcess, **kwargs: Any) -> SyncError:
    with pytest.raises(SyncError) as caught:
        fetch_from(sandbox, **kwargs)
    return caught.value


def expected_employee(flat: dict[str, Any]) -> Employee:
    """What the client must make of a sandbox employee, written from the admin API's flat record."""

    def unit(value: dict[str, Any] | None) -> OrgUnit | None:
        return OrgUnit(id=str(value["id"]), name=value["name"]) if value else None

    email = (flat["email"] or "").strip().lower()
    return Employee(
        personio_id=str(flat["id"]),
        first_name=flat["first_name"].strip(),
        last_name=flat["last_name"].strip(),
        email=email or None,
        status=flat["status"],
        position=flat["position"].strip() or None,
        supervisor_id=str(flat["supervisor_id"]) if flat["supervisor_id"] is not None else None,
        department=unit(flat["department"]),
        team=unit(flat["team"]),
        office=unit(flat["office"]),
        employment_type=flat["employment_type"],
    )


@pytest.mark.parametrize("size", [250, 1001])
def test_offset_advances_by_limit_until_total(sandbox_factory: SandboxFactory, size: int) -> None:
    sandbox = sandbox_factory(employees=size)
    result = fetch_from(sandbox)
    ids = [employee.personio_id for employee in result.employees]
    assert len(ids) == len(set(ids)) == size
    assert set(ids) == {str(flat["id"]) for flat in sandbox.employees()}
    pages = -(-size // 100)
    stats = sandbox.stats()
    assert (result.pages, stats["employee_requests"]) == (pages, pages)
    assert (result.auth_calls, stats["auth_calls"]) == (1, 1)  # one token for every page
    assert result.requests == stats["requests"] == pages + 1
    assert stats["rate_limited"] == 0
    assert result.skipped == []


def test_the_same_listing_has_the_same_digest_and_a_change_on_any_page_another(
    sandbox_factory: SandboxFactory,
) -> None:
    sandbox = sandbox_factory(employees=250)
    first, second = fetch_from(sandbox), fetch_from(sandbox)
    assert len(first.digest) == 64 and first.digest == second.digest
    on_the_last_page = first.employees[-1].personio_id
    sandbox.update(int(on_the_last_page), first_name="Changed")
    assert fetch_from(sandbox).digest != first.digest


def test_every_employee_is_parsed_as_personio_holds_it(sandbox: SandboxProcess) -> None:
    result = fetch_from(sandbox)
    expected = sorted((expected_employee(flat) for flat in sandbox.employees()), key=lambda e: e.personio_id)
    assert sorted(result.employees, key=lambda e: e.personio_id) == expected


def test_planted_messy_values_are_normalized(sandbox: SandboxProcess) -> None:
    employee_id = sandbox.employees()[3]["id"]
    sandbox.update(employee_id, email="  Grace.Hopper@Example.COM ", first_name=" Grace ", position="")
    result = fetch_from(sandbox)
    grace = next(e for e in result.employees if e.personio_id == str(employee_id))
    assert (grace.email, grace.first_name, grace.position) == ("grace.hopper@example.com", "Grace", None)


def test_only_the_sync_attributes_are_asked_for(sandbox: SandboxProcess) -> None:
    # The sandbox returns every readable attribute when none are named, so this proves the projection.
    assert fetch_from(sandbox).present_attributes == frozenset({"id", *SYNC_ATTRIBUTES})
    with sandbox_client(sandbox) as client:
        narrow = client.fetch_employees(attributes=("first_name",), required=("email",))
    assert narrow.present_attributes == frozenset({"id", "first_name", "email"})


def test_token_is_reused_across_fetches_of_one_client(sandbox: SandboxProcess) -> None:
    with sandbox_client(sandbox) as client:
        first = client.fetch_employees()
        second = client.fetch_employees()
    assert (first.auth_calls, second.auth_calls) == (1, 0)
    assert sandbox.stats()["auth_calls"] == 1


def test_a_revoked_token_signs_in_again_once(sandbox: SandboxProcess) -> None:
    with sandbox_client(sandbox) as client:
        client.fetch_employees()
        sandbox.add_credential(sandbox.client_id, sandbox.client_secret)  # replacing it revokes its token
        sandbox.reset_stats()
        result = client.fetch_employees()
    assert len(result.employees) == 60
    assert result.auth_calls == 1
    assert sandbox.stats() == {"requests": 3, "auth_calls": 1, "employee_requests": 2, "rate_limited": 0}


def test_a_revoked_token_and_rejected_sign_in_is_auth_failed(sandbox: SandboxProcess) -> None:
    with sandbox_client(sandbox) as client:
        client.fetch_employees()
        sandbox.add_credential(sandbox.client_id, sandbox.client_secret)
        sandbox.set_faults(wrong_credentials=True)
        with pytest.raises(SyncError) as caught:
            client.fetch_employees()
    assert caught.value.code == AUTH_FAILED


def test_a_token_the_sandbox_never_issued_gets_403_and_signs_in_again_once(
    sandbox_factory: SandboxFactory,
) -> None:
    sandbox = sandbox_factory(employees=5)
    with sandbox_client(sandbox) as client:
        client.fetch_employees()
        old_token = sandbox.auth_token()
        sandbox.restart()  # a new process: the client's token is one it never issued
        refused = sandbox.personio_get("/v1/company/employees", token=old_token)
        assert refused.status_code == 403
        assert refused.json()["error"]["message"] == "Provided authorization is not valid"
        sandbox.reset_stats()
        result = client.fetch_employees()
    assert len(result.employees) == 5
    assert result.auth_calls == 1
    assert sandbox.stats() == {"requests": 3, "auth_calls": 1, "employee_requests": 2, "rate_limited": 0}


def test_a_never_issued_token_and_rejected_sign_in_is_auth_failed(sandbox_factory: SandboxFactory) -> None:
    sandbox = sandbox_factory(employees=5)
    with sandbox_client(sandbox) as client:
        client.fetch_employees()
        sandbox.restart()
        sandbox.set_faults(wrong_credentials=True)
        with pytest.raises(SyncError) as caught:
            client.fetch_employees()
    assert caught.value.code == AUTH_FAILED
    assert sandbox.stats()["employee_requests"] == 1 and sandbox.stats()["auth_calls"] == 1


def test_credentials_without_read_access_to_employees_are_forbidden_naming_where_to_grant_it(
    sandbox: SandboxProcess, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    blind = sandbox.add_credential(employees_access=False)
    with pytest.raises(SyncError) as caught:
        fetch_employees(
            base_url=sandbox.base_url,
            client_id=blind["client_id"],
            client_secret=blind["client_secret"],
            backoff_base=0.01,
        )
    error = caught.value
    assert error.code == FORBIDDEN
    assert "may not read employees (403)" in error.message
    assert "Settings > Integrations > API credentials" in error.hint and "read access" in error.hint
    # signing in again would not help, so the client does not try
    assert sandbox.stats() == {"requests": 2, "auth_calls": 1, "employee_requests": 1, "rate_limited": 0}
    token = sandbox.auth_token(blind["client_id"], blind["client_secret"])
    for text in (error.message, error.hint, repr(error), caplog.text):
        assert blind["client_secret"] not in text and token not in text


def test_progress_is_reported_for_sign_in_and_each_page(sandbox_factory: SandboxFactory) -> None:
    sandbox = sandbox_factory(employees=250)
    events: list[FetchProgress] = []
    fetch_from(sandbox, on_progress=events.append)
    assert [(e.phase, e.fetched, e.total) for e in events] == [
        ("auth", 0, None),
        ("page", 100, 250),
        ("page", 200, 250),
        ("page", 250, 250),
    ]
    assert events[1].message == "Fetched 100 of 250 employees"


SURVIVABLE_FAULTS: list[tuple[dict[str, Any], int]] = [  # (fault, extra requests it costs)
    ({"rate_limit_storm": 3}, 3),
    ({"server_error": {"status": 500, "count": 2}}, 2),
    ({"server_error": {"status": 502, "count": 1}}, 1),
    ({"server_error": {"status": 503, "count": 4}}, 4),  # the 5th and last try gets through
    ({"server_error": {"status": 504, "count": 1}}, 1),
    ({"hang": {"seconds": 2, "count": 1}}, 1),
    ({"malformed_json": 1}, 1),
    ({"truncated_page": 1}, 1),
    ({"total_drift": 1}, 1),  # the whole list is read once more
    ({"total_drift": {"delta": -7, "count": 1}}, 1),
    ({"auth_server_error": 2}, 2),
    ({"latency_ms": 50}, 0),
]


@pytest.mark.parametrize(
    ("fault", "extra"), SURVIVABLE_FAULTS, ids=[json.dumps(fault) for fault, _ in SURVIVABLE_FAULTS]
)
def test_transient_fault_is_retried_and_the_fetch_succeeds(
    sandbox: SandboxProcess, fault: dict[str, Any], extra: int
) -> None:
    sandbox.set_faults(**fault)
    result = fetch_from(sandbox, timeout=httpx.Timeout(0.5))
    assert len(result.employees) == 60
    stats = sandbox.stats()
    assert result.requests == stats["requests"] == 2 + extra
    assert stats["rate_limited"] == fault.get("rate_limit_storm", 0)


FATAL_FAULTS: list[tuple[dict[str, Any], str, int]] = [  # (fault, error code, employee requests sent)
    ({"rate_limit_storm": -1}, RATE_LIMITED, 3),
    ({"server_error": {"status": 503, "count": -1}}, PERSONIO_UNAVAILABLE, 3),
    ({"server_error": {"status": 500, "count": 3}}, PERSONIO_UNAVAILABLE, 3),  # as many as the tries
    ({"hang": {"seconds": 2, "count": -1}}, PERSONIO_UNAVAILABLE, 3),
    ({"malformed_json": -1}, INVALID_RESPONSE, 2),  # refetched once
    ({"malformed_json": 2}, INVALID_RESPONSE, 2),
    ({"truncated_page": -1}, INVALID_RESPONSE, 2),
    ({"total_drift": -1}, INVALID_RESPONSE, 2),  # the whole (one-page) list read twice
    ({"auth_server_error": -1}, PERSONIO_UNAVAILABLE, 0),
    ({"wrong_credentials": True}, AUTH_FAILED, 0),
]


@pytest.mark.parametrize(
    ("fault", "code", "employee_requests"),
    FATAL_FAULTS,
    ids=[json.dumps(fault) for fault, _, _ in FATAL_FAULTS],
)
def test_lasting_fault_fails_with_a_typed_error(
    sandbox: SandboxProcess,
    caplog: pytest.LogCaptureFixture,
    fault: dict[str, Any],
    code: str,
    employee_requests: int,
) -> None:
    caplog.set_level(logging.DEBUG)
    sandbox.set_faults(**fault)
    error = fetch_error_from(sandbox, max_attempts=3, timeout=httpx.Timeout(0.3))
    assert error.code == code
    assert error.message and error.hint
    assert sandbox.stats()["employee_requests"] == employee_requests
    if code == PERSONIO_UNAVAILABLE:
        assert f"127.0.0.1:{sandbox.port}" in error.message
    assert_no_secret(sandbox, [error.message, error.hint, str(error), repr(error), caplog.text])


def assert_no_secret(sandbox: SandboxProcess, texts: list[str], *, tokens: tuple[str, ...] = ()) -> None:
    sandbox.clear_faults()
    current = sandbox.auth_token()  # Personio's tokens are stable: the same one the client held
    for text in texts:
        assert sandbox.client_secret not in text
        for token in (current, *tokens):
            assert token not in text


def test_wrong_secret_is_auth_failed_with_how_to_make_new_credentials(
    sandbox: SandboxProcess, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "papi-wrong-secret-1234"
    with pytest.raises(SyncError) as caught:
        fetch_employees(base_url=sandbox.base_url, client_id=sandbox.client_id, client_secret=wrong)
    error = caught.value
    assert error.code == AUTH_FAILED
    assert error.message == "Personio rejected the Client ID / Client Secret (401)."
    assert "Settings > Integrations > API credentials" in error.hint
    assert sandbox.stats()["employee_requests"] == 0
    assert wrong not in caplog.text + error.message + error.hint


def test_no_secret_or_token_in_logs_of_a_bumpy_fetch(
    sandbox: SandboxProcess, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # httpx and httpcore included
    sandbox.set_faults(rate_limit_storm=1, server_error={"status": 502, "count": 1}, malformed_json=1)
    with sandbox_client(sandbox) as client:
        client.fetch_employees()
        first_token = sandbox.auth_token()
        sandbox.add_credential(sandbox.client_id, sandbox.client_secret)  # forces a 401 and a new sign-in
        client.fetch_employees()
        state = repr(client) + repr(vars(client))
    retries = [r for r in caplog.records if r.name == "sync.personio" and r.levelno == logging.WARNING]
    assert len(retries) >= 4
    assert all("?" not in r.getMessage() for r in retries)  # paths only, never query strings
    assert_no_secret(sandbox, [caplog.text, state], tokens=(first_token,))


def test_withheld_required_attribute_is_missing_attribute_naming_it(sandbox: SandboxProcess) -> None:
    limited = sandbox.add_credential(withheld=["employment_type"])
    with pytest.raises(SyncError) as caught:
        fetch_employees(
            base_url=sandbox.base_url,
            client_id=limited["client_id"],
            client_secret=limited["client_secret"],
            required=(*REQUIRED_ATTRIBUTES, "employment_type"),
            backoff_base=0.01,
        )
    error = caught.value
    assert error.code == MISSING_ATTRIBUTE
    assert (
        error.message == "Personio does not return the attribute 'Employment type' to these API credentials."
    )
    assert "Readable employee attributes: enable 'Employment type'" in error.hint
    assert limited["client_secret"] not in error.message + error.hint


def test_withheld_attribute_that_is_not_required_is_just_absent(sandbox: SandboxProcess) -> None:
    sandbox.set_faults(withheld_attributes=["team"])
    result = fetch_from(sandbox)
    assert len(result.employees) == 60
    assert "team" not in result.present_attributes
    assert all(employee.team is None for employee in result.employees)


def test_withheld_email_fails_the_default_requirements(sandbox: SandboxProcess) -> None:
    sandbox.set_faults(withheld_attributes=["email"])
    error = fetch_error_from(sandbox)
    assert error.code == MISSING_ATTRIBUTE
    assert "'Email'" in error.message


def test_empty_result_is_an_empty_list_not_an_error(sandbox: SandboxProcess) -> None:
    sandbox.set_faults(empty_result=True)
    result = fetch_from(sandbox)
    assert (result.employees, result.skipped, result.pages) == ([], [], 1)


def test_pacing_keeps_a_rate_limited_sandbox_from_answering_429(sandbox_factory: SandboxFactory) -> None:
    sandbox = sandbox_factory(employees=1001, rate_limit=True)
    for _ in range(3):  # 36 requests back to back: well over Personio's 15 a second unpaced
        result = fetch_from(sandbox, rate_limit=RateLimit(per_minute=290, per_second=14))
        assert len(result.employees) == 1001
    stats = sandbox.stats()
    assert stats["requests"] == 36
    assert stats["rate_limited"] == 0


def test_without_pacing_the_same_sandbox_does_answer_429_and_retries_absorb_it(
    sandbox_factory: SandboxFactory,
) -> None:
    # The control for the test above: the sandbox's limits are live, so pacing is what kept it at zero.
    sandbox = sandbox_factory(employees=1001, rate_limit=True)
    for _ in range(5):
        result = fetch_from(sandbox, rate_limit=None, max_attempts=10)
        assert len(result.employees) == 1001
        if sandbox.stats()["rate_limited"]:
            break
    assert sandbox.stats()["rate_limited"] > 0


# -- deadlines, size caps and the employee ceiling ------------------------------------------------


def test_a_dripping_personio_fails_by_the_run_deadline_as_too_slow(sandbox: SandboxProcess) -> None:
    sandbox.set_faults(drip={"seconds": 1, "forever": True, "count": -1})  # one byte a second, forever
    error = fetch_error_from(sandbox, run_deadline=3)
    assert error.code == PERSONIO_UNAVAILABLE
    assert error.message.startswith("Personio answered too slowly: ")
    assert "at most 3 s" in error.message
    assert "PERSONIO_RUN_DEADLINE_SECONDS" in error.hint
    assert sandbox.stats()["employee_requests"] == 1  # one request, never finished, never retried


def test_the_request_deadline_covers_the_whole_response_not_each_read(sandbox: SandboxProcess) -> None:
    # Every byte comes well within the 30 s read timeout, but the whole page would take minutes:
    # the request is given up at its deadline and tried again like a timeout.
    sandbox.set_faults(drip={"seconds": 0.5, "forever": True, "count": 1})
    result = fetch_from(sandbox, request_deadline=2)
    assert len(result.employees) == 60
    assert result.requests == sandbox.stats()["requests"] == 3  # sign-in, the dripping page, the retry


def test_a_lasting_hang_fails_by_the_run_deadline(sandbox: SandboxProcess) -> None:
    sandbox.set_faults(hang={"seconds": 10, "count": -1})
    error = fetch_error_from(sandbox, run_deadline=2)
    assert error.code == PERSONIO_UNAVAILABLE
    assert error.message.startswith("Personio answered too slowly: no employees came in ")


def test_back_off_that_would_pass_the_run_deadline_fails_at_once(sandbox: SandboxProcess) -> None:
    sandbox.set_faults(server_error={"status": 503, "count": -1})
    error = fetch_error_from(sandbox, run_deadline=5, backoff_base=30)  # the first wait: 15-30 s
    assert error.code == PERSONIO_UNAVAILABLE
    assert error.message.startswith("Personio answered too slowly: ")
    assert sandbox.stats()["employee_requests"] == 1


def test_an_oversized_page_is_invalid_response(sandbox: SandboxProcess) -> None:
    sandbox.set_faults(oversized_page={"megabytes": 2, "count": -1})
    error = fetch_error_from(sandbox, max_page_bytes=1_000_000)
    assert error.code == INVALID_RESPONSE
    assert error.message.startswith("Personio sent a page of employees larger than 1 MB")
    assert error.hint
    assert sandbox.stats()["employee_requests"] == 1  # not retried: a second try would be as big


def test_a_body_without_a_length_is_dropped_at_the_cap_without_reading_on() -> None:
    pulled: list[int] = []

    class EndlessBody(httpx.SyncByteStream):
        def __iter__(self) -> Iterator[bytes]:
            while True:
                pulled.append(64_000)
                yield b" " * 64_000

    def endless(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=EndlessBody())

    error = fetch_error(fake_personio(endless), max_page_bytes=1_000_000)
    assert error.code == INVALID_RESPONSE and "larger than 1 MB" in error.message
    assert sum(pulled) <= 1_000_000 + 64_000  # at most one chunk beyond the cap


def test_an_absurd_total_fails_before_a_second_page(sandbox: SandboxProcess) -> None:
    sandbox.set_faults(absurd_total={"total": 10**12, "count": -1})
    error = fetch_error_from(sandbox)
    assert error.code == INVALID_RESPONSE
    assert error.message.startswith("Personio reported 1,000,000,000,000 employees, more than the 1,000,000")
    assert error.hint
    assert sandbox.stats()["employee_requests"] == 1


def test_a_total_over_ten_times_the_last_run_fails_naming_it(sandbox: SandboxProcess) -> None:
    sandbox.set_faults(absurd_total={"total": 5000, "count": -1})
    error = fetch_error_from(sandbox, known_employees=60)
    assert error.code == INVALID_RESPONSE
    assert error.message.startswith(
        "Personio reported 5,000 employees, more than ten times the 60 employees of the last successful run"
    )
    assert sandbox.stats()["employee_requests"] == 1


@pytest.mark.parametrize(
    ("known", "limit"),
    [(None, 1_000_000), (0, 1000), (60, 1000), (250, 2500), (99_999, 999_990), (500_000, 1_000_000)],
)
def test_employee_limit(known: int | None, limit: int) -> None:
    assert employee_limit(known) == limit


def test_the_derived_run_deadline_grows_with_the_company_and_stops_at_30_minutes() -> None:
    paced = (RateLimit(per_minute=290, per_second=14), RateLimit(per_minute=1800, per_second=1800))
    small, large = derived_run_deadline(300, paced), derived_run_deadline(20_000, paced)
    # sign-in and 3 pages at 290/min, 2 s each to answer, plus the margin
    assert small == pytest.approx(4 * (60 / 290 + 2) + 120)
    assert small < large < 1800
    assert derived_run_deadline(1_000_000, paced) == 1800
    assert derived_run_deadline(300, (None, None)) == pytest.approx(4 * 2 + 120)


def budget_on(clock: FakeClock, **kwargs: Any) -> FetchBudget:
    options: dict[str, Any] = {"run_deadline": None, "rate_limits": (None,), "employees": 0}
    options.update(kwargs)
    return FetchBudget(clock=clock, sleep=clock.sleep, **options)


def test_a_wait_that_would_pass_the_fetch_deadline_fails_at_once_without_waiting() -> None:
    clock = FakeClock()
    budget = budget_on(clock, run_deadline=10)
    budget.pause(4)
    with pytest.raises(SyncError) as caught:
        budget.pause(7)  # 4 + 7 > 10
    assert clock.slept == [4]
    assert caught.value.code == PERSONIO_UNAVAILABLE
    assert caught.value.message == (
        "Personio answered too slowly: no employees came in 4 s, and the fetch may take at most 10 s."
    )
    clock.now += 6
    with pytest.raises(SyncError):
        budget.check()


def test_the_derived_deadline_follows_the_total_but_a_set_one_stays() -> None:
    clock = FakeClock()
    derived, fixed = budget_on(clock), budget_on(clock, run_deadline=60)
    for budget in (derived, fixed):
        budget.resize(50_000)
    assert derived.seconds == derived_run_deadline(50_000, (None,)) > 1000
    assert fixed.seconds == 60


def test_a_set_stop_is_seen_by_every_check_and_wait() -> None:
    clock, stop = FakeClock(), threading.Event()
    budget = budget_on(clock, run_deadline=10, stop=stop)
    budget.check()
    stop.set()
    for step in (budget.check, budget.check_stop, lambda: budget.pause(1)):
        with pytest.raises(FetchAbandoned):
            step()
    assert clock.slept == []


# -- the host ceiling: every credential's requests to one host together ---------------------------


def test_the_host_ceiling_paces_two_credentials_together() -> None:
    clock = FakeClock()
    host = Pacer(RateLimit(per_minute=4, per_second=4), clock=clock, sleep=clock.sleep)
    credentials = {
        name: Pacer(RateLimit(per_minute=100, per_second=100), clock=clock, sleep=clock.sleep)
        for name in ("a", "b")
    }
    sent: list[tuple[str, float]] = []
    for name in ["a", "b"] * 3:
        credentials[name].acquire(also=[host])
        sent.append((name, clock.now))
    # four requests fit the host's minute, whoever sends them; the fifth and sixth wait for it
    assert [name for name, _ in sent] == ["a", "b"] * 3
    assert [t for _, t in sent] == [1000.0] * 4 + [1060.0] * 2
    assert credentials["a"].sent_in_last_minute() == credentials["b"].sent_in_last_minute() == 1
    assert host.sent_in_last_minute() == 2  # the first four have left the minute window


def test_the_host_ceiling_is_shared_by_every_client_of_one_address() -> None:
    def host_pacer_of(base_url: str, client_id: str, **kwargs: Any) -> Pacer | None:
        client = PersonioClient(
            base_url=base_url,
            client_id=client_id,
            client_secret=SECRET,
            allowed_origins=("https://api.personio.de", "http://127.0.0.1:*"),
            **kwargs,
        )
        pacer: Pacer | None = client._host_pacer
        return pacer

    first = host_pacer_of("https://api.personio.de", "papi-a")
    assert first is not None and first.limit == RateLimit(per_minute=1800, per_second=1800)
    assert first is host_pacer_of("https://api.personio.de", "papi-b")
    assert first is not host_pacer_of("http://127.0.0.1:8765", "papi-a")
    assert host_pacer_of("https://api.personio.de", "papi-a", host_rate_limit=None) is None


def test_fetches_of_two_credentials_are_counted_against_one_host_ceiling(sandbox: SandboxProcess) -> None:
    other = sandbox.add_credential()
    ceiling = RateLimit(per_minute=1799, per_second=1799)  # a ceiling no other test uses
    first = fetch_from(sandbox, host_rate_limit=ceiling)
    second = fetch_employees(
        base_url=sandbox.base_url,
        client_id=other["client_id"],
        client_secret=other["client_secret"],
        host_rate_limit=ceiling,
    )
    host = shared_host_pacer(sandbox.base_url, ceiling)
    assert host.sent_in_last_minute() == first.requests + second.requests == sandbox.stats()["requests"]


def test_the_host_ceiling_holds_across_threads() -> None:
    host = Pacer(RateLimit(per_minute=100, per_second=100))
    threads = [threading.Thread(target=lambda: [host.acquire() for _ in range(25)]) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert host.sent_in_last_minute() == 100

    asked: list[float] = []

    def refuse(seconds: float) -> None:
        asked.append(seconds)
        raise TimeoutError

    with pytest.raises(TimeoutError):
        host.acquire(sleep=refuse)
    assert asked and asked[0] > 50  # the 101st must wait for the minute window
    assert host.sent_in_last_minute() == 100


# -- a cooperative stop ---------------------------------------------------------------------------


def test_a_stop_set_before_the_fetch_abandons_it_before_any_request(sandbox: SandboxProcess) -> None:
    stop = threading.Event()
    stop.set()
    with sandbox_client(sandbox) as client, pytest.raises(FetchAbandoned):
        client.fetch_employees(stop=stop)
    assert sandbox.stats()["requests"] == 0


def test_a_stop_during_back_off_abandons_the_fetch_without_waiting_it_out(sandbox: SandboxProcess) -> None:
    sandbox.set_faults(server_error={"status": 503, "count": -1})
    stop = threading.Event()

    def stop_on_retry(event: FetchProgress) -> None:
        if event.phase == "retry":
            stop.set()

    # the back-off would be 30-60 s and the deadline far off: only the stop ends it early
    with (
        sandbox_client(sandbox, backoff_base=60, on_progress=stop_on_retry, run_deadline=1800) as client,
        pytest.raises(FetchAbandoned),
    ):
        client.fetch_employees(stop=stop)
    assert sandbox.stats()["employee_requests"] == 1


def test_a_stop_while_a_page_drips_abandons_the_fetch(sandbox: SandboxProcess) -> None:
    sandbox.set_faults(drip={"seconds": 0.2, "forever": True, "count": -1})
    stop = threading.Event()
    timer = threading.Timer(1.0, stop.set)
    timer.start()
    try:
        with sandbox_client(sandbox, run_deadline=1800) as client, pytest.raises(FetchAbandoned) as caught:
            client.fetch_employees(stop=stop)
    finally:
        timer.cancel()
    assert not isinstance(caught.value, SyncError)  # a caller tells it apart from a failure


def test_a_stop_while_personio_is_silent_hangs_up_instead_of_waiting_for_the_timeout(
    sandbox: SandboxProcess,
) -> None:
    # The page would come after 600 s and every timeout is longer: only hanging up the connection
    # ends the wait (without it this test would run into the test timeout).
    sandbox.set_faults(hang={"seconds": 600, "count": 1})
    stop = threading.Event()
    timer = threading.Timer(0.5, stop.set)
    timer.start()
    try:
        with (
            sandbox_client(
                sandbox, timeout=httpx.Timeout(900), request_deadline=900, run_deadline=1800
            ) as client,
            pytest.raises(FetchAbandoned),
        ):
            client.fetch_employees(stop=stop)
    finally:
        timer.cancel()
    assert sandbox.stats()["employee_requests"] == 1
