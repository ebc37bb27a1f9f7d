"""Faults switched on through the admin API: each misbehaves as described, then switches itself off."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.support.sandbox import SandboxError, SandboxProcess

EMPLOYEES = "/v1/company/employees"
ENVELOPE_429 = {"success": False, "error": {"code": 429, "message": "Too Many Requests"}}


@pytest.fixture
def token(sandbox: SandboxProcess) -> str:
    return sandbox.auth_token()


def get(sandbox: SandboxProcess, token: str, **params: object) -> httpx.Response:
    return sandbox.personio_get(EMPLOYEES, token=token, params=params)


def test_rate_limit_storm_answers_429_for_its_count(sandbox: SandboxProcess, token: str) -> None:
    sandbox.set_faults(rate_limit_storm=2)
    storm = [get(sandbox, token), get(sandbox, token)]
    assert [r.status_code for r in storm] == [429, 429]
    assert all(r.json() == ENVELOPE_429 and int(r.headers["Retry-After"]) >= 1 for r in storm)
    assert get(sandbox, token).status_code == 200
    assert sandbox.faults()["rate_limit_storm"] == 0
    assert sandbox.stats()["rate_limited"] == 2


def test_server_error_500_is_a_json_envelope(sandbox: SandboxProcess, token: str) -> None:
    sandbox.set_faults(server_error={"status": 500, "count": 1})
    failed = get(sandbox, token)
    assert failed.status_code == 500
    assert failed.json() == {"success": False, "error": {"code": 500, "message": "Something went wrong"}}
    assert get(sandbox, token).status_code == 200


@pytest.mark.parametrize("status", [502, 503, 504])
def test_gateway_errors_are_html_pages(sandbox: SandboxProcess, token: str, status: int) -> None:
    sandbox.set_faults(server_error={"status": status, "count": 2})
    failed = [get(sandbox, token), get(sandbox, token)]
    assert [r.status_code for r in failed] == [status, status]
    assert failed[0].headers["content-type"].startswith("text/html") and str(status) in failed[0].text
    assert get(sandbox, token).status_code == 200


def test_hang_makes_a_client_time_out_once(sandbox: SandboxProcess, token: str) -> None:
    sandbox.set_faults(hang={"seconds": 3, "count": 1})
    with pytest.raises(httpx.ReadTimeout):
        sandbox.personio_get(EMPLOYEES, token=token, timeout=0.5)
    assert sandbox.personio_get(EMPLOYEES, token=token, timeout=10).status_code == 200


def test_latency_applies_to_every_request_until_cleared(sandbox: SandboxProcess, token: str) -> None:
    sandbox.set_faults(latency_ms=2000)
    for _ in range(2):
        with pytest.raises(httpx.ReadTimeout):
            sandbox.personio_get(EMPLOYEES, token=token, timeout=0.3)
    with pytest.raises(httpx.ReadTimeout):
        sandbox.http.post(
            f"{sandbox.base_url}/v1/auth",
            json={"client_id": sandbox.client_id, "client_secret": sandbox.client_secret},
            timeout=0.3,
        )
    sandbox.clear_faults()
    assert sandbox.personio_get(EMPLOYEES, token=token, timeout=10).status_code == 200


def test_malformed_json_is_a_200_that_does_not_parse(sandbox: SandboxProcess, token: str) -> None:
    sandbox.set_faults(malformed_json=1)
    broken = get(sandbox, token)
    assert broken.status_code == 200 and broken.headers["content-type"] == "application/json"
    with pytest.raises(json.JSONDecodeError):
        json.loads(broken.content)
    assert get(sandbox, token).json()["success"] is True


def test_truncated_page_drops_the_connection_mid_body(sandbox: SandboxProcess, token: str) -> None:
    sandbox.set_faults(truncated_page=1)
    with pytest.raises(httpx.RemoteProtocolError):
        get(sandbox, token)
    assert get(sandbox, token).json()["success"] is True


def test_total_drift_up_promises_records_that_never_come(sandbox: SandboxProcess, token: str) -> None:
    sandbox.set_faults(total_drift=1)  # the default drift: +5
    drifted = get(sandbox, token, limit=100).json()
    assert drifted["metadata"]["total_elements"] == 65 and len(drifted["data"]) == 60
    normal = get(sandbox, token, limit=100).json()
    assert normal["metadata"]["total_elements"] == 60 and len(normal["data"]) == 60


def test_total_drift_down_loses_the_last_records(sandbox: SandboxProcess, token: str) -> None:
    sandbox.set_faults(total_drift={"delta": -3, "count": 2})
    first = get(sandbox, token, limit=50).json()
    second = get(sandbox, token, limit=50, offset=50).json()
    assert len(first["data"]) == 50 and len(second["data"]) == 7  # 60 counted, 57 served
    assert second["metadata"]["total_elements"] == 60
    assert len(get(sandbox, token, limit=50, offset=50).json()["data"]) == 10


def test_total_drift_changes_the_total_between_pages(sandbox: SandboxProcess, token: str) -> None:
    sandbox.set_faults(total_drift={"delta": 5, "count": 1})
    totals = [
        get(sandbox, token, limit=30, offset=offset).json()["metadata"]["total_elements"]
        for offset in (0, 30)
    ]
    assert totals == [65, 60]


def test_absurd_total_reports_that_total_and_serves_the_records_as_they_are(
    sandbox: SandboxProcess, token: str
) -> None:
    sandbox.set_faults(absurd_total={"total": 10**12, "count": 1})
    absurd = get(sandbox, token, limit=100).json()
    assert absurd["metadata"]["total_elements"] == 10**12 and len(absurd["data"]) == 60
    assert get(sandbox, token, limit=100).json()["metadata"]["total_elements"] == 60
    assert sandbox.faults()["absurd_total"] == {"total": 10**12, "count": 0}


def test_oversized_page_is_valid_json_of_that_many_megabytes(sandbox: SandboxProcess, token: str) -> None:
    normal_data = get(sandbox, token, limit=10).json()["data"]
    sandbox.set_faults(oversized_page={"megabytes": 2, "count": 1})
    big = get(sandbox, token, limit=10)
    assert len(big.content) == 2_000_000
    assert int(big.headers["content-length"]) == len(big.content)
    assert big.json()["data"] == normal_data and big.json()["success"] is True
    assert len(get(sandbox, token, limit=10).content) < 100_000


def small_page(sandbox: SandboxProcess, token: str) -> bytes:
    """One employee, one attribute: a body of a few hundred bytes, quick to drip."""
    params = {"limit": 1, "attributes[]": "first_name"}
    return get(sandbox, token, **params).content


def stream_page(sandbox: SandboxProcess, token: str) -> httpx.Response:
    request = sandbox.http.build_request(
        "GET",
        f"{sandbox.base_url}{EMPLOYEES}",
        params={"limit": 1, "attributes[]": "first_name"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    return sandbox.http.send(request, stream=True)


def test_drip_sends_the_body_one_byte_at_a_time_without_a_length(sandbox: SandboxProcess, token: str) -> None:
    expected = small_page(sandbox, token)
    sandbox.set_faults(drip={"seconds": 0.01, "count": 1})
    response = stream_page(sandbox, token)
    try:
        assert response.status_code == 200 and "content-length" not in response.headers
        chunks = list(response.iter_raw())
    finally:
        response.close()
    assert b"".join(chunks) == expected
    assert len(chunks) > 10  # byte by byte (loopback may still merge a few)
    assert small_page(sandbox, token) == expected  # the count is used up
    assert sandbox.faults()["drip"] == {"seconds": 0.01, "forever": False, "count": 0}


def test_drip_forever_keeps_sending_spaces_until_cleared(sandbox: SandboxProcess, token: str) -> None:
    expected = small_page(sandbox, token)
    sandbox.set_faults(drip={"seconds": 0.01, "forever": True, "count": -1})
    response = stream_page(sandbox, token)
    received = b""
    try:
        chunks = response.iter_raw()
        for chunk in chunks:
            received += chunk
            if len(received) >= len(expected) + 20:
                sandbox.clear_faults()  # the answer still dripping ends
                break
        for chunk in chunks:
            received += chunk
    finally:
        response.close()
    assert received.startswith(expected) and received[len(expected) :].strip() == b""
    assert json.loads(received)["success"] is True
    assert small_page(sandbox, token) == expected


def test_empty_result_until_cleared(sandbox: SandboxProcess, token: str) -> None:
    sandbox.set_faults(empty_result=True)
    for _ in range(2):
        body = get(sandbox, token).json()
        assert body["data"] == [] and body["metadata"] == {
            "total_elements": 0,
            "current_page": 0,
            "total_pages": 0,
        }
    sandbox.set_faults(empty_result=False)
    assert get(sandbox, token).json()["metadata"]["total_elements"] == 60


def test_withheld_attributes_for_every_credential(sandbox: SandboxProcess, token: str) -> None:
    sandbox.set_faults(withheld_attributes=["email", "supervisor"])
    items = get(sandbox, token).json()["data"]
    assert not {"email", "supervisor"} & {key for item in items for key in item["attributes"]}
    listed = sandbox.personio_get(f"{EMPLOYEES}/attributes", token=token).json()["data"]
    assert "email" not in {entry["key"] for entry in listed}
    sandbox.clear_faults()
    assert "email" in get(sandbox, token).json()["data"][0]["attributes"]


def test_wrong_credentials_until_cleared(sandbox: SandboxProcess) -> None:
    sandbox.set_faults(wrong_credentials=True)
    for _ in range(2):
        with pytest.raises(SandboxError, match="401"):
            sandbox.auth_token()
    sandbox.clear_faults()
    assert sandbox.auth_token().startswith("papi-")


def test_auth_server_error_for_its_count(sandbox: SandboxProcess) -> None:
    sandbox.set_faults(auth_server_error=1)
    with pytest.raises(SandboxError, match="500"):
        sandbox.auth_token()
    assert sandbox.auth_token().startswith("papi-")


def test_minus_one_lasts_until_cleared(sandbox: SandboxProcess, token: str) -> None:
    sandbox.set_faults(server_error={"status": 503, "count": -1})
    assert [get(sandbox, token).status_code for _ in range(5)] == [503] * 5
    assert sandbox.faults()["server_error"] == {"status": 503, "count": -1}
    sandbox.clear_faults()
    assert get(sandbox, token).status_code == 200


def test_counts_go_down_as_requests_are_hit(sandbox: SandboxProcess, token: str) -> None:
    sandbox.set_faults(malformed_json=3)
    get(sandbox, token)
    assert sandbox.faults()["malformed_json"] == 2


def test_faults_merge_and_auth_is_not_hit_by_employee_faults(sandbox: SandboxProcess) -> None:
    sandbox.set_faults(rate_limit_storm=1)
    sandbox.set_faults(server_error=1)  # a bare count means status 500
    faults = sandbox.faults()
    assert faults["rate_limit_storm"] == 1 and faults["server_error"] == {"status": 500, "count": 1}
    token = sandbox.auth_token()  # auth is not an employees request
    assert [get(sandbox, token).status_code for _ in range(3)] == [429, 500, 200]


# (fault, the status each request gets): `after` lets that many matching requests pass first.
DELAYED_FAULTS: list[tuple[dict[str, object], list[int]]] = [
    ({"server_error": {"status": 503, "count": 2, "after": 2}}, [200, 200, 503, 503, 200]),
    ({"rate_limit_storm": {"count": 1, "after": 1}}, [200, 429, 200]),
    ({"rate_limit_storm": {"count": 1}}, [429, 200]),  # the object form without `after`
]


@pytest.mark.parametrize(
    ("fault", "statuses"), DELAYED_FAULTS, ids=[json.dumps(fault) for fault, _ in DELAYED_FAULTS]
)
def test_after_lets_matching_requests_pass_before_the_fault_starts(
    sandbox: SandboxProcess, token: str, fault: dict[str, object], statuses: list[int]
) -> None:
    sandbox.set_faults(**fault)
    assert [get(sandbox, token).status_code for _ in statuses] == statuses


def test_server_error_after_2_until_cleared_hits_page_three_onwards(
    sandbox: SandboxProcess, token: str
) -> None:
    sandbox.set_faults(server_error={"status": 503, "count": -1, "after": 2})
    assert sandbox.faults()["server_error"] == {"status": 503, "count": -1, "after": 2}
    pages = [get(sandbox, token, limit=20, offset=offset) for offset in (0, 20, 40)]
    assert [page.status_code for page in pages] == [200, 200, 503]
    assert sandbox.faults()["server_error"] == {"status": 503, "count": -1}  # `after` used up
    assert [get(sandbox, token).status_code for _ in range(3)] == [503] * 3
    sandbox.clear_faults()
    assert get(sandbox, token).status_code == 200


def test_malformed_json_after_1(sandbox: SandboxProcess, token: str) -> None:
    sandbox.set_faults(malformed_json={"count": 1, "after": 1})
    assert sandbox.faults()["malformed_json"] == {"count": 1, "after": 1}
    assert get(sandbox, token).json()["success"] is True
    with pytest.raises(json.JSONDecodeError):
        json.loads(get(sandbox, token).content)
    assert get(sandbox, token).json()["success"] is True
    assert sandbox.faults()["malformed_json"] == 0  # a used-up fault reads as a bare count again


def test_truncated_page_after_1_cuts_the_second_page(sandbox: SandboxProcess, token: str) -> None:
    sandbox.set_faults(truncated_page={"count": -1, "after": 1})
    assert len(get(sandbox, token, limit=30).json()["data"]) == 30
    for _ in range(2):
        with pytest.raises(httpx.RemoteProtocolError):
            get(sandbox, token, limit=30, offset=30)


def test_total_drift_after_1_changes_the_total_from_page_two(sandbox: SandboxProcess, token: str) -> None:
    sandbox.set_faults(total_drift={"delta": 5, "count": 1, "after": 1})
    totals = [
        get(sandbox, token, limit=20, offset=offset).json()["metadata"]["total_elements"]
        for offset in (0, 20, 40)
    ]
    assert totals == [60, 65, 60]


def test_hang_after_1_lets_the_first_request_through(sandbox: SandboxProcess, token: str) -> None:
    sandbox.set_faults(hang={"seconds": 2, "count": 1, "after": 1})
    assert sandbox.personio_get(EMPLOYEES, token=token, timeout=1).status_code == 200
    with pytest.raises(httpx.TimeoutException):
        sandbox.personio_get(EMPLOYEES, token=token, timeout=0.3)
    assert sandbox.personio_get(EMPLOYEES, token=token, timeout=10).status_code == 200


def test_auth_server_error_after_1(sandbox: SandboxProcess) -> None:
    sandbox.set_faults(auth_server_error={"count": 1, "after": 1})
    assert sandbox.auth_token().startswith("papi-")
    with pytest.raises(SandboxError, match="500"):
        sandbox.auth_token()
    assert sandbox.auth_token().startswith("papi-")


def test_body_faults_wait_only_for_requests_that_reach_them(sandbox: SandboxProcess, token: str) -> None:
    # A 503 never reaches the body faults, so it does not use up malformed_json's `after`.
    sandbox.set_faults(server_error={"status": 503, "count": 1}, malformed_json={"count": 1, "after": 1})
    assert get(sandbox, token).status_code == 503
    assert get(sandbox, token).json()["success"] is True
    with pytest.raises(json.JSONDecodeError):
        json.loads(get(sandbox, token).content)


@pytest.mark.parametrize(
    "faults",
    [
        {"no_such_fault": 1},
        {"rate_limit_storm": "lots"},
        {"server_error": {"status": 404, "count": 1}},
        {"hang": {"seconds": -1, "count": 1}},
        {"latency_ms": -5},
        {"empty_result": "yes"},
        {"total_drift": {"delta": 0, "count": 1}},
        {"server_error": {"status": 503, "count": -1, "after": -1}},
        {"hang": {"seconds": 1, "count": 1, "after": "later"}},
        {"truncated_page": {"count": 1, "after": True}},
        {"rate_limit_storm": {"count": 1, "delta": 5}},
        {"auth_server_error": {"after": 1.5, "count": 1}},
        {"drip": {"seconds": 0, "count": 1}},
        {"drip": {"seconds": 1, "forever": "yes", "count": 1}},
        {"oversized_page": {"megabytes": -1, "count": 1}},
        {"absurd_total": {"total": -5, "count": 1}},
    ],
)
def test_invalid_fault_settings_are_refused_and_change_nothing(
    sandbox: SandboxProcess, faults: dict[str, object]
) -> None:
    before = sandbox.faults()
    response = sandbox.http.put(f"{sandbox.admin_url}/faults", json={"malformed_json": 1, **faults})
    assert response.status_code == 422 and response.json()["error"]
    assert sandbox.faults() == before
