"""Personio's employees rate limit in the sandbox: sliding windows of 15 a second and 300 a minute."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx

from sandbox.ratelimit import SlidingWindowLimiter, Window
from tests.support.sandbox import SandboxFactory, SandboxProcess

EMPLOYEES = "/v1/company/employees"


def burst(sandbox: SandboxProcess, token: str, count: int) -> list[httpx.Response]:
    """`count` requests from 10 threads at once, as an impatient client would send them."""
    headers = {"Authorization": f"Bearer {token}"}

    def one(_: int) -> httpx.Response:
        return sandbox.http.get(f"{sandbox.base_url}{EMPLOYEES}", params={"limit": 1}, headers=headers)

    with ThreadPoolExecutor(max_workers=10) as pool:
        return list(pool.map(one, range(count)))


def test_a_burst_of_more_than_15_gets_429s(sandbox: SandboxProcess) -> None:
    responses = burst(sandbox, sandbox.auth_token(), 40)
    refused = [r for r in responses if r.status_code == 429]
    assert refused, "a burst of 40 must exceed 15 requests a second"
    assert {r.status_code for r in responses} == {200, 429}
    assert all(
        r.json() == {"success": False, "error": {"code": 429, "message": "Too Many Requests"}}
        for r in refused
    )
    assert all(int(r.headers["Retry-After"]) >= 1 for r in refused)
    assert "authorization" not in refused[0].headers
    assert sandbox.stats()["rate_limited"] == len(refused)


def test_no_rate_limit_lets_every_request_through(sandbox_factory: SandboxFactory) -> None:
    unlimited = sandbox_factory(employees=5, rate_limit=False)
    responses = burst(unlimited, unlimited.auth_token(), 60)
    assert {r.status_code for r in responses} == {200}


# The window arithmetic itself, with a hand-driven clock (no waiting, no wall-clock assertions).


def employees_limiter() -> SlidingWindowLimiter:
    return SlidingWindowLimiter((Window(1.0, 15), Window(60.0, 300)))


def test_the_16th_request_within_a_second_is_refused_until_the_first_leaves_the_window() -> None:
    limiter = employees_limiter()
    assert [limiter.admit("client", 10.0 + i * 0.01) for i in range(15)] == [None] * 15
    wait = limiter.admit("client", 10.5)
    assert wait is not None and 0.4 < wait <= 0.5
    assert limiter.admit("client", 11.0) is None  # the first request (at 10.0) has left the window


def test_300_a_minute_even_when_paced_under_15_a_second() -> None:
    limiter = employees_limiter()
    assert all(limiter.admit("client", i * 0.1) is None for i in range(300))  # 10 a second for 30 s
    assert limiter.admit("client", 30.0) is not None
    assert limiter.admit("client", 60.05) is None  # the oldest has left the minute


def test_limits_are_per_client() -> None:
    limiter = employees_limiter()
    for i in range(15):
        limiter.admit("first", i * 0.01)
    assert limiter.admit("first", 0.2) is not None
    assert limiter.admit("second", 0.2) is None


def test_auth_cool_down_locks_out_for_60_seconds() -> None:
    limiter = SlidingWindowLimiter((Window(60.0, 60),), cooldown=60.0)
    assert all(limiter.admit("client", i * 0.5) is None for i in range(60))  # 60 in 30 seconds
    assert limiter.admit("client", 30.0) == 60.0  # excess: a full minute's cool-down starts
    assert limiter.admit("client", 80.0) is not None  # still cooling down, though the window has room
    assert limiter.admit("client", 91.0) is None
