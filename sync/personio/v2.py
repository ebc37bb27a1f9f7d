"""Personio API v2, the part near-real-time updates need: a token, and creating and deleting a webhook.

Trust is the v1 client's: the address must be one the operator allowed (`checked_base_url`, again
for every request), no redirect is followed, every request has a whole deadline and every answer a
size cap, and neither the secret nor a token ever reaches a message or a log. Managing a webhook is
rare (the owner's switch), so there is no pacing: a server error or timeout is tried three times,
then reported like any unreachable Personio.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from sync.personio.errors import (
    CONNECTION,
    PERSONIO_ORIGIN,
    TIMEOUT,
    Failure,
    address_refused,
    checked_base_url,
    credentials_missing,
    credentials_rejected,
    gave_up,
    origin_allowed,
    token_rejected,
    unexpected_status,
    webhook_conflict,
    webhook_scope_missing,
    webhook_url_rejected,
)

logger = logging.getLogger("sync.personio")

TOKEN_PATH = "/v2/auth/token"
WEBHOOKS_PATH = "/v2/webhooks"
WEBHOOK_EVENTS = (
    "person.created",
    "person.updated",
    "person.deleted",
    "employment.created",
    "employment.updated",
    "employment.deleted",
)
REQUEST_DEADLINE_SECONDS = 15.0
MAX_ANSWER_BYTES = 1_000_000
ATTEMPTS = 3


@dataclass(frozen=True)
class _Answer:
    status: int
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None


class _TooSlow(Exception):
    pass


def _problem_text(answer: _Answer) -> str:
    """The readable part of a v2 error: `errors[].detail/title` (problem+json) or `error_description`."""
    data = answer.json()
    if not isinstance(data, Mapping):
        return ""
    parts: list[str] = []
    errors = data.get("errors")
    if isinstance(errors, list):
        for item in errors[:3]:
            if isinstance(item, Mapping):
                parts.append(str(item.get("detail") or item.get("title") or ""))
    for key in ("error_description", "detail", "title"):
        if isinstance(data.get(key), str):
            parts.append(str(data[key]))
    return "; ".join(part for part in parts if part)


class PersonioV2:
    """One set of credentials against one Personio address. Use as a context manager."""

    def __init__(
        self,
        *,
        base_url: str,
        client_id: str,
        client_secret: str,
        allowed_origins: Collection[str] = (PERSONIO_ORIGIN,),
        request_deadline: float = REQUEST_DEADLINE_SECONDS,
        backoff_seconds: float = 1.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._base_url, self._host = checked_base_url(base_url, allowed_origins)
        if not client_id.strip() or not client_secret.strip():
            raise credentials_missing()
        self._client_id = client_id.strip()
        self._client_secret = client_secret.strip()
        self._deadline = request_deadline
        self._backoff = backoff_seconds
        self._token: str | None = None
        self._http = httpx.Client(
            base_url=self._base_url,
            timeout=httpx.Timeout(request_deadline, connect=min(10.0, request_deadline)),
            transport=transport,
            follow_redirects=False,
            headers={"Accept": "application/json", "X-Personio-App-ID": "PERSONIO_SYNC"},
        )

    def __enter__(self) -> PersonioV2:
        return self

    def __exit__(self, *_exc: object) -> None:
        self._http.close()

    # -- the calls ------------------------------------------------------------------------------

    def create_webhook(self, *, url: str, token: str, description: str) -> str:
        """Register `url` for the six person and employment events; returns Personio's webhook id.

        A webhook already registered for the same URL (409) is deleted and created again once.
        """
        body = {
            "url": url,
            "description": description,
            "status": "ENABLED",
            "auth_type": "TOKEN",
            "token": token,
            "enabled_events": list(WEBHOOK_EVENTS),
        }
        for attempt in (1, 2):
            answer = self._authorized("POST", WEBHOOKS_PATH, json_body=body)
            if answer.status in (200, 201):
                data = answer.json()
                webhook_id = data.get("id") if isinstance(data, Mapping) else None
                if not isinstance(webhook_id, str | int) or not str(webhook_id).strip():
                    raise unexpected_status(WEBHOOKS_PATH, answer.status, "the answer holds no webhook id")
                return str(webhook_id)
            if answer.status == 409 and attempt == 1 and self._delete_by_url(url):
                continue
            if answer.status == 409:
                raise webhook_conflict()
            if answer.status in (400, 422):
                raise webhook_url_rejected(self._redact(_problem_text(answer)))
            self._refuse(answer, WEBHOOKS_PATH)
        raise webhook_conflict()

    def delete_webhook(self, webhook_id: str) -> None:
        """Delete the registration; one Personio no longer has counts as deleted."""
        path = f"{WEBHOOKS_PATH}/{quote(webhook_id, safe='')}"
        answer = self._authorized("DELETE", path)
        if answer.status in (200, 202, 204, 404):
            return
        self._refuse(answer, path)

    def _delete_by_url(self, url: str) -> bool:
        answer = self._authorized("GET", WEBHOOKS_PATH)
        if answer.status != 200:
            return False
        data = answer.json()
        items = data.get("_data") if isinstance(data, Mapping) else None
        found = False
        for item in items if isinstance(items, list) else []:
            if isinstance(item, Mapping) and item.get("url") == url and item.get("id"):
                self.delete_webhook(str(item["id"]))
                found = True
        return found

    # -- plumbing -------------------------------------------------------------------------------

    def _refuse(self, answer: _Answer, path: str) -> None:
        if answer.status == 401:
            raise token_rejected(401)
        if answer.status == 403:
            raise webhook_scope_missing()
        raise unexpected_status(path, answer.status, self._redact(_problem_text(answer)))

    def _authorized(self, method: str, path: str, *, json_body: Mapping[str, Any] | None = None) -> _Answer:
        if self._token is None:
            self._token = self._fetch_token()
        return self._send(
            method, path, json_body=json_body, headers={"Authorization": f"Bearer {self._token}"}
        )

    def _fetch_token(self) -> str:
        form = {
            "grant_type": "client_credentials",
            "client_id": self._client_id,
            "client_secret": self._client_secret,
        }
        answer = self._send("POST", TOKEN_PATH, form=form, headers={})
        data = answer.json()
        if answer.status == 200 and isinstance(data, Mapping) and isinstance(data.get("access_token"), str):
            return str(data["access_token"])
        error = data.get("error") if isinstance(data, Mapping) else None
        if answer.status in (400, 401, 403) and error in ("invalid_client", "unauthorized_client", None):
            raise credentials_rejected(answer.status)
        if error == "invalid_scope":
            raise webhook_scope_missing()
        raise unexpected_status(TOKEN_PATH, answer.status, self._redact(_problem_text(answer)))

    def _send(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str],
        json_body: Mapping[str, Any] | None = None,
        form: Mapping[str, str] | None = None,
    ) -> _Answer:
        failure: Failure = CONNECTION
        for attempt in range(1, ATTEMPTS + 1):
            request = self._http.build_request(method, path, json=json_body, data=form, headers=headers)
            if request.url.userinfo or not origin_allowed(
                f"{request.url.scheme}://{request.url.netloc.decode('ascii')}", (self._base_url,)
            ):
                raise address_refused()
            try:
                answer = self._exchange(request)
                if answer.status < 500 or answer.status == 501:
                    return answer
                failure = answer.status
            except (httpx.TimeoutException, _TooSlow):
                failure = TIMEOUT
            except httpx.TransportError:
                failure = CONNECTION
            logger.warning("Personio %s %s -> %s; attempt %d of %d", method, path, failure, attempt, ATTEMPTS)
            if attempt < ATTEMPTS:
                time.sleep(self._backoff * attempt)
        raise gave_up(failure, ATTEMPTS, self._host)

    def _exchange(self, request: httpx.Request) -> _Answer:
        """One request with its whole deadline; the body is read up to MAX_ANSWER_BYTES."""
        until = time.monotonic() + self._deadline
        response = self._http.send(request, stream=True)
        try:
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > MAX_ANSWER_BYTES:
                    raise unexpected_status(request.url.path, response.status_code, "the answer is too large")
                chunks.append(chunk)
                if time.monotonic() > until:
                    raise _TooSlow()
            return _Answer(response.status_code, b"".join(chunks))
        finally:
            response.close()

    def _redact(self, text: str) -> str:
        for secret in (self._client_secret, self._token):
            if secret:
                text = text.replace(secret, "***")
        text = " ".join(text.split())
        return text if len(text) <= 200 else text[:199] + "…"
