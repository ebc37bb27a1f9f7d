"""`/v2/webhooks`: create, list, read, update and delete subscriptions, with the bearer token and the
`personio:webhooks:write` scope; refusals are problem+json."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from sandbox.webhooks import EVENTS, url_problem
from tests.support.sandbox import SandboxProcess

WEBHOOKS = "/v2/webhooks"


def new_webhook(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "url": "https://sync.example.com/personio/webhooks/org-1",
        "description": "Personio Sync",
        "status": "ENABLED",
        "auth_type": "TOKEN",
        "token": "Bearer s3cret-token",
        "enabled_events": list(EVENTS),
    }
    body.update(overrides)
    return {key: value for key, value in body.items() if value is not None}


class V2:
    """Calls to /v2/webhooks with one token."""

    def __init__(self, sandbox: SandboxProcess, token: str) -> None:
        self.sandbox = sandbox
        self.headers = {"Authorization": f"Bearer {token}"}

    def call(self, method: str, path: str = "", body: Any = None) -> httpx.Response:
        url = f"{self.sandbox.base_url}{WEBHOOKS}{path}"
        return self.sandbox.http.request(method, url, json=body, headers=self.headers)


@pytest.fixture
def v2(sandbox: SandboxProcess) -> V2:
    return V2(sandbox, sandbox.v2_token())


def assert_problem(response: httpx.Response, status: int) -> list[dict[str, Any]]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    errors: list[dict[str, Any]] = response.json()["errors"]
    assert errors and all({"title", "detail", "type"} <= set(error) for error in errors)
    return errors


def test_create_list_read_update_delete(sandbox: SandboxProcess, v2: V2) -> None:
    created = v2.call("POST", body=new_webhook())
    assert created.status_code == 201, created.text
    webhook = created.json()
    assert len(webhook["id"]) == 36 and webhook["status"] == "ENABLED" and webhook["auth_type"] == "TOKEN"
    assert webhook["enabled_events"] == list(EVENTS)
    assert "token" not in webhook and "s3cret" not in created.text
    assert v2.call("GET").json()["_data"] == [webhook]
    assert v2.call("GET", f"/{webhook['id']}").json() == webhook

    patched = v2.call(
        "PATCH", f"/{webhook['id']}", {"status": "DISABLED", "enabled_events": ["person.created"]}
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["status"] == "DISABLED" and patched.json()["enabled_events"] == ["person.created"]
    assert patched.json()["url"] == webhook["url"]  # untouched fields stay
    assert sandbox.webhooks()[0]["token_set"] is True

    deleted = v2.call("DELETE", f"/{webhook['id']}")
    assert deleted.status_code == 204 and deleted.content == b""
    assert v2.call("GET").json()["_data"] == []
    assert_problem(v2.call("DELETE", f"/{webhook['id']}"), 404)
    assert_problem(v2.call("PATCH", f"/{webhook['id']}", {"status": "ENABLED"}), 404)
    assert_problem(v2.call("GET", "/not-a-uuid"), 404)


def test_status_defaults_to_disabled_and_auth_type_to_token(v2: V2) -> None:
    created = v2.call("POST", body=new_webhook(status=None, auth_type=None)).json()
    assert created["status"] == "DISABLED" and created["auth_type"] == "TOKEN"


def test_without_the_write_scope_changes_are_forbidden(sandbox: SandboxProcess) -> None:
    added = sandbox.add_credential(scopes=["personio:persons:read", "personio:webhooks:read"])
    reader = V2(sandbox, sandbox.v2_token(added["client_id"], added["client_secret"]))
    errors = assert_problem(reader.call("POST", body=new_webhook()), 403)
    assert "personio:webhooks:write" in errors[0]["detail"]
    assert reader.call("GET").status_code == 200  # reading needs only the read scope
    writer = V2(sandbox, sandbox.v2_token())
    webhook_id = writer.call("POST", body=new_webhook()).json()["id"]
    assert_problem(reader.call("PATCH", f"/{webhook_id}", {"status": "DISABLED"}), 403)
    assert_problem(reader.call("DELETE", f"/{webhook_id}"), 403)
    blind = sandbox.add_credential(scopes=["personio:persons:read"])
    assert_problem(V2(sandbox, sandbox.v2_token(blind["client_id"], blind["client_secret"])).call("GET"), 403)


@pytest.mark.parametrize("authorization", [None, "Bearer", "Bearer papi-never-issued", "Basic abc"])
def test_without_a_live_token_it_is_401(sandbox: SandboxProcess, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = sandbox.http.get(f"{sandbox.base_url}{WEBHOOKS}", headers=headers)
    assert_problem(response, 401)


def test_a_v1_token_is_not_a_v2_token(sandbox: SandboxProcess) -> None:
    v1 = V2(sandbox, sandbox.auth_token())
    assert_problem(v1.call("GET"), 401)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"url": "http://sync.example.com/hook"}, "url"),
        ({"url": "ftp://sync.example.com/hook"}, "url"),
        ({"url": "not a url"}, "url"),
        ({"url": None}, "url"),
        ({"description": None}, "description"),
        ({"description": "  "}, "description"),
        ({"enabled_events": None}, "enabled_events"),
        ({"enabled_events": []}, "enabled_events"),
        ({"enabled_events": ["person.hired"]}, "enabled_events"),
        ({"status": "ON"}, "status"),
        ({"auth_type": "BASIC"}, "auth_type"),
        ({"token": None}, "token"),
        ({"token": "Bearer a\r\nX-Injected: 1"}, "token"),
        ({"auth_type": "NONE"}, "token"),  # a token makes no sense without TOKEN
        ({"auth_type": "CUSTOM", "token": None}, "custom_headers"),
        (
            {
                "auth_type": "CUSTOM",
                "token": None,
                "custom_headers": [{"key": f"X-{n}", "value": "v"} for n in range(4)],
            },
            "custom_headers",
        ),
        ({"events": ["person.created"]}, "events"),
    ],
)
def test_invalid_webhooks_are_refused_with_422(v2: V2, overrides: dict[str, Any], field: str) -> None:
    errors = assert_problem(v2.call("POST", body=new_webhook(**overrides)), 422)
    assert errors[0]["field"] == field
    assert v2.call("GET").json()["_data"] == []


def test_a_body_that_is_not_a_json_object_is_400(sandbox: SandboxProcess, v2: V2) -> None:
    assert_problem(v2.call("POST", body=["url"]), 400)
    raw = sandbox.http.post(
        f"{sandbox.base_url}{WEBHOOKS}",
        content=b"{nope",
        headers={**v2.headers, "Content-Type": "application/json"},
    )
    assert_problem(raw, 400)


def test_a_second_webhook_for_the_same_url_is_a_conflict(v2: V2) -> None:
    first = v2.call("POST", body=new_webhook()).json()
    assert_problem(v2.call("POST", body=new_webhook(description="again")), 409)
    other = v2.call("POST", body=new_webhook(url="https://sync.example.com/other")).json()
    assert_problem(v2.call("PATCH", f"/{other['id']}", {"url": first["url"]}), 409)


def test_custom_headers_for_auth_type_custom(v2: V2) -> None:
    body = new_webhook(auth_type="CUSTOM", token=None, custom_headers=[{"key": "X-Hook-Key", "value": "k"}])
    created = v2.call("POST", body=body)
    assert created.status_code == 201, created.text
    assert created.json()["custom_headers"] == [{"key": "X-Hook-Key"}]


def test_switching_auth_type_to_none_forgets_the_token(sandbox: SandboxProcess, v2: V2) -> None:
    webhook = v2.call("POST", body=new_webhook()).json()
    patched = v2.call("PATCH", f"/{webhook['id']}", {"auth_type": "NONE"})
    assert patched.status_code == 200, patched.text
    assert sandbox.webhooks()[0]["token_set"] is False


def test_reset_removes_every_webhook(sandbox: SandboxProcess, v2: V2) -> None:
    v2.call("POST", body=new_webhook())
    sandbox.reset()
    assert sandbox.webhooks() == []


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://hooks.example.com/p", True),
        ("http://127.0.0.1:8502/personio/webhooks/x", True),
        ("http://localhost:8502/x", True),
        ("http://[::1]:8502/x", True),
        ("http://10.0.0.1/x", False),
        ("https://user:pw@hooks.example.com/p", False),
        ("https://hooks.example.com:notaport/p", False),
        ("/relative", False),
    ],
)
def test_webhook_urls_are_https_or_loopback_http(url: str, allowed: bool) -> None:
    assert (url_problem(url) is None) is allowed
