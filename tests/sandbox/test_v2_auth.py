"""`POST /v2/auth/token`: OAuth2 client credentials, form body only, 400 errors in OAuth2's shape."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from sandbox.credentials import V2_SCOPES
from sandbox.v2_auth import TokenThrottle
from tests.support.sandbox import SandboxProcess

TOKEN = "/v2/auth/token"


def token_request(sandbox: SandboxProcess, **form: str) -> httpx.Response:
    body = {
        "grant_type": "client_credentials",
        "client_id": sandbox.client_id,
        "client_secret": sandbox.client_secret,
    }
    body.update(form)
    return sandbox.http.post(
        f"{sandbox.base_url}{TOKEN}", data={k: v for k, v in body.items() if v is not None}
    )


def assert_oauth_error(response: httpx.Response, error: str) -> None:
    assert response.status_code == 400, response.text
    body: dict[str, Any] = response.json()
    assert body["error"] == error
    assert body["error_description"] and body["trace_id"] and body["timestamp"]


def test_a_form_request_gets_a_bearer_token_with_every_scope_of_the_credential(
    sandbox: SandboxProcess,
) -> None:
    response = token_request(sandbox)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["access_token"].startswith("papi-")
    assert body["token_type"] == "Bearer" and body["expires_in"] == 86400
    assert set(body["scope"].split()) == V2_SCOPES
    assert response.headers["cache-control"] == "no-store"


def test_a_json_body_is_an_invalid_request(sandbox: SandboxProcess) -> None:
    body = {
        "grant_type": "client_credentials",
        "client_id": sandbox.client_id,
        "client_secret": sandbox.client_secret,
    }
    response = sandbox.http.post(f"{sandbox.base_url}{TOKEN}", json=body)
    assert_oauth_error(response, "invalid_request")


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({"client_secret": "papi-wrong"}, "invalid_client"),
        ({"client_id": "papi-nobody"}, "invalid_client"),
        ({"grant_type": "password"}, "unsupported_grant_type"),
        ({"grant_type": None}, "invalid_request"),
        ({"client_secret": None}, "invalid_request"),
        ({"client_id": ""}, "invalid_request"),
        ({"scope": "personio:webhooks:write personio:payroll:write"}, "invalid_scope"),
    ],
)
def test_refused_token_requests_answer_400_with_the_oauth_error(
    sandbox: SandboxProcess, form: dict[str, str | None], error: str
) -> None:
    assert_oauth_error(token_request(sandbox, **form), error)  # type: ignore[arg-type]


def test_a_requested_scope_narrows_the_token(sandbox: SandboxProcess) -> None:
    response = token_request(sandbox, scope="personio:webhooks:read")
    assert response.json()["scope"] == "personio:webhooks:read"
    token = response.json()["access_token"]
    listed = sandbox.http.get(f"{sandbox.base_url}/v2/webhooks", headers={"Authorization": f"Bearer {token}"})
    assert listed.status_code == 200
    created = sandbox.http.post(
        f"{sandbox.base_url}/v2/webhooks", headers={"Authorization": f"Bearer {token}"}, json={}
    )
    assert created.status_code == 403


def test_a_credential_without_the_webhooks_scope_gets_a_token_without_it(sandbox: SandboxProcess) -> None:
    added = sandbox.add_credential(scopes=["personio:persons:read", "personio:employments:read"])
    assert added["scopes"] == ["personio:employments:read", "personio:persons:read"]
    response = token_request(sandbox, client_id=added["client_id"], client_secret=added["client_secret"])
    assert response.json()["scope"] == "personio:employments:read personio:persons:read"
    asked = token_request(
        sandbox,
        client_id=added["client_id"],
        client_secret=added["client_secret"],
        scope="personio:webhooks:write",
    )
    assert_oauth_error(asked, "invalid_scope")


def test_unknown_scopes_are_refused_when_adding_a_credential(sandbox: SandboxProcess) -> None:
    response = sandbox.http.post(f"{sandbox.admin_url}/credentials", json={"scopes": ["webhooks"]})
    assert response.status_code == 422
    assert "unknown scope" in response.json()["error"]


def test_v2_tokens_die_with_a_replaced_credential_and_a_reset(sandbox: SandboxProcess) -> None:
    added = sandbox.add_credential(client_id="papi-v2", client_secret="papi-v2-secret")
    token = sandbox.v2_token("papi-v2", "papi-v2-secret")
    url = f"{sandbox.base_url}/v2/webhooks"
    assert sandbox.http.get(url, headers={"Authorization": f"Bearer {token}"}).status_code == 200
    sandbox.add_credential(client_id=added["client_id"], client_secret="papi-v2-new-secret")
    assert sandbox.http.get(url, headers={"Authorization": f"Bearer {token}"}).status_code == 401
    token = sandbox.v2_token()
    sandbox.reset()
    assert sandbox.http.get(url, headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_the_token_throttle_allows_150_a_minute_then_one_a_second() -> None:
    throttle = TokenThrottle()
    assert all(throttle.admit("client", i * 0.1) is None for i in range(150))
    assert throttle.admit("client", 15.0) is not None  # the 151st within the minute
    assert throttle.admit("client", 15.5) is not None
    assert throttle.admit("client", 16.0) is None  # one a second while throttled
    assert throttle.admit("client", 16.2) is not None
    assert throttle.admit("other", 16.2) is None  # per client id
    assert all(throttle.admit("client", 80.0 + i * 0.01) is None for i in range(10))  # throttle over
