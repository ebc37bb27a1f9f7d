"""Personio v1 API client: sign-in, paced pagination of `company/employees`, retries, typed errors.

One class does the talking (`PersonioClient`). `_send` is the one place that sorts answers into
retriable (429, 5xx, timeouts, refused connections) and final ones; `_call` turns final ones into a
`SyncError`. Around it: `parsing` (answers and records, pure), `pacing` (rate
limits and back-off, pure), `limits` (deadlines and size caps, pure) and `errors` (every message
and hint a person reads). No message, log line or repr ever holds the client secret or a token.

Every request has a whole-response deadline and a size cap (the body is streamed and dropped
past PERSONIO_MAX_PAGE_BYTES); every fetch has a deadline that retries, back-off and pacing count
against; a fetch may be abandoned through a stop event, checked between chunks, pages and waits.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import random
import re
import ssl
import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from queue import SimpleQueue
from types import TracebackType
from typing import TypeVar

import httpx

from sync.core.employees import REQUIRED_ATTRIBUTES, SYNC_ATTRIBUTES, Employee, SkippedRecord
from sync.personio.budget import ConnectionInUse, FetchBudget, HangUpOnStop
from sync.personio.errors import (
    CONNECTION,
    PERSONIO_ORIGIN,
    TIMEOUT,
    Failure,
    address_refused,
    checked_base_url,
    credentials_missing,
    credentials_rejected,
    describe,
    employees_forbidden,
    gave_up,
    inconsistent_twice,
    origin_allowed,
    page_too_large,
    token_rejected,
    too_many_employees,
    unexpected_status,
    unreadable_twice,
)
from sync.personio.limits import (
    DEFAULT_MAX_PAGE_BYTES,
    DEFAULT_REQUEST_DEADLINE_SECONDS,
    PAGE_SIZE,
    employee_limit,
)
from sync.personio.pacing import (
    DEFAULT_HOST_RATE_LIMIT,
    DEFAULT_RATE_LIMIT,
    RateLimit,
    backoff_delay,
    parse_retry_after,
    shared_host_pacer,
    shared_pacer,
)
from sync.personio.parsing import (
    EmployeesPage,
    MalformedResponse,
    check_required,
    error_message,
    parse_records,
    read_auth_answer,
    read_employees_page,
    record_id,
    says_authorization_invalid,
)

logger = logging.getLogger("sync.personio")

APP_ID = "PERSONIO_SYNC"  # X-Personio-App-ID: Personio asks for UPPER_SNAKE_CASE
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)  # per read; each request also has a whole deadline
AUTH_PATH = "/v1/auth"
EMPLOYEES_PATH = "/v1/company/employees"
REPORT_POLL_SECONDS = 0.2  # how often progress from the page-reading thread is passed on
SEND_WAIT_SECONDS = 0.05  # at most this long for the next page's request to go out before parsing
TOKEN_REFRESH_MARGIN = 60.0  # sign in again a minute before the token runs out


class _RedactBearer(logging.Filter):
    """httpcore logs response headers at DEBUG, and Personio echoes the token in `authorization`."""

    _bearer = re.compile(r"(?i)(bearer\s+)[^\s'\",)\]]+")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = self._bearer.sub(r"\1***", message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


for _name in ("httpcore.http11", "httpcore.http2", "httpx"):
    logging.getLogger(_name).addFilter(_RedactBearer())

T = TypeVar("T")


@dataclass(frozen=True)
class FetchProgress:
    """Reported to the optional `on_progress` callback while a fetch runs."""

    phase: str  # "auth" | "page" | "retry"
    fetched: int  # employees so far
    total: int | None  # total_elements when known
    message: str  # e.g. "Fetched 200 of 512 employees"


@dataclass(frozen=True)
class FetchResult:
    employees: list[Employee]
    skipped: list[SkippedRecord]
    present_attributes: frozenset[str]  # attribute keys seen in at least one record
    pages: int  # pages of the listing that was returned
    requests: int  # every HTTP request this fetch sent, sign-in and retries included
    auth_calls: int  # POST /v1/auth requests this fetch sent
    # SHA-256 over the pages' own digests, in order: the same listing, byte for byte, gives the
    # same digest (a run then knows Personio returned exactly what it returned last time).
    digest: str = ""


RateLimitSetting = RateLimit | None  # None: no pacing (the caller decides, see pacing.rate_limit_per_minute)


class _Secret:
    """Holds a secret so that no repr (of it, or of the client's __dict__) can show it."""

    __slots__ = ("value",)

    def __init__(self, value: str) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "'***'"


@dataclass(frozen=True)
class _Answer:
    """A response whose body was read within its deadline and size cap."""

    status_code: int
    headers: httpx.Headers
    content: bytes


class _RequestDeadline(Exception):
    """One request's whole-response deadline passed while its body was still coming (a drip)."""


class _InconsistentPaging(Exception):
    """Pages that do not add up: the whole listing is fetched once more, then `invalid_response`."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PersonioClient:
    """A client for one set of Personio API credentials. Not thread-safe: one fetch at a time.

    The token is reused until it expires. Pacing is shared by every client of the same credentials
    in this process, and the host ceiling by every client talking to the same address. Use it as a
    context manager (or call `close()`) to release the connection pool.

    `request_deadline`: seconds one request may take, headers and whole body (the per-read
    `timeout` alone lets a drip go on forever). `run_deadline`: seconds one `fetch_employees` may
    take, retries and waits included; None derives it from the company's size and the pacing
    (`limits.derived_run_deadline`). `max_page_bytes`: the largest body read. `known_employees`:
    what the last successful run fetched; a `total_elements` far beyond it (or beyond 1,000,000)
    stops the fetch (`limits.employee_limit`).
    """

    def __init__(
        self,
        *,
        base_url: str,
        client_id: str,
        client_secret: str,
        rate_limit: RateLimitSetting = DEFAULT_RATE_LIMIT,
        host_rate_limit: RateLimitSetting = DEFAULT_HOST_RATE_LIMIT,
        request_deadline: float = DEFAULT_REQUEST_DEADLINE_SECONDS,
        run_deadline: float | None = None,
        max_page_bytes: int = DEFAULT_MAX_PAGE_BYTES,
        known_employees: int | None = None,
        max_attempts: int = 5,
        backoff_base: float = 1.0,
        timeout: httpx.Timeout | None = None,
        on_progress: Callable[[FetchProgress], None] | None = None,
        transport: httpx.BaseTransport | None = None,
        allowed_origins: Collection[str] = (PERSONIO_ORIGIN,),
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if backoff_base < 0:
            raise ValueError("backoff_base must not be negative")
        if request_deadline <= 0 or (run_deadline is not None and run_deadline <= 0):
            raise ValueError("deadlines must be positive")
        if max_page_bytes < 1:
            raise ValueError("max_page_bytes must be at least 1")
        # The address is checked here, before any connection, whatever the caller checked before:
        # a database row changed by hand must not send the secret anywhere else either.
        self._base_url, self._host = checked_base_url(base_url, allowed_origins)
        if not client_id.strip() or not client_secret.strip():
            raise credentials_missing()
        self._client_id = client_id.strip()
        self._client_secret = _Secret(client_secret.strip())
        self._pacer = (
            shared_pacer(self._base_url, self._client_id, rate_limit) if rate_limit is not None else None
        )
        self._host_pacer = (
            shared_host_pacer(self._base_url, host_rate_limit) if host_rate_limit is not None else None
        )
        self._rate_limits = (rate_limit, host_rate_limit)
        self._request_deadline = request_deadline
        self._run_deadline = run_deadline
        self._max_page_bytes = max_page_bytes
        self._known_employees = known_employees
        self._max_attempts = max_attempts
        self._backoff_base = backoff_base
        self._timeout = timeout if timeout is not None else DEFAULT_TIMEOUT
        self._on_progress = on_progress
        self._transport = transport
        self._rng = random.Random()
        self._http: httpx.Client | None = None
        self._token: _Secret | None = None
        self._token_expires_at = 0.0
        # Per fetch: counters, the one re-authentication a 401 may cause, and progress so far.
        self._requests = 0
        self._auth_calls = 0
        self._reauth_left = 1
        self._budget = self._new_budget(None)  # the deadline, stop event and progress of a fetch
        self._connection = ConnectionInUse()
        self._owner = threading.current_thread()  # the thread whose fetch reports progress
        self._reports: SimpleQueue[FetchProgress] = SimpleQueue()

    def _new_budget(self, stop: threading.Event | None) -> FetchBudget:
        return FetchBudget(
            run_deadline=self._run_deadline,
            rate_limits=self._rate_limits,
            employees=self._known_employees or 0,
            stop=stop,
        )

    def __repr__(self) -> str:
        return f"PersonioClient(base_url={self._base_url!r}, client_id={self._client_id!r})"

    def __enter__(self) -> PersonioClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Release the HTTP connection pool. The client may be used again afterwards."""
        if self._http is not None:
            self._http.close()
            self._http = None

    def fetch_employees(
        self,
        *,
        attributes: Sequence[str] = SYNC_ATTRIBUTES,
        required: Iterable[str] = REQUIRED_ATTRIBUTES,
        stop: threading.Event | None = None,
    ) -> FetchResult:
        """Every employee Personio returns to these credentials, normalized.

        Asks only for `attributes` (plus `required`). Raises SyncError with code auth_failed,
        forbidden, rate_limited, personio_unavailable (also when the fetch passes its deadline),
        invalid_response (also for a page over the size cap or an absurd `total_elements`), or
        missing_attribute (when employees came back but a `required` attribute is absent from every
        record). Raises FetchAbandoned as soon as it sees `stop` set (between chunks, pages and waits).
        """
        required_keys = tuple(dict.fromkeys(required))
        wanted = tuple(dict.fromkeys([*attributes, *required_keys]))
        self._requests = self._auth_calls = 0
        self._reauth_left = 1
        self._budget = self._new_budget(stop)
        self._owner = threading.current_thread()
        with HangUpOnStop(stop, self._connection.current):
            employees, skipped, present, pages, digest = self._listing(wanted)
        if employees or skipped:
            check_required(required_keys, present)
        logger.info(
            "Fetched %d employees (%d skipped) from %s in %d pages, %d requests, %d sign-ins",
            len(employees),
            len(skipped),
            self._host,
            pages,
            self._requests,
            self._auth_calls,
        )
        return FetchResult(
            employees=employees,
            skipped=skipped,
            present_attributes=present,
            pages=pages,
            requests=self._requests,
            auth_calls=self._auth_calls,
            digest=digest,
        )

    # -- pagination ---------------------------------------------------------------------------

    def _listing(
        self, attributes: Sequence[str]
    ) -> tuple[list[Employee], list[SkippedRecord], frozenset[str], int, str]:
        """The listing; pages that do not fit together are read once more, then invalid_response."""
        try:
            return self._list_employees(attributes)
        except _InconsistentPaging as first:
            logger.warning(
                "Personio paging was inconsistent (%s); reading the whole list once more", first.reason
            )
            self._report("retry", "Personio's pages did not fit together; reading the list again")
            try:
                return self._list_employees(attributes)
            except _InconsistentPaging as second:
                raise inconsistent_twice(second.reason) from None

    def _list_employees(
        self, attributes: Sequence[str]
    ) -> tuple[list[Employee], list[SkippedRecord], frozenset[str], int, str]:
        """Every employee, page by page (`offset += limit` until `total_elements`).

        The next page is requested (in one helper thread, one request at a time, as before) while
        this one is parsed: parsing then costs no time of its own, it happens while Personio
        prepares the next answer. At most two pages of raw JSON are held, never the whole listing.
        Returns (employees, skipped records, attribute keys seen, pages, the listing's digest).
        """
        employees: list[Employee] = []
        skipped: list[SkippedRecord] = []
        present: set[str] = set()
        seen: set[str] = set()
        listing = hashlib.sha256()
        total: int | None = None
        offset = pages = received = 0
        self._budget.fetched, self._budget.total = 0, None
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="personio-page") as pages_ahead:
            pending: Future[EmployeesPage] | None = pages_ahead.submit(self._page, attributes, offset)
            try:
                while pending is not None:
                    page = self._await(pending)
                    pending = None
                    pages += 1
                    listing.update(page.digest)
                    if total is None:
                        total = page.total
                        self._check_total(total)
                        self._budget.resize(total)
                    elif page.total != total:
                        raise _InconsistentPaging(f"total_elements went from {total} to {page.total}")
                    step = _page_step(page, offset, total, seen)
                    offset += step
                    if offset < total:
                        self._connection.sent.clear()
                        pending = pages_ahead.submit(self._page, attributes, offset)
                        # Parsing holds the interpreter lock for a few milliseconds, as long as the
                        # helper would wait for it before sending: the request goes out first.
                        self._connection.sent.wait(SEND_WAIT_SECONDS)
                    page_employees, page_skipped, page_present = parse_records(page.records)
                    employees.extend(page_employees)
                    skipped.extend(page_skipped)
                    present.update(page_present)
                    received += len(page.records)
                    self._budget.fetched, self._budget.total = received, total
                    self._report("page", f"Fetched {received} of {total} employees")
            finally:
                if pending is not None:  # left early: the page asked for ahead is not wanted
                    with contextlib.suppress(Exception):
                        self._await(pending)
        return employees, skipped, frozenset(present), pages, listing.hexdigest()

    def _page(self, attributes: Sequence[str], offset: int) -> EmployeesPage:
        params = httpx.QueryParams(
            [("limit", PAGE_SIZE), ("offset", offset), *(("attributes[]", key) for key in attributes)]
        )
        return self._call("GET", EMPLOYEES_PATH, params=params, parse=read_employees_page)

    def _await(self, pending: Future[T]) -> T:
        """The result of a request made in the helper thread; meanwhile its progress reports reach
        `on_progress` from this thread (a dashboard can only draw from the thread that runs it)."""
        while True:
            done, _ = wait([pending], timeout=REPORT_POLL_SECONDS)
            self._flush_reports()
            if done:
                return pending.result()

    # -- deadlines and limits -----------------------------------------------------------------

    def _check_total(self, total: int) -> None:
        limit = employee_limit(self._known_employees)
        if total > limit:
            logger.error("Personio reported %d employees, more than the limit of %d", total, limit)
            raise too_many_employees(total, limit, self._known_employees)

    def _paced(self) -> None:
        """Wait for a slot of the credential's pacing and the host ceiling together."""
        pacers = [pacer for pacer in (self._pacer, self._host_pacer) if pacer is not None]
        if pacers:
            pacers[0].acquire(also=pacers[1:], sleep=self._budget.pause)

    def _timeout_until(self, until: float) -> httpx.Timeout:
        """The per-read timeouts, none reaching past `until` (time.monotonic())."""
        left = max(0.001, self._budget.left(until))

        def capped(value: float | None) -> float:
            return left if value is None else min(value, left)

        timeout = self._timeout
        return httpx.Timeout(
            connect=capped(timeout.connect),
            read=capped(timeout.read),
            write=capped(timeout.write),
            pool=capped(timeout.pool),
        )

    def _read_body(self, response: httpx.Response, until: float) -> bytes:
        """The body, streamed: SyncError(invalid_response) once it passes the size cap (what came is
        dropped), _RequestDeadline once `until` passes, FetchAbandoned when stopped meanwhile.

        The cap counts decoded bytes chunk by chunk, so at most one chunk beyond it is ever held.
        """
        declared = response.headers.get("content-length", "").strip()
        if declared.isdigit() and int(declared) > self._max_page_bytes:
            raise page_too_large(self._max_page_bytes)
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > self._max_page_bytes:
                chunks.clear()
                raise page_too_large(self._max_page_bytes)
            chunks.append(chunk)
            if self._budget.passed(until):
                raise _RequestDeadline()
            self._budget.check_stop()
        self._budget.check_stop()  # a hang-up also ends a body that has no length
        return b"".join(chunks)

    # -- one logical request ------------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        *,
        parse: Callable[[bytes], T],
        params: httpx.QueryParams | None = None,
        json_body: Mapping[str, str] | None = None,
        authorized: bool = True,
    ) -> T:
        """Send until there is a usable answer: transient failures are retried in `_send`, an unreadable
        answer is refetched once, a refused token (401, or 403 "authorization is not valid") signs in
        again once per fetch."""
        refetched = False
        while True:
            headers = {"Authorization": f"Bearer {self._valid_token().value}"} if authorized else {}
            try:
                response = self._send(method, path, params=params, json_body=json_body, headers=headers)
                if authorized and self._reauth_left > 0 and _token_refused(response):
                    self._reauth_left -= 1
                    self._token = None
                    logger.warning(
                        "Personio %s %s -> %d (token not accepted); signing in again once",
                        method,
                        path,
                        response.status_code,
                    )
                    continue
                self._raise_for_status(response, path, authorized=authorized)
                result = parse(response.content)
            except MalformedResponse as bad:
                if refetched:
                    raise unreadable_twice(self._redact(bad.reason)) from None
                refetched = True
                logger.warning(
                    "Personio %s %s -> unreadable answer (%s); asking once more", method, path, bad.reason
                )
                self._report("retry", "Personio sent an unreadable answer; asking once more")
                continue
            if authorized:
                self._adopt_token(response)
            return result

    def _send(
        self,
        method: str,
        path: str,
        *,
        params: httpx.QueryParams | None,
        json_body: Mapping[str, str] | None,
        headers: Mapping[str, str],
    ) -> _Answer:
        """One request, paced, retried with back-off on 429, 5xx, timeouts (a whole response that
        passes its deadline included) and connection errors.

        Returns any other response with its body read. Raises SyncError once the tries are used up,
        when the fetch passes its deadline or the body its size cap; MalformedResponse when the body
        breaks off; FetchAbandoned when the stop event is set.
        """
        http = self._http_client()
        attempt = 0
        while True:
            attempt += 1
            self._budget.check()
            self._paced()
            self._requests += 1
            if path == AUTH_PATH:
                self._auth_calls += 1
            retry_after: float | None = None
            failure: Failure
            until = self._budget.until(self._request_deadline)
            request = http.build_request(
                method,
                path,
                params=params,
                json=json_body,
                headers=headers,
                timeout=self._timeout_until(until),
                extensions={"trace": self._connection.trace},
            )
            # Every connection goes to the origin the credentials were checked for, nowhere else.
            if request.url.userinfo or not origin_allowed(
                f"{request.url.scheme}://{request.url.netloc.decode('ascii')}", (self._base_url,)
            ):
                raise address_refused()
            response: httpx.Response | None = None
            try:
                response = http.send(request, stream=True)
                if response.status_code != 429 and response.status_code < 500:
                    body = self._read_body(response, until)
                    return _Answer(response.status_code, response.headers, body)
                failure = response.status_code
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
            except (httpx.TimeoutException, _RequestDeadline):
                failure = TIMEOUT
            except (httpx.TransportError, httpx.DecodingError):
                self._budget.check_stop()  # the connection was hung up because of the stop
                if response is not None:  # the status line came, the body broke off
                    raise MalformedResponse("the answer was cut off") from None
                failure = CONNECTION
            finally:
                if response is not None:
                    response.close()
            self._budget.check()
            if attempt >= self._max_attempts:
                logger.error(
                    "Personio %s %s -> %s; giving up after %d attempts", method, path, failure, attempt
                )
                raise gave_up(failure, attempt, self._host)
            delay = backoff_delay(attempt, base=self._backoff_base, retry_after=retry_after, rng=self._rng)
            logger.warning(
                "Personio %s %s -> %s; attempt %d of %d, retrying in %.2f s",
                method,
                path,
                failure,
                attempt,
                self._max_attempts,
                delay,
            )
            self._report(
                "retry", f"{describe(failure)}; trying again in {delay:.0f} s (attempt {attempt + 1})"
            )
            self._budget.pause(delay)

    # -- sign-in ------------------------------------------------------------------------------

    def _valid_token(self) -> _Secret:
        if self._token is None or time.monotonic() >= self._token_expires_at:
            self._authenticate()
        assert self._token is not None
        return self._token

    def _authenticate(self) -> None:
        self._report("auth", "Signing in to Personio")
        body = {"client_id": self._client_id, "client_secret": self._client_secret.value}
        token, expires_in = self._call(
            "POST", AUTH_PATH, json_body=body, parse=read_auth_answer, authorized=False
        )
        self._token = _Secret(token)
        self._token_expires_at = time.monotonic() + max(expires_in - TOKEN_REFRESH_MARGIN, expires_in / 2)

    def _adopt_token(self, response: _Answer) -> None:
        """Personio echoes the token as `authorization: Bearer <token>`; use that one next."""
        header = response.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            self._token = _Secret(token.strip())

    # -- errors -------------------------------------------------------------------------------

    def _raise_for_status(self, response: _Answer, path: str, *, authorized: bool) -> None:
        status = response.status_code
        if 200 <= status < 300:
            return
        if not authorized and status in (401, 403):
            raise credentials_rejected(status)
        if _token_refused(response):
            raise token_rejected(status)
        if status == 403:
            raise employees_forbidden()
        raise unexpected_status(path, status, self._redact(error_message(response.content)))

    def _redact(self, text: str) -> str:
        """Server text for a message: one line, short, and never holding the secret or a token."""
        for secret in (self._client_secret, self._token):
            if secret is not None and secret.value:
                text = text.replace(secret.value, "***")
        text = " ".join(text.split())
        return text if len(text) <= 200 else text[:199] + "…"

    # -- plumbing -----------------------------------------------------------------------------

    def _http_client(self) -> httpx.Client:
        if self._http is None:
            self._http = httpx.Client(
                base_url=self._base_url,
                timeout=self._timeout,
                transport=self._transport,
                verify=_shared_ssl_context(),
                headers={"X-Personio-App-ID": APP_ID, "Accept": "application/json"},
                follow_redirects=False,
            )
        return self._http

    def _report(self, phase: str, message: str) -> None:
        if self._on_progress is None:
            return
        progress = FetchProgress(
            phase=phase, fetched=self._budget.fetched, total=self._budget.total, message=message
        )
        if threading.current_thread() is self._owner:
            self._on_progress(progress)
        else:  # the helper thread that reads pages ahead: the owner passes it on (`_await`)
            self._reports.put(progress)

    def _flush_reports(self) -> None:
        while self._on_progress is not None and not self._reports.empty():
            self._on_progress(self._reports.get())


def _page_step(page: EmployeesPage, offset: int, total: int, seen: set[str]) -> int:
    """How far the next page starts after this one at `offset`; _InconsistentPaging when the page
    does not fit the listing (a wrong size, an employee already seen). Adds its ids to `seen`."""
    # Follow the page size Personio says it used, should it ever serve fewer than asked.
    step = page.limit if page.limit is not None and 0 < page.limit <= PAGE_SIZE else PAGE_SIZE
    expected = min(step, max(0, total - offset))
    if len(page.records) != expected:
        raise _InconsistentPaging(
            f"the page at offset {offset} held {len(page.records)} records instead of {expected}"
        )
    for record in page.records:
        personio_id = record_id(record)
        if personio_id is not None:
            if personio_id in seen:
                raise _InconsistentPaging(f"employee {personio_id} came twice")
            seen.add(personio_id)
    return step


_ssl_context: ssl.SSLContext | None = None
_ssl_lock = threading.Lock()


def _shared_ssl_context() -> ssl.SSLContext:
    """One verifying TLS context for every client of this process. Building one loads the CA bundle
    (about 30 ms of CPU, measured), and a scheduler makes a client per run in several threads; a
    context is safe to share between threads."""
    global _ssl_context
    with _ssl_lock:
        if _ssl_context is None:
            _ssl_context = httpx.create_ssl_context()
        return _ssl_context


def _token_refused(response: _Answer) -> bool:
    """A 401, or the 403 Personio gives for an unknown or expired token ("Provided authorization is
    not valid"). Other 403s mean the credential may not read employees: signing in again won't help."""
    status = response.status_code
    return status == 401 or (status == 403 and says_authorization_invalid(response.content))
