"""Personio's v1 endpoints: `/v1/auth` and `/v1/company/employees[...]`, faults and limits included.

Every function here runs with the sandbox lock held and returns a `Response`; the server does the
waiting (latency, hangs) and the sending.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sandbox.company import Employee
from sandbox.credentials import SCOPE, TOKEN_LIFETIME, Credential
from sandbox.dates import parse_since
from sandbox.encoding import (
    Attribute,
    describe_attributes,
    encode_employee,
    projection,
    readable_attributes,
)
from sandbox.ratelimit import retry_after_header
from sandbox.state import SandboxState
from sandbox.wire import Request, Response, json_response, personio_error

DEFAULT_LIMIT = 50
MAX_LIMIT = 100
INVALID_AUTHORIZATION = "Provided authorization is not valid"
FORBIDDEN_EXCEPTION = "personio.core.api.exceptions.api.forbidden.http.exception"

# Gateways in front of Personio answer 502-504 with an HTML page, not the JSON envelope.
_GATEWAY_PAGE = (
    "<html><head><title>{status} {reason}</title></head>"
    "<body><center><h1>{status} {reason}</h1></center></body></html>"
)
_REASONS = {502: "Bad Gateway", 503: "Service Temporarily Unavailable", 504: "Gateway Time-out"}


def too_many_requests(state: SandboxState, retry_after: float) -> Response:
    """429 with the v1 envelope and a `Retry-After` header."""
    state.stats.rate_limited += 1
    response = personio_error(429, "Too Many Requests")
    response.headers["Retry-After"] = retry_after_header(retry_after)
    return response


def server_error(status: int) -> Response:
    """A 5xx: Personio's own envelope for 500, a gateway's HTML page for the others."""
    if status == 500:
        return personio_error(500, "Something went wrong")
    page = _GATEWAY_PAGE.format(status=status, reason=_REASONS[status])
    return Response(status=status, body=page.encode(), content_type="text/html")


# ----- POST /v1/auth -------------------------------------------------------------------------------


def authenticate(state: SandboxState, request: Request) -> Response:
    """Exchange client id and secret (query string, JSON or form body) for a bearer token."""
    state.stats.auth_calls += 1
    faults = state.faults
    if faults.take("auth_server_error"):
        return server_error(500)
    client_id, client_secret = _credentials_from(request)
    if state.config.rate_limit:
        wait = state.auth_limiter.admit(client_id or "", state.monotonic())
        if wait is not None:
            return too_many_requests(state, wait)
    token = None
    if client_id and client_secret and not faults.wrong_credentials:
        token = state.credentials.authenticate(client_id, client_secret, state.wall_clock())
    if token is None:
        return personio_error(401, "Wrong credentials")
    return json_response(
        200, {"success": True, "data": {"token": token.value, "expires_in": TOKEN_LIFETIME, "scope": SCOPE}}
    )


def _credentials_from(request: Request) -> tuple[str | None, str | None]:
    """client_id and client_secret from the body (JSON or form), else the query string."""
    fields: dict[str, Any] = {}
    if request.content_type == "application/json":
        try:
            parsed = request.json()
        except ValueError:
            parsed = None
        fields = parsed if isinstance(parsed, dict) else {}
    elif request.body:
        fields = {name: values[0] for name, values in request.form().items()}

    def pick(name: str) -> str | None:
        value = fields.get(name)
        if value is None:
            value = request.param(name)
        return value if isinstance(value, str) else None

    return pick("client_id"), pick("client_secret")


# ----- GET /v1/company/employees[...] --------------------------------------------------------------


# (state, request, credential, **path parameters) -> Response
EmployeeEndpoint = Callable[..., Response]


def employee_endpoint(endpoint: EmployeeEndpoint) -> Callable[..., Response]:
    """Wrap an employees endpoint with what every such request goes through: request faults, the
    bearer token, the rate limit, then (on success) body faults and the echoed token."""

    def guarded(state: SandboxState, request: Request, **params: str) -> Response:
        state.stats.employee_requests += 1
        delay = state.faults.hang_seconds if state.faults.take("hang") else 0.0
        response = _refusal(state) or _answer(state, request, endpoint, params)
        response.delay += delay
        return response

    return guarded


def _refusal(state: SandboxState) -> Response | None:
    """A 429 storm or 5xx fault, answered before authentication is even looked at."""
    if state.faults.take("rate_limit_storm"):
        return too_many_requests(state, 1)
    if state.faults.take("server_error"):
        return server_error(state.faults.server_error_status)
    return None


def _answer(
    state: SandboxState, request: Request, endpoint: EmployeeEndpoint, params: dict[str, str]
) -> Response:
    token = _bearer_token(request)
    if isinstance(token, Response):
        return token
    credential = state.credentials.holder(token, state.wall_clock())
    if credential is None:
        if state.credentials.issued(token):
            # Expired, revoked, or issued before a reset: Personio's wording for dead tokens.
            return personio_error(401, "The token has been blacklisted")
        # Never issued here at all: Personio's 403 for authorization it does not recognise.
        return personio_error(403, INVALID_AUTHORIZATION)
    if not credential.employees_access:
        # Signed in, but the credential has no read access to employees (a missing scope).
        return personio_error(403, FORBIDDEN_EXCEPTION, code=0)
    if state.config.rate_limit:
        wait = state.employee_limiter.admit(credential.client_id, state.monotonic())
        if wait is not None:
            return too_many_requests(state, wait)
    response = endpoint(state, request, credential, **params)
    if response.status == 200:
        _spoil(state, response)
        # Personio echoes the (stable) token on every successful personnel-data response.
        response.headers["authorization"] = f"Bearer {token}"
    return response


def _bearer_token(request: Request) -> str | Response:
    """The token from `Authorization: Bearer papi-...`, or the 401/403 Personio gives without one."""
    header = request.headers.get("authorization", "").strip()
    if not header:
        return personio_error(401, "Authorization is not provided")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token.startswith("papi-"):
        return personio_error(403, INVALID_AUTHORIZATION)
    return token


def _spoil(state: SandboxState, response: Response) -> None:
    """Body faults: invalid JSON, a body cut off mid-way with the connection dropped, a body padded
    to many megabytes, a body sent one byte at a time."""
    faults = state.faults
    if faults.take("malformed_json"):
        # Same length and start as a real page, but a trailing comma makes it unparseable.
        response.body = response.body[:-1] + b",}"
    elif faults.take("truncated_page"):
        response.cut_short = True
    if faults.take("oversized_page") and response.body.endswith(b"}"):
        # Still valid JSON: the envelope gains a "padding" string up to the size asked for.
        padding = max(0, int(faults.oversized_megabytes * 1_000_000) - len(response.body) - 13)
        response.body = response.body[:-1] + b',"padding":"' + b"x" * padding + b'"}'
    if faults.take("drip"):
        epoch = faults.drip_epoch
        response.drip_seconds, response.drip_forever = faults.drip_seconds, faults.drip_forever
        # Read without the lock by the sending thread: a dripping answer must not hold it.
        response.dripping = lambda: state.faults is faults and faults.drip_epoch == epoch


def _requested(request: Request) -> list[str]:
    """The `attributes[]` keys asked for (plain `attributes` too, which some clients send)."""
    return [*request.query.get("attributes[]", []), *request.query.get("attributes", [])]


def _readable(state: SandboxState, credential: Credential) -> tuple[Attribute, ...]:
    """The credential's whitelist, minus what the `withheld_attributes` fault hides from everyone."""
    return readable_attributes(credential.withheld | state.faults.withheld_attributes)


def _visible(state: SandboxState, request: Request, credential: Credential) -> tuple[Attribute, ...]:
    return projection(_readable(state, credential), _requested(request))


def _int_param(request: Request, name: str, default: int) -> int | None:
    text = request.param(name)
    if text is None or text.strip() == "":
        return default
    try:
        return int(text)
    except ValueError:
        return None


def list_employees(state: SandboxState, request: Request, credential: Credential) -> Response:
    """`GET /v1/company/employees`: a page of employees by id, with record `offset` and `limit`."""
    limit = _int_param(request, "limit", DEFAULT_LIMIT)
    if limit is None or not 1 <= limit <= MAX_LIMIT:
        return personio_error(422, f"The limit must be between 1 and {MAX_LIMIT}.", code=0)
    offset = _int_param(request, "offset", 0)
    if offset is None or offset < 0:
        return personio_error(422, "The offset must be a non-negative integer.", code=0)
    attributes = _visible(state, request, credential)
    company = state.company

    matches: list[Employee] | None = None  # None: everyone, served straight from the id order
    since_text = request.param("updated_since")
    email = request.param("email")
    if state.faults.empty_result:
        matches = []
    elif since_text:
        try:
            since = parse_since(since_text)
        except ValueError:
            return personio_error(422, "The updated_since must be YYYY-MM-DD or ISO 8601.", code=0)
        matches = _updated_since(company.ordered(), since, request, attributes)
    elif email and email.strip():
        matches = company.with_email(email)  # Personio ignores email when updated_since is given

    total = company.count() if matches is None else len(matches)
    served = reported = total
    if state.faults.take("total_drift"):
        # total_elements and the records served disagree: phantom records that never come (delta > 0),
        # or the last records missing while still counted (delta < 0). Visible even on a single page.
        drift = state.faults.drift_delta
        if drift > 0:
            reported = total + drift
        else:
            served = max(0, total + drift)
    if state.faults.take("absurd_total"):
        reported = state.faults.absurd_total  # a number no real company has; the records stay as they are
    stop = min(offset + limit, served)
    page = company.ordered_slice(offset, stop) if matches is None else matches[offset:stop]
    payload = {
        "success": True,
        "metadata": {
            "total_elements": reported,
            "current_page": offset // limit,
            "total_pages": math.ceil(reported / limit),
        },
        "offset": offset,
        "limit": limit,
        "data": [encode_employee(employee, company, attributes) for employee in page],
    }
    return json_response(200, payload)


def _updated_since(
    employees: list[Employee], since: datetime, request: Request, attributes: tuple[Attribute, ...]
) -> list[Employee]:
    """Employees changed at or after `since`. With `attributes[]`, only those with one of the requested
    attributes changed count (Personio's "selection filter")."""
    since = since.astimezone(UTC)  # stamps are UTC; comparing like with like skips offset lookups
    if not _requested(request):
        return [e for e in employees if e.last_modified_at >= since]
    keys = [a.key for a in attributes if a.key != "id"]
    return [e for e in employees if any(e.changed_at(key) >= since for key in keys)]


def get_employee(state: SandboxState, request: Request, credential: Credential, employee_id: str) -> Response:
    """`GET /v1/company/employees/{id}`: one employee, or Personio's (German) 404."""
    employee = state.company.employees.get(int(employee_id))  # the route only matches digits
    if employee is None:
        return personio_error(404, "Es ist ein Problem aufgetreten ")
    data = encode_employee(employee, state.company, _visible(state, request, credential))
    return json_response(200, {"success": True, "data": data})


def list_attributes(state: SandboxState, request: Request, credential: Credential) -> Response:
    """`GET /v1/company/employees/attributes`: the attribute keys this credential may read."""
    return json_response(200, {"success": True, "data": describe_attributes(_readable(state, credential))})
