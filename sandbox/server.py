"""The HTTP side: routes, the request handler, and a threading server around one SandboxState."""

from __future__ import annotations

import re
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sandbox import admin_api, personio_api, v2_auth, webhooks
from sandbox.personio_api import employee_endpoint
from sandbox.personnel import PersonnelError
from sandbox.state import SandboxState
from sandbox.wire import Request, Response, json_response, personio_error

Handler = Callable[..., Response]


@dataclass(frozen=True)
class Route:
    """A method and path pattern; named groups in the pattern become keyword arguments."""

    method: str
    pattern: re.Pattern[str]
    handler: Handler


def _route(method: str, path: str, handler: Handler, *, parameter: str = r"\d+") -> Route:
    # Path parameters are numeric ids unless told otherwise (v2 webhook ids are uuids).
    regex = re.sub(r"\{(\w+)\}", lambda found: f"(?P<{found[1]}>{parameter})", path)
    return Route(method, re.compile(f"^{regex}/?$"), handler)


PERSONIO_ROUTES: tuple[Route, ...] = (
    _route("POST", "/v1/auth", personio_api.authenticate),
    _route("GET", "/v1/company/employees", employee_endpoint(personio_api.list_employees)),
    _route("GET", "/v1/company/employees/attributes", employee_endpoint(personio_api.list_attributes)),
    _route("GET", "/v1/company/employees/custom-attributes", employee_endpoint(personio_api.list_attributes)),
    _route("GET", "/v1/company/employees/{employee_id}", employee_endpoint(personio_api.get_employee)),
)
V2_ROUTES: tuple[Route, ...] = (
    _route("POST", "/v2/auth/token", v2_auth.issue_token),
    _route("GET", "/v2/webhooks", webhooks.list_webhooks),
    _route("POST", "/v2/webhooks", webhooks.create_webhook),
    _route("GET", "/v2/webhooks/{webhook_id}", webhooks.get_webhook, parameter="[^/]+"),
    _route("PATCH", "/v2/webhooks/{webhook_id}", webhooks.update_webhook, parameter="[^/]+"),
    _route("DELETE", "/v2/webhooks/{webhook_id}", webhooks.delete_webhook, parameter="[^/]+"),
)
ADMIN_ROUTES: tuple[Route, ...] = (
    _route("GET", "/_admin/health", admin_api.health),
    _route("GET", "/_admin/state", admin_api.overview),
    _route("GET", "/_admin/stats", admin_api.stats),
    _route("POST", "/_admin/stats/reset", admin_api.reset_stats),
    _route("POST", "/_admin/reset", admin_api.reset),
    _route("GET", "/_admin/employees", admin_api.list_employees),
    _route("POST", "/_admin/employees", admin_api.hire_employee),
    _route("GET", "/_admin/employees/{employee_id}", admin_api.get_employee),
    _route("PATCH", "/_admin/employees/{employee_id}", admin_api.update_employee),
    _route("DELETE", "/_admin/employees/{employee_id}", admin_api.delete_employee),
    _route("GET", "/_admin/org-units", admin_api.list_org_units),
    _route("PATCH", "/_admin/departments/{unit_id}", admin_api.rename_department),
    _route("PATCH", "/_admin/teams/{unit_id}", admin_api.rename_team),
    _route("PATCH", "/_admin/offices/{unit_id}", admin_api.rename_office),
    _route("POST", "/_admin/credentials", admin_api.add_credential),
    _route("GET", "/_admin/webhooks", admin_api.list_webhooks),
    _route("GET", "/_admin/deliveries", admin_api.list_deliveries),
    _route("DELETE", "/_admin/deliveries", admin_api.clear_deliveries),
    _route("GET", "/_admin/webhook_faults", admin_api.get_webhook_faults),
    _route("PUT", "/_admin/webhook_faults", admin_api.set_webhook_faults),
    _route("DELETE", "/_admin/webhook_faults", admin_api.clear_webhook_faults),
    _route("GET", "/_admin/webhook_settings", admin_api.get_webhook_settings),
    _route("PUT", "/_admin/webhook_settings", admin_api.set_webhook_settings),
    _route("GET", "/_admin/faults", admin_api.get_faults),
    _route("PUT", "/_admin/faults", admin_api.set_faults),
    _route("DELETE", "/_admin/faults", admin_api.clear_faults),
)


def _match(routes: tuple[Route, ...], method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    """The route for this method and path, with its path parameters."""
    for route in routes:
        found = route.pattern.match(path)
        if found and route.method == method:
            return route, found.groupdict()
    return None


def _path_known(routes: tuple[Route, ...], path: str) -> bool:
    return any(route.pattern.match(path) for route in routes)


def dispatch(state: SandboxState, request: Request) -> Response:
    """Answer one request. Personio paths get the v1 envelope for errors, admin paths `{"error"}`."""
    if request.path.startswith("/_admin/"):
        return _dispatch_admin(state, request)
    if request.path.startswith("/v2/"):
        return _dispatch_v2(state, request)
    with state.lock:
        state.stats.requests += 1
        matched = _match(PERSONIO_ROUTES, request.method, request.path)
        if matched is not None:
            route, params = matched
            response = route.handler(state, request, **params)
        elif _path_known(PERSONIO_ROUTES, request.path):
            response = personio_error(405, "Method Not Allowed")
        else:
            response = personio_error(404, f"The endpoint {request.path} was not found.")
        # Added latency slows every Personio request, the auth call included.
        response.delay += state.faults.latency_ms / 1000
    return response


def _dispatch_v2(state: SandboxState, request: Request) -> Response:
    """API v2: errors are problem+json; not counted in the v1 stats."""
    matched = _match(V2_ROUTES, request.method, request.path)
    if matched is None:
        if _path_known(V2_ROUTES, request.path):
            return v2_auth.problem(
                405, "Method not allowed", f"{request.method} is not allowed here.", "method_not_allowed"
            )
        return v2_auth.problem(404, "Not found", f"The endpoint {request.path} was not found.", "not_found")
    route, params = matched
    with state.lock:
        return route.handler(state, request, **params)


def _dispatch_admin(state: SandboxState, request: Request) -> Response:
    matched = _match(ADMIN_ROUTES, request.method, request.path)
    if matched is None:
        if _path_known(ADMIN_ROUTES, request.path):
            return admin_api.admin_error(405, f"{request.method} is not allowed on {request.path}")
        return admin_api.admin_error(404, f"no admin endpoint {request.path}")
    route, params = matched
    with state.lock:
        try:
            return route.handler(state, request, **params)
        except PersonnelError as error:
            return admin_api.admin_error(error.status, str(error))


class SandboxRequestHandler(BaseHTTPRequestHandler):
    """Turns HTTP into `Request`s for `dispatch` and writes the `Response` back (keep-alive)."""

    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle on, the body waits for the client's delayed ACK
    # (~40 ms a request on loopback).
    disable_nagle_algorithm = True
    server_version = "PersonioSandbox/1.0"
    sys_version = ""
    timeout = 120  # an idle keep-alive connection frees its thread after this many seconds
    server: SandboxServer

    def _handle(self) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        request = Request(
            method=self.command,
            path=url.path,
            query=parse_qs(url.query, keep_blank_values=True),
            headers={name.lower(): value for name, value in self.headers.items()},
            body=self.rfile.read(length) if length > 0 else b"",
        )
        try:
            response = dispatch(self.server.state, request)
        except Exception as error:  # a bug in the sandbox must not look like a dropped connection
            print(f"sandbox error on {self.command} {self.path}: {error!r}", file=sys.stderr, flush=True)
            response = json_response(500, {"success": False, "error": {"code": 500, "message": repr(error)}})
        if response.delay > 0:
            time.sleep(response.delay)  # outside the lock: a hang must not stall other clients
        self._send(response)

    def _send(self, response: Response) -> None:
        if response.drip_seconds > 0:
            self._drip(response)
            return
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        if response.cut_short:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(response.body[: len(response.body) // 2] if response.cut_short else response.body)

    def _drip(self, response: Response) -> None:
        """The body one byte every `drip_seconds` (without a Content-Length: the end of the body is
        the end of the connection), then with `drip_forever` a space at that pace, until the drip
        fault is cleared or the client hangs up."""
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Connection", "close")
        self.close_connection = True
        self.end_headers()
        self.wfile.flush()

        def still_dripping() -> bool:
            return response.dripping is None or response.dripping()

        body = response.body
        for index in range(len(body)):
            if not still_dripping():
                self.wfile.write(body[index:])
                return
            time.sleep(response.drip_seconds)
            self.wfile.write(body[index : index + 1])
            self.wfile.flush()
        while response.drip_forever and still_dripping():
            time.sleep(response.drip_seconds)
            self.wfile.write(b" ")
            self.wfile.flush()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.log_requests:
            super().log_message(format, *args)


class SandboxServer(ThreadingHTTPServer):
    """One thread per connection; threads are daemons so a hung request never blocks shutdown."""

    daemon_threads = True
    request_queue_size = 128  # bursts of parallel clients (rate-limit tests) must not be refused

    def __init__(self, state: SandboxState, host: str, port: int, *, log_requests: bool = True) -> None:
        self.state = state
        self.log_requests = log_requests
        super().__init__((host, port), SandboxRequestHandler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that time out and hang up mid-answer are expected (hang faults); stay quiet for them.
        if isinstance(sys.exc_info()[1], ConnectionError | socket.timeout):
            return
        super().handle_error(request, client_address)
