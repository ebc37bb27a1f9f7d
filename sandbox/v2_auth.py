"""Personio's API v2 token (`POST /v2/auth/token`, OAuth2 client credentials) and the bearer check
the other `/v2` endpoints share, with v2's two error shapes.

Facts: /work/shared/reference/personio-webhooks.md, "The v2 token". Every function here runs with
the sandbox lock held.
"""

from __future__ import annotations

import secrets
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sandbox.credentials import Credential
from sandbox.ratelimit import retry_after_header
from sandbox.wire import Request, Response, json_response

if TYPE_CHECKING:  # the state holds an AccessTokenStore; a runtime import would be circular
    from sandbox.state import SandboxState

ACCESS_TOKEN_LIFETIME = 86400  # seconds
FORM = "application/x-www-form-urlencoded"
PROBLEM_JSON = "application/problem+json"
TOKENS_PER_MINUTE = 150  # then one a second for 60 seconds
THROTTLE_SECONDS = 60.0


def _timestamp() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def oauth_error(status: int, error: str, description: str) -> Response:
    """A token endpoint error: `{"error", "error_description", "trace_id", "timestamp"}`."""
    return json_response(
        status,
        {
            "error": error,
            "error_description": description,
            "trace_id": str(uuid.uuid4()),
            "timestamp": _timestamp(),
        },
    )


def problem(status: int, title: str, detail: str, error_type: str) -> Response:
    """A v2 error elsewhere: `application/problem+json` with one `errors[]` item."""
    return problem_of(status, [{"title": title, "detail": detail, "type": error_type}])


def problem_of(status: int, errors: list[dict[str, Any]]) -> Response:
    """A v2 error with several `errors[]` items (`title`, `detail`, `type`)."""
    response = json_response(
        status, {"personio_trace_id": str(uuid.uuid4()), "timestamp": _timestamp(), "errors": errors}
    )
    response.content_type = PROBLEM_JSON
    return response


@dataclass(frozen=True)
class AccessToken:
    """A v2 bearer token: the credential it was issued to (that exact credential: a replaced one's
    tokens stop working), its scopes and when it was issued (wall-clock seconds)."""

    value: str
    credential: Credential
    scopes: frozenset[str]
    issued_at: float

    def expired(self, now: float) -> bool:
        """Whether the token's lifetime is over at `now`."""
        return now >= self.issued_at + ACCESS_TOKEN_LIFETIME


@dataclass
class TokenThrottle:
    """150 token requests a minute (per client id); past that, one a second for 60 seconds."""

    _seen: dict[str, deque[float]] = field(default_factory=dict)
    _throttled_until: dict[str, float] = field(default_factory=dict)
    _last: dict[str, float] = field(default_factory=dict)

    def admit(self, key: str, now: float) -> float | None:
        """None to admit the request at `now` (monotonic seconds), else the seconds to wait."""
        if now < self._throttled_until.get(key, 0.0):
            wait = self._last.get(key, -1e9) + 1.0 - now
            if wait > 0:
                return wait
            self._last[key] = now
            return None
        seen = self._seen.setdefault(key, deque())
        while seen and seen[0] <= now - 60.0:
            seen.popleft()
        if len(seen) >= TOKENS_PER_MINUTE:
            seen.clear()
            self._throttled_until[key] = now + THROTTLE_SECONDS
            self._last[key] = now
            return 1.0
        seen.append(now)
        self._last[key] = now
        return None


@dataclass
class AccessTokenStore:
    """Live v2 tokens by value. Not thread-safe: the caller holds the sandbox lock."""

    tokens: dict[str, AccessToken] = field(default_factory=dict)
    throttle: TokenThrottle = field(default_factory=TokenThrottle)

    def issue(self, credential: Credential, scopes: frozenset[str], now: float) -> AccessToken:
        """A new token for `credential` with `scopes`; expired tokens are forgotten on the way."""
        for value in [v for v, token in self.tokens.items() if token.expired(now)]:
            del self.tokens[value]
        token = AccessToken(f"papi-{secrets.token_urlsafe(48)}", credential, scopes, now)
        self.tokens[token.value] = token
        return token


def issue_token(state: SandboxState, request: Request) -> Response:
    """`POST /v2/auth/token`: form body with grant_type=client_credentials, client_id, client_secret
    and optional space-separated scope; 200 with a Bearer token, else 400 with an OAuth2 error."""
    if request.content_type != FORM:
        return oauth_error(400, "invalid_request", f"The request body must be {FORM}.")
    fields = {name: values[0] for name, values in request.form().items()}
    client_id = fields.get("client_id", "")
    if state.config.rate_limit:
        wait = state.v2_tokens.throttle.admit(client_id, state.monotonic())
        if wait is not None:
            refused = oauth_error(429, "too_many_requests", "Too many token requests; slow down.")
            refused.headers["Retry-After"] = retry_after_header(wait)
            return refused
    grant_type = fields.get("grant_type", "")
    if not grant_type:
        return oauth_error(400, "invalid_request", "The grant_type parameter is missing.")
    if grant_type != "client_credentials":
        return oauth_error(400, "unsupported_grant_type", f"The grant type {grant_type!r} is not supported.")
    client_secret = fields.get("client_secret", "")
    if not client_id or not client_secret:
        return oauth_error(400, "invalid_request", "client_id and client_secret are required.")
    credential = state.credentials.check(client_id, client_secret)
    if credential is None:
        return oauth_error(400, "invalid_client", "Client authentication failed.")
    requested = frozenset(fields.get("scope", "").split())
    if requested - credential.scopes:
        missing = " ".join(sorted(requested - credential.scopes))
        return oauth_error(400, "invalid_scope", f"The credential is not granted the scope(s): {missing}.")
    scopes = requested or credential.scopes
    token = state.v2_tokens.issue(credential, scopes, state.wall_clock())
    response = json_response(
        200,
        {
            "access_token": token.value,
            "expires_in": ACCESS_TOKEN_LIFETIME,
            "token_type": "Bearer",
            "scope": " ".join(sorted(scopes)),
        },
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def authorize(state: SandboxState, request: Request, *scopes: str) -> AccessToken | Response:
    """The live token in `Authorization: Bearer ...` if it holds one of `scopes`; else the 401
    (no, unknown, expired or revoked token) or 403 (scope not granted) problem to answer with."""
    header = request.headers.get("authorization", "").strip()
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if not header or scheme.lower() != "bearer" or not value:
        return problem(401, "Unauthorized", "A Bearer access token is required.", "unauthorized")
    token = state.v2_tokens.tokens.get(value)
    if (
        token is None
        or token.expired(state.wall_clock())
        or state.credentials.credentials.get(token.credential.client_id) is not token.credential
    ):
        return problem(401, "Unauthorized", "The access token is invalid or has expired.", "unauthorized")
    if not token.scopes & set(scopes):
        needed = " or ".join(scopes)
        return problem(403, "Forbidden", f"The access token lacks the scope {needed}.", "forbidden")
    return token
