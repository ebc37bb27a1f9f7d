"""Personio's webhook subscriptions: `GET/POST /v2/webhooks`, `GET/PATCH/DELETE /v2/webhooks/{id}`.

Facts: /work/shared/reference/personio-webhooks.md, "Managing webhooks". Reading needs the scope
`personio:webhooks:read` (or `:write`), changing needs `personio:webhooks:write`. Every function
here runs with the sandbox lock held.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sandbox.credentials import WEBHOOKS_READ, WEBHOOKS_WRITE
from sandbox.v2_auth import authorize, problem, problem_of
from sandbox.wire import Request, Response, json_response

if TYPE_CHECKING:
    from sandbox.state import SandboxState

EVENTS: tuple[str, ...] = (
    "person.created",
    "person.updated",
    "person.deleted",
    "employment.created",
    "employment.updated",
    "employment.deleted",
)
STATUSES: tuple[str, ...] = ("ENABLED", "DISABLED")
AUTH_TYPES: tuple[str, ...] = ("NONE", "TOKEN", "CUSTOM")
FIELDS: frozenset[str] = frozenset(
    {"url", "description", "status", "auth_type", "token", "custom_headers", "enabled_events"}
)
MAX_CUSTOM_HEADERS = 3
MAX_URL_LENGTH = 2048
MAX_TEXT_LENGTH = 1024
_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_RESERVED_HEADERS = frozenset({"authorization", "content-type", "content-length", "host", "connection"})


@dataclass
class Webhook:
    """One subscription. `token` goes out verbatim as `Authorization` (auth_type TOKEN);
    `custom_headers` as extra headers (auth_type CUSTOM)."""

    id: str
    url: str
    description: str
    status: str
    auth_type: str
    token: str | None
    custom_headers: tuple[tuple[str, str], ...]
    enabled_events: tuple[str, ...]
    created_at: datetime
    updated_at: datetime

    def public(self) -> dict[str, Any]:
        """The webhook as the API shows it: never the token or a custom header's value."""
        return {
            "id": self.id,
            "url": self.url,
            "description": self.description,
            "status": self.status,
            "auth_type": self.auth_type,
            "custom_headers": [{"key": name} for name, _ in self.custom_headers],
            "enabled_events": list(self.enabled_events),
            "created_at": _iso(self.created_at),
            "updated_at": _iso(self.updated_at),
        }

    def delivery_headers(self) -> dict[str, str]:
        """What a delivery carries besides `Content-Type`, by auth_type."""
        if self.auth_type == "TOKEN" and self.token:
            return {"Authorization": self.token}
        if self.auth_type == "CUSTOM":
            return dict(self.custom_headers)
        return {}

    def subscribed(self, event_name: str) -> bool:
        """Whether an event of this name is delivered here (only ENABLED webhooks get any)."""
        return self.status == "ENABLED" and event_name in self.enabled_events


@dataclass
class WebhookStore:
    """Subscriptions by id, in creation order. Not thread-safe: the caller holds the sandbox lock."""

    webhooks: dict[str, Webhook] = field(default_factory=dict)

    def subscribers(self, event_name: str) -> list[Webhook]:
        """The webhooks an event of this name goes to."""
        return [webhook for webhook in self.webhooks.values() if webhook.subscribed(event_name)]


class WebhookError(ValueError):
    """A refused create or update: the status and the `errors[]` items to answer with."""

    def __init__(self, status: int, errors: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(str(error["detail"]) for error in errors))
        self.status = status
        self.errors = errors


def _invalid(detail: str, pointer: str) -> dict[str, Any]:
    return {"title": "Validation failed", "detail": detail, "type": "validation_error", "field": pointer}


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


# ----- validation (pure) ---------------------------------------------------------------------------


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def url_problem(url: Any) -> str | None:
    """Why `url` cannot be a webhook URL, or None. Personio wants https; the sandbox also takes
    plain http to a loopback address, so tests need no certificates."""
    if not isinstance(url, str) or not url.strip():
        return "url is required"
    if len(url) > MAX_URL_LENGTH:
        return f"url must be at most {MAX_URL_LENGTH} characters"
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number)
    except ValueError:
        return "url is not a valid URL"
    if not host or parts.scheme not in ("https", "http"):
        return "url must be an absolute https URL"
    if parts.scheme == "http" and not _loopback(host):
        return "url must use https"
    if parts.username or parts.password:
        return "url must not carry credentials"
    return None


def _text(value: Any, name: str, *, required: bool) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise WebhookError(422, [_invalid(f"{name} must be a non-empty string", name)])
    if len(value) > MAX_TEXT_LENGTH:
        raise WebhookError(422, [_invalid(f"{name} must be at most {MAX_TEXT_LENGTH} characters", name)])
    return value


def _header_value(value: Any, name: str) -> str:
    text = _text(value, name, required=True)
    assert text is not None
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in text):
        raise WebhookError(422, [_invalid(f"{name} must not contain control characters", name)])
    return text


def _custom_headers(value: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_CUSTOM_HEADERS:
        detail = f"custom_headers must be a list of 1 to {MAX_CUSTOM_HEADERS} {{key, value}} objects"
        raise WebhookError(422, [_invalid(detail, "custom_headers")])
    headers: list[tuple[str, str]] = []
    for item in value:
        name = item.get("key") if isinstance(item, dict) else None
        if not isinstance(name, str) or not _HEADER_NAME.match(name) or name.lower() in _RESERVED_HEADERS:
            raise WebhookError(
                422, [_invalid("custom_headers: key must be a free header name", "custom_headers")]
            )
        headers.append((name, _header_value(item.get("value"), "custom_headers value")))
    return tuple(headers)


def _events(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise WebhookError(
            422, [_invalid("enabled_events must be a non-empty list of event names", "enabled_events")]
        )
    unknown = [event for event in value if event not in EVENTS]
    if unknown:
        names = ", ".join(repr(event) for event in unknown)
        raise WebhookError(422, [_invalid(f"enabled_events: unknown event(s) {names}", "enabled_events")])
    return tuple(dict.fromkeys(value))  # repeats once, order kept


def _choice(value: Any, name: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise WebhookError(422, [_invalid(f"{name} must be one of {', '.join(choices)}", name)])
    return str(value)


def webhook_fields(body: Any, current: Webhook | None) -> dict[str, Any]:
    """The complete set of fields after applying `body` (a create when `current` is None, else a
    partial update). Raises WebhookError (400 not an object, 422 invalid) changing nothing."""
    if not isinstance(body, dict):
        raise WebhookError(
            400,
            [{"title": "Bad request", "detail": "The body must be a JSON object.", "type": "bad_request"}],
        )
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        raise WebhookError(
            422, [_invalid(f"unknown field(s): {', '.join(unknown)}", name) for name in unknown]
        )
    if current is None:
        missing = [name for name in ("url", "description", "enabled_events") if name not in body]
        if missing:
            raise WebhookError(422, [_invalid(f"{name} is required", name) for name in missing])
    fields: dict[str, Any] = (
        {
            "url": current.url,
            "description": current.description,
            "status": current.status,
            "auth_type": current.auth_type,
            "token": current.token,
            "custom_headers": current.custom_headers,
            "enabled_events": current.enabled_events,
        }
        if current is not None
        else {"status": "DISABLED", "auth_type": "TOKEN", "token": None, "custom_headers": ()}
    )
    if "url" in body:
        reason = url_problem(body["url"])
        if reason:
            raise WebhookError(422, [_invalid(reason, "url")])
        fields["url"] = body["url"]
    if "description" in body:
        fields["description"] = _text(body["description"], "description", required=True)
    if "status" in body:
        fields["status"] = _choice(body["status"], "status", STATUSES)
    if "auth_type" in body:
        fields["auth_type"] = _choice(body["auth_type"], "auth_type", AUTH_TYPES)
    if "enabled_events" in body:
        fields["enabled_events"] = _events(body["enabled_events"])
    auth_type = fields["auth_type"]
    if "token" in body:
        if auth_type != "TOKEN":
            raise WebhookError(422, [_invalid("token is only used with auth_type TOKEN", "token")])
        fields["token"] = _header_value(body["token"], "token")
    if "custom_headers" in body:
        if auth_type != "CUSTOM":
            raise WebhookError(
                422, [_invalid("custom_headers are only used with auth_type CUSTOM", "custom_headers")]
            )
        fields["custom_headers"] = _custom_headers(body["custom_headers"])
    if auth_type == "TOKEN" and not fields["token"]:
        raise WebhookError(422, [_invalid("token is required with auth_type TOKEN", "token")])
    if auth_type == "CUSTOM" and not fields["custom_headers"]:
        raise WebhookError(
            422, [_invalid("custom_headers are required with auth_type CUSTOM", "custom_headers")]
        )
    if auth_type != "TOKEN":
        fields["token"] = None
    if auth_type != "CUSTOM":
        fields["custom_headers"] = ()
    return fields


# ----- endpoints -----------------------------------------------------------------------------------


def _json_body(request: Request) -> Any:
    try:
        return request.json()
    except (ValueError, UnicodeDecodeError):
        raise WebhookError(
            400, [{"title": "Bad request", "detail": "The body is not valid JSON.", "type": "bad_request"}]
        ) from None


def _not_found(webhook_id: str) -> Response:
    return problem(404, "Not found", f"No webhook with id {webhook_id}.", "not_found")


def _conflict(store: WebhookStore, url: str, own_id: str | None) -> Response | None:
    for other in store.webhooks.values():
        if other.id != own_id and other.url == url:
            return problem(409, "Conflict", "A webhook with this url already exists.", "conflict")
    return None


def list_webhooks(state: SandboxState, request: Request) -> Response:
    """`GET /v2/webhooks`: `{"_data": [webhook...], "_meta": {...}}`, oldest first."""
    token = authorize(state, request, WEBHOOKS_READ, WEBHOOKS_WRITE)
    if isinstance(token, Response):
        return token
    data = [webhook.public() for webhook in state.webhooks.webhooks.values()]
    return json_response(200, {"_data": data, "_meta": {"links": {}}})


def get_webhook(state: SandboxState, request: Request, webhook_id: str) -> Response:
    """`GET /v2/webhooks/{id}`: the webhook, or 404."""
    token = authorize(state, request, WEBHOOKS_READ, WEBHOOKS_WRITE)
    if isinstance(token, Response):
        return token
    webhook = state.webhooks.webhooks.get(webhook_id)
    return json_response(200, webhook.public()) if webhook else _not_found(webhook_id)


def create_webhook(state: SandboxState, request: Request) -> Response:
    """`POST /v2/webhooks`: 201 with the new webhook (its `id` a uuid); 400/422 invalid, 409 the
    url is taken."""
    token = authorize(state, request, WEBHOOKS_WRITE)
    if isinstance(token, Response):
        return token
    try:
        fields = webhook_fields(_json_body(request), None)
    except WebhookError as error:
        return problem_of(error.status, error.errors)
    conflict = _conflict(state.webhooks, fields["url"], None)
    if conflict:
        return conflict
    now = state.now()
    webhook = Webhook(id=str(uuid.uuid4()), created_at=now, updated_at=now, **fields)
    state.webhooks.webhooks[webhook.id] = webhook
    return json_response(201, webhook.public())


def update_webhook(state: SandboxState, request: Request, webhook_id: str) -> Response:
    """`PATCH /v2/webhooks/{id}`: change any subset of the fields; 200 with the webhook."""
    token = authorize(state, request, WEBHOOKS_WRITE)
    if isinstance(token, Response):
        return token
    webhook = state.webhooks.webhooks.get(webhook_id)
    if webhook is None:
        return _not_found(webhook_id)
    try:
        fields = webhook_fields(_json_body(request), webhook)
    except WebhookError as error:
        return problem_of(error.status, error.errors)
    conflict = _conflict(state.webhooks, fields["url"], webhook.id)
    if conflict:
        return conflict
    for name, value in fields.items():
        setattr(webhook, name, value)
    webhook.updated_at = state.now()
    return json_response(200, webhook.public())


def delete_webhook(state: SandboxState, request: Request, webhook_id: str) -> Response:
    """`DELETE /v2/webhooks/{id}`: 204; nothing is delivered to it any more."""
    token = authorize(state, request, WEBHOOKS_WRITE)
    if isinstance(token, Response):
        return token
    if state.webhooks.webhooks.pop(webhook_id, None) is None:
        return _not_found(webhook_id)
    state.deliverer.cancel(webhook_id)
    return Response(status=204, body=b"")


def admin_view(webhooks: Mapping[str, Webhook]) -> list[dict[str, Any]]:
    """Every webhook for `GET /_admin/webhooks`: as the API shows it, plus whether a token is set."""
    return [{**webhook.public(), "token_set": bool(webhook.token)} for webhook in webhooks.values()]
