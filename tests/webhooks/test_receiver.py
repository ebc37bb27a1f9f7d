"""The webhook receiver on SQLite and PostgreSQL: who may deliver, what a delivery must look like,
and that only accepted deliveries are recorded, once each."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import select
from starlette.testclient import TestClient

from storage.db import read_session, write_session
from storage.models import Integration, WebhookEvent
from storage.secrets import SecretBox
from sync.accounts.organizations import create_organization
from sync.core.webhook_events import MAX_BODY_BYTES, dedupe_key, parse_delivery
from sync.webhooks.app import create_app

TOKEN = "Bearer s3cret-token-of-acme"
PATH_ID = "opaque-acme-id"


def delivery(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "company_id": "1234",
        "event_name": "person.created",
        "occurred_at": "2026-12-03T09:00:00Z",
        "payload": {"id": "abc-1"},
    }
    body.update(fields)
    return body


def _org(engine: Engine, slug: str, path_id: str, token: str, *, on: bool = True) -> int:
    org = create_organization(
        engine, slug=slug, name=slug, owner_email=f"owner@{slug}.test", owner_password="password1"
    )
    assert org.id is not None
    with write_session(engine) as session:
        integration = session.exec(select(Integration).where(Integration.org_id == org.id)).one()
        integration.webhook_path_id = path_id
        integration.webhook_token_encrypted = SecretBox().encrypt(token)
        integration.near_real_time = on
        session.add(integration)
    return org.id


@pytest.fixture
def client(engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(engine)) as test_client:
        yield test_client


def _post(client: TestClient, body: Any, *, path: str = PATH_ID, token: str | None = TOKEN) -> Any:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = token
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = client.post(f"/personio/webhooks/{path}", content=content, headers=headers)
    assert client.app.state.inbox.flush()  # type: ignore[attr-defined]
    return response


def _events(engine: Engine) -> list[WebhookEvent]:
    with read_session(engine) as session:
        return list(session.exec(select(WebhookEvent)).all())


def test_a_delivery_with_the_right_token_is_recorded_once_even_when_repeated(
    engine: Engine, client: TestClient
) -> None:
    org_id = _org(engine, "acme", PATH_ID, TOKEN)
    first = _post(client, delivery())
    again = _post(client, delivery())  # Personio's retry: the same body
    assert (first.status_code, again.status_code) == (202, 202)
    assert first.content == b""
    [event] = _events(engine)
    assert (event.org_id, event.event_name, event.run_id) == (org_id, "person.created", None)
    assert event.payload == {"id": "abc-1"}
    other = _post(client, delivery(event_name="employment.updated"))
    assert other.status_code == 202
    assert sorted(e.event_name for e in _events(engine)) == ["employment.updated", "person.created"]


@pytest.mark.parametrize("token", [None, "", "Bearer wrong", TOKEN + " ", "bearer s3cret-token-of-acme"])
def test_a_wrong_or_missing_token_is_refused_and_records_nothing(
    engine: Engine, client: TestClient, token: str | None
) -> None:
    _org(engine, "acme", PATH_ID, TOKEN)
    response = _post(client, delivery(), token=token)
    assert response.status_code == 401
    assert response.content == b""
    assert _events(engine) == []


def test_another_organizations_token_does_not_open_this_one(engine: Engine, client: TestClient) -> None:
    _org(engine, "acme", PATH_ID, TOKEN)
    _org(engine, "globex", "opaque-globex-id", "Bearer globex-token")
    assert _post(client, delivery(), token="Bearer globex-token").status_code == 401
    assert _events(engine) == []


@pytest.mark.parametrize("path", ["unknown-id", "x" * 300])
def test_an_unknown_address_is_404_and_records_nothing(engine: Engine, client: TestClient, path: str) -> None:
    _org(engine, "acme", PATH_ID, TOKEN)
    response = _post(client, delivery(), path=path)
    assert response.status_code == 404
    assert response.content == b""
    assert _events(engine) == []


def test_an_organization_whose_updates_are_switched_off_gets_nothing(
    engine: Engine, client: TestClient
) -> None:
    _org(engine, "acme", PATH_ID, TOKEN, on=False)
    assert _post(client, delivery()).status_code == 404
    assert _events(engine) == []


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        json.dumps({k: v for k, v in delivery().items() if k != "company_id"}).encode(),
        json.dumps({k: v for k, v in delivery().items() if k != "occurred_at"}).encode(),
        json.dumps({k: v for k, v in delivery().items() if k != "payload"}).encode(),
        json.dumps(delivery(event_name="person.exploded")).encode(),
        json.dumps(delivery(occurred_at="yesterday")).encode(),
        json.dumps(delivery(payload="text")).encode(),
        json.dumps(delivery(company_id=True)).encode(),
    ],
)
def test_a_body_that_is_not_a_personio_delivery_is_400_and_records_nothing(
    engine: Engine, client: TestClient, body: bytes
) -> None:
    _org(engine, "acme", PATH_ID, TOKEN)
    response = _post(client, body)
    assert response.status_code == 400
    assert response.content == b""
    assert _events(engine) == []


def test_an_oversized_body_is_refused_and_records_nothing(engine: Engine, client: TestClient) -> None:
    _org(engine, "acme", PATH_ID, TOKEN)
    huge = json.dumps(delivery(payload={"padding": "x" * (MAX_BODY_BYTES + 10)})).encode()
    assert _post(client, huge).status_code == 413
    assert _events(engine) == []


def test_control_characters_are_stripped_before_they_are_stored(engine: Engine, client: TestClient) -> None:
    _org(engine, "acme", PATH_ID, TOKEN)
    assert _post(client, delivery(payload={"id": "a\x00b\u202ec", "n\x1bame": 1})).status_code == 202
    [event] = _events(engine)
    assert event.payload == {"id": "abc", "name": 1}


def test_healthz_answers_without_a_database_secret(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert client.get("/personio/webhooks/x").status_code == 405


def test_the_dedupe_key_is_the_same_for_a_repeated_body_and_differs_otherwise() -> None:
    one = parse_delivery(json.dumps(delivery()).encode())
    same = parse_delivery(json.dumps(delivery(), indent=2).encode())
    other = parse_delivery(json.dumps(delivery(occurred_at="2026-12-03T09:00:01Z")).encode())
    assert one is not None and same is not None and other is not None
    assert dedupe_key(one) == dedupe_key(same) != dedupe_key(other)
