"""Run the Personio sandbox (`python -m sandbox`) as a real process for tests, and drive its admin API.

Fixtures:
- `sandbox`: a 60-employee sandbox shared by the whole session and reset before each test that uses
  it, so tests stay isolated without paying a process start each.
- `sandbox_factory`: `start(employees=..., seed=..., rate_limit=True, withhold=None)` for a private
  sandbox with other settings; every sandbox it started is stopped after the test.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol

import httpx
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CLIENT_ID = "papi-sandbox-client-id"
DEFAULT_CLIENT_SECRET = "papi-sandbox-client-secret"
SHARED_SIZE = 60
SHARED_SEED = 7

__all__ = ["SandboxError", "SandboxFactory", "SandboxProcess", "sandbox", "sandbox_factory"]


class SandboxError(RuntimeError):
    """The sandbox did not start, or an admin call failed."""


def free_port() -> int:
    """A port nothing listens on right now (the OS picks it for a bound socket)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class SandboxProcess:
    """One `python -m sandbox` subprocess on a free loopback port; output goes to `log_path`."""

    def __init__(
        self,
        *,
        log_path: Path,
        employees: int = SHARED_SIZE,
        seed: int = SHARED_SEED,
        rate_limit: bool = True,
        withhold: Iterable[str] | None = None,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        start_timeout: float = 60.0,
    ) -> None:
        self.log_path = log_path
        self.employees_count = employees
        self.seed = seed
        self.rate_limit = rate_limit
        self.withhold = tuple(withhold or ())
        self.client_id = client_id
        self.client_secret = client_secret
        self.start_timeout = start_timeout
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._http: httpx.Client | None = None

    # ----- lifecycle -------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """What an integration stores as its Personio base URL, e.g. `http://127.0.0.1:41234`."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def admin_url(self) -> str:
        """The admin API root, `<base_url>/_admin`."""
        return f"{self.base_url}/_admin"

    def start(self) -> SandboxProcess:
        """Start the process and wait until `/_admin/health` answers. Raises SandboxError with the log."""
        # Another process may grab the probed port before the sandbox binds it; try a few ports.
        for _attempt in range(3):
            self.port = free_port()
            self._spawn()
            if self._wait_healthy():
                # One keep-alive client: a new httpx client per call costs more than the call itself.
                self._http = httpx.Client(timeout=30.0)
                return self
            if "Address already in use" not in self.log():
                break
        self.stop()
        raise SandboxError(f"the sandbox did not become healthy; its output:\n{self.log()}")

    def _spawn(self) -> None:
        command = [
            sys.executable,
            "-m",
            "sandbox",
            "--port",
            str(self.port),
            "--employees",
            str(self.employees_count),
            "--seed",
            str(self.seed),
            "--client-id",
            self.client_id,
            "--client-secret",
            self.client_secret,
        ]
        if not self.rate_limit:
            command.append("--no-rate-limit")
        if self.withhold:
            command += ["--withhold", ",".join(self.withhold)]
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        # A file, never a pipe: a full pipe buffer would block the server mid-request.
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT)

    def _wait_healthy(self) -> bool:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                return False
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1.0):
                    break  # listening; the health check below confirms it is the sandbox answering
            except OSError:
                time.sleep(0.05)
        else:
            return False
        try:
            return httpx.get(f"{self.admin_url}/health", timeout=10.0).status_code == 200
        except httpx.TransportError:
            return False

    def stop(self, stop_signal: signal.Signals = signal.SIGTERM) -> None:
        """Stop the process with `stop_signal`, SIGKILL if still there 10 s later. Safe to call twice."""
        if self._http is not None:
            self._http.close()
            self._http = None
        process = self._process
        if process is None or process.poll() is not None:
            return
        process.send_signal(stop_signal)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def restart(self) -> SandboxProcess:
        """Stop the process and start a new one on the same port: a fresh company, and every token
        handed out before is one the new process never issued. Raises SandboxError with the log."""
        self.stop()
        self._spawn()
        if not self._wait_healthy():
            self.stop()
            raise SandboxError(
                f"the sandbox did not come back on port {self.port}; its output:\n{self.log()}"
            )
        self._http = httpx.Client(timeout=30.0)
        return self

    @property
    def returncode(self) -> int | None:
        """The exit code once stopped; None while running or never started."""
        return self._process.poll() if self._process is not None else None

    @property
    def http(self) -> httpx.Client:
        """The keep-alive HTTP client the helper methods use (tests may use it too)."""
        if self._http is None:
            raise SandboxError("the sandbox is not running")
        return self._http

    def log(self) -> str:
        """Everything the process printed so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""

    # ----- Personio API (for tests that check the sandbox itself; product tests use sync/) --------

    def auth_token(self, client_id: str | None = None, client_secret: str | None = None) -> str:
        """A bearer token from `POST /v1/auth` (JSON body). Raises SandboxError when refused."""
        body = {
            "client_id": client_id or self.client_id,
            "client_secret": client_secret or self.client_secret,
        }
        response = self.http.post(f"{self.base_url}/v1/auth", json=body)
        if response.status_code != 200:
            raise SandboxError(f"POST /v1/auth -> {response.status_code}: {response.text}")
        return str(response.json()["data"]["token"])

    def personio_get(
        self, path: str, *, token: str | None = None, params: Any = None, timeout: float = 30.0
    ) -> httpx.Response:
        """`GET <base_url><path>` with `Authorization: Bearer <token>` (a fresh token when none given)."""
        headers = {"Authorization": f"Bearer {token or self.auth_token()}"}
        return self.http.get(f"{self.base_url}{path}", params=params, headers=headers, timeout=timeout)

    # ----- admin API -------------------------------------------------------------------------------

    def _call(self, method: str, path: str, *, json: Any = None, expect: int = 200) -> Any:
        response = self.http.request(method, f"{self.admin_url}{path}", json=json)
        if response.status_code != expect:
            raise SandboxError(f"{method} /_admin{path} -> {response.status_code}: {response.text}")
        return response.json()

    def state(self) -> dict[str, Any]:
        """`GET /_admin/state`: employees, faults, stats, credentials."""
        return dict(self._call("GET", "/state"))

    def employees(self) -> list[dict[str, Any]]:
        """Every employee as a flat record (id, names, email, status, supervisor_id, org units...)."""
        return list(self._call("GET", "/employees"))

    def employee(self, employee_id: int) -> dict[str, Any]:
        """One flat record. Raises SandboxError for an unknown id."""
        return dict(self._call("GET", f"/employees/{employee_id}"))

    def hire(self, **fields: Any) -> dict[str, Any]:
        """Hire someone (first_name and last_name required; department/team/office by id or name)."""
        return dict(self._call("POST", "/employees", json=fields, expect=201))

    def update(self, employee_id: int, **fields: Any) -> dict[str, Any]:
        """Change flat fields: `status="inactive"` (leave), `department="Sales"` (transfer), `email=...`."""
        return dict(self._call("PATCH", f"/employees/{employee_id}", json=fields))

    def delete(self, employee_id: int) -> None:
        """Remove an employee from Personio altogether."""
        self._call("DELETE", f"/employees/{employee_id}")

    def org_units(self) -> dict[str, list[dict[str, Any]]]:
        """`{"departments": [...], "teams": [...], "offices": [...], "subcompanies": [...]}`."""
        return dict(self._call("GET", "/org-units"))

    def rename_department(self, department_id: int, name: str) -> dict[str, Any]:
        """Rename a department; all its members show the new name."""
        return dict(self._call("PATCH", f"/departments/{department_id}", json={"name": name}))

    def rename_team(self, team_id: int, name: str) -> dict[str, Any]:
        """Rename a team."""
        return dict(self._call("PATCH", f"/teams/{team_id}", json={"name": name}))

    def rename_office(self, office_id: int, name: str) -> dict[str, Any]:
        """Rename an office."""
        return dict(self._call("PATCH", f"/offices/{office_id}", json={"name": name}))

    def add_credential(
        self,
        client_id: str | None = None,
        client_secret: str | None = None,
        withheld: Iterable[str] = (),
        employees_access: bool = True,
        scopes: Iterable[str] | None = None,
    ) -> dict[str, Any]:
        """Add a credential whose whitelist omits `withheld`; with `employees_access=False` it signs in
        but every employees request answers 403 (Personio's missing-scope answer). `scopes`: the v2
        scopes granted (default every one), e.g. without `personio:webhooks:write`.

        Returns `{client_id, client_secret, withheld, employees_access, scopes}`; a missing id or
        secret is generated.
        """
        body: dict[str, Any] = {
            "client_id": client_id,
            "client_secret": client_secret,
            "withheld": list(withheld),
            "employees_access": employees_access,
        }
        if scopes is not None:
            body["scopes"] = list(scopes)
        return dict(self._call("POST", "/credentials", json=body, expect=201))

    def v2_token(
        self, client_id: str | None = None, client_secret: str | None = None, scope: str | None = None
    ) -> str:
        """An access token from `POST /v2/auth/token` (form body). Raises SandboxError when refused."""
        form = {
            "grant_type": "client_credentials",
            "client_id": client_id or self.client_id,
            "client_secret": client_secret or self.client_secret,
        }
        if scope is not None:
            form["scope"] = scope
        response = self.http.post(f"{self.base_url}/v2/auth/token", data=form)
        if response.status_code != 200:
            raise SandboxError(f"POST /v2/auth/token -> {response.status_code}: {response.text}")
        return str(response.json()["access_token"])

    def webhooks(self) -> list[dict[str, Any]]:
        """Every registered webhook (`token_set` instead of the token)."""
        return list(self._call("GET", "/webhooks"))

    def deliveries(self, **filters: str) -> list[dict[str, Any]]:
        """Webhook deliveries, oldest first; filters: `webhook_id`, `event_name`, `status`
        (pending, delivered, failed, dropped, cancelled)."""
        response = self.http.get(f"{self.admin_url}/deliveries", params=filters)
        if response.status_code != 200:
            raise SandboxError(f"GET /_admin/deliveries -> {response.status_code}: {response.text}")
        return list(response.json())

    def set_webhook_faults(self, *, drop: int | None = None, duplicate: int | None = None) -> dict[str, int]:
        """The next `drop` deliveries are never sent, the next `duplicate` are sent twice."""
        body = {
            name: value for name, value in (("drop", drop), ("duplicate", duplicate)) if value is not None
        }
        return dict(self._call("PUT", "/webhook_faults", json=body))

    def set_webhook_retry_scale(self, scale: float) -> None:
        """Multiply the delays between delivery attempts (0.001: a minute becomes 60 ms) until reset."""
        self._call("PUT", "/webhook_settings", json={"retry_scale": scale})

    def faults(self) -> dict[str, Any]:
        """The current fault switches."""
        return dict(self._call("GET", "/faults"))

    def set_faults(self, **faults: Any) -> dict[str, Any]:
        """Switch faults on, e.g. `set_faults(server_error={"status": 503, "count": 2}, latency_ms=200)`."""
        return dict(self._call("PUT", "/faults", json=faults))

    def clear_faults(self) -> None:
        """Every fault off."""
        self._call("DELETE", "/faults")

    def stats(self) -> dict[str, int]:
        """`{"auth_calls", "employee_requests", "rate_limited", "requests"}` since start or last reset."""
        return dict(self._call("GET", "/stats"))

    def reset_stats(self) -> None:
        """Zero the counters."""
        self._call("POST", "/stats/reset")

    def reset(self) -> None:
        """Regenerate the company from the seed; clear faults, stats, added credentials and tokens."""
        self._call("POST", "/reset")


class SandboxFactory(Protocol):
    def __call__(
        self,
        *,
        employees: int = SHARED_SIZE,
        seed: int = SHARED_SEED,
        rate_limit: bool = True,
        withhold: Iterable[str] | None = None,
    ) -> SandboxProcess: ...


@pytest.fixture
def sandbox_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxFactory]:
    """Start private sandboxes: `start(employees=..., seed=..., rate_limit=True, withhold=None)`."""
    started: list[SandboxProcess] = []
    log_dir = tmp_path_factory.mktemp("sandbox")

    def start(
        *,
        employees: int = SHARED_SIZE,
        seed: int = SHARED_SEED,
        rate_limit: bool = True,
        withhold: Iterable[str] | None = None,
    ) -> SandboxProcess:
        process = SandboxProcess(
            log_path=log_dir / f"sandbox-{len(started)}.log",
            employees=employees,
            seed=seed,
            rate_limit=rate_limit,
            withhold=withhold,
        )
        started.append(process)
        return process.start()

    yield start
    for process in started:
        process.stop()


_SHARED = pytest.StashKey[SandboxProcess]()


@pytest.fixture
def sandbox(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> SandboxProcess:
    """The shared 60-employee sandbox (seed 7, rate limits on), freshly reset for this test.

    One process serves the whole session (started on first use, stopped when the session ends);
    the reset gives each test the pristine company, no faults, zero counts and fresh limits.
    """
    shared = request.config.stash.get(_SHARED, None)
    if shared is None:
        shared = SandboxProcess(log_path=tmp_path_factory.mktemp("sandbox-shared") / "sandbox.log")
        shared.start()
        request.config.stash[_SHARED] = shared
        request.config.add_cleanup(shared.stop)
    else:
        shared.reset()
    return shared
