"""The sandbox's `/v1/auth` and bearer-token checks, over loopback HTTP to a real sandbox process."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from sandbox.credentials import V2_SCOPES
from tests.support.sandbox import SandboxFactory, SandboxProcess

EMPLOYEES = "/v1/company/employees"


def auth(sandbox: SandboxProcess, way: str, client_id: str, client_secret: str) -> httpx.Response:
    """POST /v1/auth with the credentials in the query string, a JSON body or a form body."""
    url = f"{sandbox.base_url}/v1/auth"
    credentials = {"client_id": client_id, "client_secret": client_secret}
    if way == "query":
        return sandbox.http.post(url, params=credentials)
    if way == "json":
        return sandbox.http.post(url, json=credentials)
    return sandbox.http.post(url, data=credentials)


@pytest.mark.parametrize("way", ["query", "json", "form"])
def test_auth_accepts_credentials_in_query_json_or_form(sandbox: SandboxProcess, way: str) -> None:
    response = auth(sandbox, way, sandbox.client_id, sandbox.client_secret)
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    assert body["data"]["token"].startswith("papi-")
    assert body["data"]["expires_in"] == 86400
    assert body["data"]["scope"] == "employees:read"


def test_the_same_credentials_get_the_same_token(sandbox: SandboxProcess) -> None:
    tokens = {
        auth(sandbox, way, sandbox.client_id, sandbox.client_secret).json()["data"]["token"]
        for way in ("query", "json", "form", "json")
    }
    assert len(tokens) == 1


@pytest.mark.parametrize(
    ("client_id", "client_secret"),
    [
        ("papi-sandbox-client-id", "papi-wrong-secret"),
        ("papi-unknown", "papi-sandbox-client-secret"),
        ("", ""),
    ],
)
def test_wrong_credentials_get_401_in_the_v1_envelope(
    sandbox: SandboxProcess, client_id: str, client_secret: str
) -> None:
    response = auth(sandbox, "json", client_id, client_secret)
    assert response.status_code == 401
    assert response.json() == {"success": False, "error": {"code": 401, "message": "Wrong credentials"}}


def test_missing_credentials_get_401(sandbox: SandboxProcess) -> None:
    response = sandbox.http.post(f"{sandbox.base_url}/v1/auth")
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "Wrong credentials"


@pytest.mark.parametrize(
    ("headers", "status", "message"),
    [
        ({}, 401, "Authorization is not provided"),
        ({"Authorization": "Basic cGFwaTpzZWNyZXQ="}, 403, "Provided authorization is not valid"),
        ({"Authorization": "Bearer not-a-papi-token"}, 403, "Provided authorization is not valid"),
        # reference 3.1: Personio's 403 example for authorization it does not accept
        ({"Authorization": "Bearer papi-never-issued"}, 403, "Provided authorization is not valid"),
    ],
)
def test_employees_refuse_missing_invalid_and_unknown_tokens(
    sandbox: SandboxProcess, headers: dict[str, str], status: int, message: str
) -> None:
    response = sandbox.http.get(f"{sandbox.base_url}{EMPLOYEES}", headers=headers)
    assert response.status_code == status
    assert response.json() == {"success": False, "error": {"code": status, "message": message}}
    assert "authorization" not in response.headers


def test_a_successful_page_echoes_the_token_in_the_authorization_header(sandbox: SandboxProcess) -> None:
    token = sandbox.auth_token()
    response = sandbox.personio_get(EMPLOYEES, token=token)
    assert response.status_code == 200
    assert response.headers["authorization"] == f"Bearer {token}"


def test_tokens_issued_before_a_reset_are_blacklisted(sandbox: SandboxProcess) -> None:
    token = sandbox.auth_token()
    sandbox.reset()
    response = sandbox.personio_get(EMPLOYEES, token=token)
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "The token has been blacklisted"
    assert sandbox.personio_get(EMPLOYEES).status_code == 200  # a new token works


def test_a_revoked_token_is_blacklisted_but_one_never_issued_is_not_valid(sandbox: SandboxProcess) -> None:
    token = sandbox.auth_token()
    sandbox.add_credential(sandbox.client_id, sandbox.client_secret)  # replacing it revokes its token
    revoked = sandbox.personio_get(EMPLOYEES, token=token)
    assert (revoked.status_code, revoked.json()["error"]["message"]) == (
        401,
        "The token has been blacklisted",
    )
    unknown = sandbox.personio_get(EMPLOYEES, token=token + "x")
    assert unknown.status_code == 403
    assert unknown.json() == {
        "success": False,
        "error": {"code": 403, "message": "Provided authorization is not valid"},
    }


def test_a_token_from_before_a_restart_was_never_issued_by_the_new_process(
    sandbox_factory: SandboxFactory,
) -> None:
    sandbox = sandbox_factory(employees=5)
    token = sandbox.auth_token()
    sandbox.restart()
    response = sandbox.personio_get(EMPLOYEES, token=token)
    assert response.status_code == 403
    assert response.json()["error"]["message"] == "Provided authorization is not valid"
    assert sandbox.personio_get(EMPLOYEES).status_code == 200


def test_tracing_headers_are_accepted_and_ignored(sandbox: SandboxProcess) -> None:
    token = sandbox.auth_token()
    response = sandbox.http.get(
        f"{sandbox.base_url}{EMPLOYEES}",
        headers={
            "Authorization": f"Bearer {token}",
            "X-Personio-App-ID": "PERSONIO_SYNC",
            "X-Personio-Partner-ID": "ACME",
        },
    )
    assert response.status_code == 200


def test_auth_allows_60_calls_a_minute_then_answers_429(sandbox: SandboxProcess) -> None:
    credentials = {"client_id": sandbox.client_id, "client_secret": sandbox.client_secret}
    statuses = [sandbox.http.post(f"{sandbox.base_url}/v1/auth", json=credentials) for _ in range(61)]
    assert [r.status_code for r in statuses[:60]] == [200] * 60
    refused = statuses[60]
    assert refused.status_code == 429
    assert refused.json() == {"success": False, "error": {"code": 429, "message": "Too Many Requests"}}
    assert int(refused.headers["Retry-After"]) >= 1


def attribute_keys(response: httpx.Response) -> set[str]:
    data: list[dict[str, Any]] = response.json()["data"]
    return {key for item in data for key in item["attributes"]}


def test_an_added_credential_cannot_read_its_withheld_attributes(sandbox: SandboxProcess) -> None:
    added = sandbox.add_credential(
        client_id="papi-limited", client_secret="papi-limited-secret", withheld=["email"]
    )
    assert added == {
        "client_id": "papi-limited",
        "client_secret": "papi-limited-secret",
        "withheld": ["email"],
        "employees_access": True,
        "scopes": sorted(V2_SCOPES),
    }
    token = sandbox.auth_token("papi-limited", "papi-limited-secret")
    keys = attribute_keys(sandbox.personio_get(EMPLOYEES, token=token))
    assert "email" not in keys and {"id", "first_name", "status"} <= keys
    # even when asked for explicitly, a withheld attribute is silently absent
    asked = sandbox.personio_get(EMPLOYEES, token=token, params={"attributes[]": ["email", "last_name"]})
    assert attribute_keys(asked) == {"id", "last_name"}
    listed = sandbox.personio_get(f"{EMPLOYEES}/attributes", token=token).json()["data"]
    assert "email" not in {entry["key"] for entry in listed}
    # the start-up credential still reads everything
    assert "email" in attribute_keys(sandbox.personio_get(EMPLOYEES))


def test_a_credential_added_without_id_and_secret_gets_generated_ones(sandbox: SandboxProcess) -> None:
    added = sandbox.add_credential()
    assert added["client_id"].startswith("papi-") and added["client_secret"].startswith("papi-")
    assert sandbox.auth_token(added["client_id"], added["client_secret"]).startswith("papi-")


def test_reset_forgets_added_credentials(sandbox: SandboxProcess) -> None:
    sandbox.add_credential(client_id="papi-temp", client_secret="papi-temp-secret")
    sandbox.reset()
    assert auth(sandbox, "json", "papi-temp", "papi-temp-secret").status_code == 401


def test_withhold_at_start_up_applies_to_the_start_up_credential(sandbox_factory: SandboxFactory) -> None:
    limited = sandbox_factory(employees=5, withhold=["email", "position"])
    keys = attribute_keys(limited.personio_get(EMPLOYEES))
    assert not {"email", "position"} & keys and "first_name" in keys


FORBIDDEN_403 = {
    "success": False,
    "error": {"code": 0, "message": "personio.core.api.exceptions.api.forbidden.http.exception"},
}


def test_a_credential_without_employees_access_signs_in_but_gets_403_on_employees(
    sandbox: SandboxProcess,
) -> None:
    added = sandbox.add_credential(
        client_id="papi-blind", client_secret="papi-blind-secret", employees_access=False
    )
    assert added["employees_access"] is False
    token = sandbox.auth_token("papi-blind", "papi-blind-secret")
    first_id = sandbox.employees()[0]["id"]
    for path in (EMPLOYEES, f"{EMPLOYEES}/{first_id}", f"{EMPLOYEES}/attributes"):
        response = sandbox.personio_get(path, token=token)
        assert response.status_code == 403
        assert response.json() == FORBIDDEN_403
        assert "authorization" not in response.headers
    assert {
        "client_id": "papi-blind",
        "withheld": [],
        "employees_access": False,
        "scopes": sorted(V2_SCOPES),
    } in sandbox.state()["credentials"]
    assert sandbox.personio_get(EMPLOYEES).status_code == 200  # the start-up credential still reads


def test_employees_access_must_be_a_boolean(sandbox: SandboxProcess) -> None:
    response = sandbox.http.post(f"{sandbox.admin_url}/credentials", json={"employees_access": "no"})
    assert response.status_code == 422
    assert response.json() == {"error": "employees_access must be true or false"}
