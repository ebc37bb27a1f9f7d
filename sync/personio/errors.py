"""What a person reads when talking to Personio fails: one place for every message and hint.

Each function returns a `SyncError` (code, message, hint). None of them is given a secret; text
that came from Personio is passed through the client's redaction first.
"""

from __future__ import annotations

from collections.abc import Collection

import httpx

from sync.core.errors import (
    AUTH_FAILED,
    FORBIDDEN,
    INVALID_RESPONSE,
    NOT_CONFIGURED,
    PERSONIO_UNAVAILABLE,
    RATE_LIMITED,
    SyncError,
)
from sync.core.text import one_line, server_excerpt
from sync.personio.limits import MAX_EMPLOYEES

# Why a request was retried: an HTTP status (429, 5xx), or no answer at all.
Failure = int | str  # 429 | 500..599 | "timeout" | "connection"
TIMEOUT = "timeout"
CONNECTION = "connection"

CREDENTIALS_HINT = (
    "Create new API credentials in Personio (Settings > Integrations > API credentials), "
    "then enter the new Client ID and Client Secret in the integration settings and run the Test again."
)
SERVER_HINT = (
    "Check the base URL in the integration settings (normally https://api.personio.de). "
    "If it is right, try again later; if it keeps happening, contact support with the run number."
)


PERSONIO_ORIGIN = "https://api.personio.de"
ADDRESS_HINT = (
    "Use https://api.personio.de. An operator can allow another address (a sandbox, a proxy) "
    "with PERSONIO_ALLOWED_BASE_URLS."
)


def _origin_parts(url: httpx.URL) -> tuple[str, str, int | None]:
    default = {"http": 80, "https": 443}.get(url.scheme)
    return url.scheme, url.host.lower(), url.port or default


def origin_allowed(origin: str, allowed_origins: Collection[str]) -> bool:
    """True when `origin` (scheme://host[:port]) is one of `allowed_origins`.

    An allowed entry `scheme://host:*` allows every port of that host (a local sandbox whose
    port is chosen at start). Hosts compare case-insensitively; a missing port is the default.
    """
    scheme, host, port = _origin_parts(httpx.URL(origin))
    for entry in allowed_origins:
        entry = entry.strip().rstrip("/")
        any_port = entry.endswith(":*")
        try:
            allowed = httpx.URL(entry.removesuffix(":*"))
        except httpx.InvalidURL:
            continue
        a_scheme, a_host, a_port = _origin_parts(allowed)
        if (a_scheme, a_host) == (scheme, host) and (any_port or a_port == port):
            return True
    return False


def address_refused() -> SyncError:
    # The address itself is left out: it is someone's input, and messages are shown as they are.
    return SyncError(
        NOT_CONFIGURED, "This Personio API address is not allowed on this installation.", ADDRESS_HINT
    )


def checked_base_url(raw: str, allowed_origins: Collection[str] = (PERSONIO_ORIGIN,)) -> tuple[str, str]:
    """`https://api.personio.de`, with or without a trailing `/v1` -> (origin, host for messages).

    Only an origin is accepted: no user name or password, path, query or fragment, and only one
    of `allowed_origins` (Personio's own unless the operator listed more). Raises
    SyncError(not_configured) otherwise: the stored secret is never sent anywhere else.
    """
    text = raw.strip().rstrip("/").removesuffix("/v1")
    try:
        url = httpx.URL(text)
    except httpx.InvalidURL:
        url = httpx.URL("")
    if url.scheme not in ("http", "https") or not url.host:
        raise SyncError(
            NOT_CONFIGURED,
            "The Personio API address is not a web address: it must start with https:// and name a host.",
            ADDRESS_HINT,
        )
    if url.userinfo or url.query or url.fragment or url.path not in ("", "/") or "#" in text or "?" in text:
        raise SyncError(
            NOT_CONFIGURED,
            "The Personio API address may only name the server (scheme, host and port): no user "
            "name, password, path, query or fragment.",
            ADDRESS_HINT,
        )
    origin = f"{url.scheme}://{url.host}" + (f":{url.port}" if url.port else "")
    if not origin_allowed(origin, allowed_origins):
        raise address_refused()
    host = f"{url.host}:{url.port}" if url.port else url.host
    return origin, host


def credentials_missing() -> SyncError:
    return SyncError(
        NOT_CONFIGURED,
        "The Personio Client ID and Client Secret are both required.",
        "Enter the Client ID and Client Secret of your Personio API credentials in the integration settings.",
    )


def credentials_rejected(status: int) -> SyncError:
    return SyncError(
        AUTH_FAILED, f"Personio rejected the Client ID / Client Secret ({status}).", CREDENTIALS_HINT
    )


def token_rejected(status: int = 401) -> SyncError:
    """Personio refused the token (401, or 403 "authorization is not valid") after a fresh sign-in."""
    return SyncError(
        AUTH_FAILED,
        f"Personio rejected the access token of these API credentials ({status}), "
        "also after signing in again.",
        CREDENTIALS_HINT,
    )


def employees_forbidden() -> SyncError:
    return SyncError(
        FORBIDDEN,
        "These Personio API credentials may not read employees (403).",
        "In Personio: Settings > Integrations > API credentials > (your credential): give it read access "
        "to employees (Employee data / Personnel data), save, and run the Test again.",
    )


def unexpected_status(path: str, status: int, detail: str) -> SyncError:
    """An answer no other rule covers; `detail` (Personio's text) appears only as a short quoted excerpt."""
    excerpt = server_excerpt(detail)
    suffix = f": {excerpt}" if excerpt else ""
    return SyncError(INVALID_RESPONSE, f"Personio answered {path} with HTTP {status}{suffix}.", SERVER_HINT)


def unreadable_twice(reason: str) -> SyncError:
    """`reason` may quote Personio (`it says success: false (...)`): it is kept short and on one line."""
    return SyncError(
        INVALID_RESPONSE,
        f"Personio sent an answer the sync cannot read, twice in a row ({one_line(reason, limit=120)}).",
        SERVER_HINT,
    )


def inconsistent_twice(reason: str) -> SyncError:
    return SyncError(
        INVALID_RESPONSE,
        f"Personio's employee list changed while it was being read, twice in a row ({reason}).",
        "This happens when many employees are edited during a sync. Try again in a few minutes.",
    )


def gave_up(failure: Failure, attempts: int, host: str) -> SyncError:
    """The error after `attempts` tries that all failed with a retriable `failure`."""
    if failure == 429:
        return SyncError(
            RATE_LIMITED,
            f"Personio kept answering 'too many requests' (429), {attempts} times in a row.",
            "Something else may be using up these API credentials' allowance (300 requests per minute). "
            "Wait a few minutes and try again.",
        )
    if failure == TIMEOUT:
        what = "did not answer in time"
    elif failure == CONNECTION:
        what = "could not be reached"
    else:
        what = f"answered with a server error ({failure})"
    return SyncError(
        PERSONIO_UNAVAILABLE,
        f"Personio at {host} {what}, {attempts} times in a row.",
        "Personio may be down or unreachable from here. The next run tries again; "
        "if this keeps happening, check the base URL in the integration settings.",
    )


def describe(failure: Failure) -> str:
    """A short phrase for progress messages while retrying."""
    if failure == 429:
        return "Personio asked us to slow down (429)"
    if failure == TIMEOUT:
        return "Personio did not answer in time"
    if failure == CONNECTION:
        return "Personio could not be reached"
    return f"Personio had a server error ({failure})"


DEADLINE_HINT = (
    "Personio may be overloaded, or the connection from here slow. Nothing was changed; the next run "
    "tries again. If it keeps happening, an operator can allow more time with "
    "PERSONIO_RUN_DEADLINE_SECONDS (at most 1800)."
)


def too_slow(detail: str) -> SyncError:
    """The fetch passed its deadline (PERSONIO_RUN_DEADLINE_SECONDS, or the one derived from the
    company's size); `detail` says how far it got, e.g. "200 of 512 employees in 130 s"."""
    return SyncError(PERSONIO_UNAVAILABLE, f"Personio answered too slowly: {detail}.", DEADLINE_HINT)


def page_too_large(max_bytes: int) -> SyncError:
    return SyncError(
        INVALID_RESPONSE,
        f"Personio sent a page of employees larger than {max_bytes / 1_000_000:g} MB; the sync stopped "
        "reading it.",
        "A page of 100 employees is normally far smaller: this is a fault at Personio or on the way "
        "(a proxy). Nothing was changed; the next run tries again. If it keeps happening, contact "
        "support with the run number (an operator can raise PERSONIO_MAX_PAGE_BYTES).",
    )


def too_many_employees(total: int, limit: int, known: int | None) -> SyncError:
    """`total_elements` beyond `limit` (MAX_EMPLOYEES, or ten times the `known` count of the last
    successful run): a fault, not a company; the fetch stops before reading further pages."""
    if known is not None and limit < MAX_EMPLOYEES:
        why = f"more than ten times the {known:,} employees of the last successful run"
    else:
        why = f"more than the {limit:,} this installation accepts"
    return SyncError(
        INVALID_RESPONSE,
        f"Personio reported {total:,} employees, {why}; the sync did not read further.",
        "This is almost always a fault at Personio. Nothing was changed; the next run tries again. "
        "If your company really has this many employees, contact support.",
    )


# -- webhooks (API v2) -------------------------------------------------------------------------
# Codes of their own: only near-real-time updates meet them (sync.core.errors holds the run's).
MISSING_WEBHOOK_SCOPE = "missing_webhook_scope"
WEBHOOK_URL_REJECTED = "webhook_url_rejected"
WEBHOOK_CONFLICT = "webhook_conflict"
WEBHOOK_SCOPE = "personio:webhooks:write"


def webhook_scope_missing() -> SyncError:
    return SyncError(
        MISSING_WEBHOOK_SCOPE,
        "Personio refused to manage webhooks with these credentials.",
        f"In Personio (Settings > Integrations > API credentials > your credential), grant the scope "
        f"{WEBHOOK_SCOPE}, save, then switch near-real-time updates on again.",
    )


def webhook_url_rejected(detail: str) -> SyncError:
    """Personio refused the receiver's address (it must be https and reachable from the internet)."""
    excerpt = server_excerpt(detail)
    suffix = f": {excerpt}" if excerpt else ""
    return SyncError(
        WEBHOOK_URL_REJECTED,
        f"Personio refused the address it should send changes to{suffix}.",
        "An operator sets PUBLIC_WEBHOOK_BASE_URL to the public https:// address of the webhook "
        "receiver (no path, query or password), then switch near-real-time updates on again.",
    )


def webhook_conflict() -> SyncError:
    return SyncError(
        WEBHOOK_CONFLICT,
        "Personio already has a webhook for this address that the sync could not replace.",
        "In Personio, delete the webhook whose address ends in /personio/webhooks/..., then switch "
        "near-real-time updates on again.",
    )
