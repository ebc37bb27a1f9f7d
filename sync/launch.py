"""`make run` (`python -m sync.launch`): the dashboard and the scheduler for real use.

Both processes use DATABASE_URL (and APP_SECRET_KEY / DATA_DIR, SMTP_URL) from the
environment. Ctrl-C or SIGTERM stops both; when one of them stops by itself, the
other is stopped too and the exit code says so. Each child's output goes to a log
file under `--log-dir`, never to a pipe, so a chatty child can never block.
`sync.demo` reuses the `Supervisor` for its three processes.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import httpx

from storage.config import DashboardSettings, DatabaseSettings, SmtpSettings, WebhookSettings, read
from storage.db import make_engine
from sync.core.errors import ReadableError

REPO_ROOT = Path(__file__).resolve().parents[1]
STOP_TIMEOUT = 10.0


class LaunchError(ReadableError, RuntimeError):
    """Something a person must fix before the services can start; the message says what."""

    default_code = "cannot_launch"

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message, hint)


@dataclass
class Child:
    """One supervised process and where its output goes."""

    name: str
    command: list[str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    def tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class Supervisor:
    """Starts children, watches them, and stops all of them (last started, first stopped)."""

    env: dict[str, str]
    log_dir: Path
    children: list[Child] = field(default_factory=list)
    _stopping: bool = False

    def start(self, name: str, command: Sequence[str]) -> Child:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        child = Child(name=name, command=list(command), log_path=self.log_dir / f"{name}.log")
        with child.log_path.open("ab") as log:
            # A session of its own: Ctrl-C in the terminal reaches only us, and we stop the
            # children in order instead of all of them dying at once mid-write.
            child.process = subprocess.Popen(
                child.command,
                cwd=REPO_ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.children.append(child)
        return child

    def exited(self) -> Child | None:
        """A child that stopped by itself, if any."""
        for child in self.children:
            if child.process is not None and child.process.poll() is not None:
                return child
        return None

    def stop_all(self) -> None:
        if self._stopping:
            return
        self._stopping = True
        for child in reversed(self.children):
            process = child.process
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for child in reversed(self.children):
            process = child.process
            if process is None:
                continue
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=STOP_TIMEOUT)

    def wait_until_ready(
        self, child: Child, ready: Callable[[], bool], *, timeout: float = 60.0, what: str = ""
    ) -> None:
        """Poll `ready` until true. Raises LaunchError, with the child's output, when it dies or times out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if child.process is not None and child.process.poll() is not None:
                raise LaunchError(
                    f"The {child.name} stopped while starting (exit code {child.process.returncode}).",
                    f"Its last output ({child.log_path}):\n{child.tail()}",
                )
            if ready():
                return
            time.sleep(0.2)
        raise LaunchError(
            f"The {child.name} did not become ready within {timeout:.0f} s{what}.",
            f"Its last output ({child.log_path}):\n{child.tail()}",
        )

    def watch(self) -> int:
        """Block until Ctrl-C / SIGTERM (exit 0) or until a child stops by itself (exit 1)."""
        try:
            while True:
                gone = self.exited()
                if gone is not None and gone.process is not None:
                    print(
                        f"\nThe {gone.name} stopped (exit code {gone.process.returncode}); "
                        f"stopping the rest. Its last output ({gone.log_path}):\n{gone.tail()}",
                        file=sys.stderr,
                    )
                    return 1
                time.sleep(0.5)
        except KeyboardInterrupt:
            print("\nStopping…")
            return 0
        finally:
            self.stop_all()


def _raise_keyboard_interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def handle_sigterm() -> None:
    """SIGTERM and SIGINT (Ctrl-C) stop the services, even when started with SIGINT ignored."""
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    signal.signal(signal.SIGINT, _raise_keyboard_interrupt)


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def require_free_port(port: int, what: str, option: str) -> None:
    if not port_free(port):
        raise LaunchError(
            f"Port {port} for the {what} is already in use.",
            f"Stop whatever listens there (an earlier run still going?) or pick another port: {option}.",
        )


def http_ok(url: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            return httpx.get(url, timeout=1.0).status_code == 200
        except httpx.TransportError:
            return False

    return check


def child_env(database: str) -> dict[str, str]:
    env = dict(os.environ)
    env["DATABASE_URL"] = database
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONPATH"] = str(REPO_ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def dashboard_command(port: int, address: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        "dashboard.py",
        "--server.port",
        str(port),
        "--server.address",
        address,
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
    ]


def scheduler_command() -> list[str]:
    return [sys.executable, "-m", "sync.scheduler"]


def webhooks_command(port: int, address: str) -> list[str]:
    return [sys.executable, "-m", "sync.webhooks", "--host", address, "--port", str(port)]


def _probe_host(address: str) -> str:
    return "127.0.0.1" if address in ("0.0.0.0", "") else address


def start_services(
    supervisor: Supervisor, *, port: int, address: str, webhook_port: int, webhook_address: str
) -> None:
    """The scheduler, the webhook receiver and the dashboard, each ready before this returns."""
    scheduler = supervisor.start("scheduler", scheduler_command())
    receiver = supervisor.start("webhooks", webhooks_command(webhook_port, webhook_address))
    dashboard = supervisor.start("dashboard", dashboard_command(port, address))
    supervisor.wait_until_ready(
        receiver,
        http_ok(f"http://{_probe_host(webhook_address)}:{webhook_port}/healthz"),
        timeout=60,
        what=" (webhook receiver)",
    )
    supervisor.wait_until_ready(
        dashboard,
        http_ok(f"http://{_probe_host(address)}:{port}/_stcore/health"),
        timeout=90,
        what=" (dashboard)",
    )
    if scheduler.process is not None and scheduler.process.poll() is not None:
        raise LaunchError(
            f"The scheduler stopped at once (exit code {scheduler.process.returncode}).",
            f"Its last output ({scheduler.log_path}):\n{scheduler.tail()}",
        )


def prepare_database(database: str) -> None:
    """Open the database once and bring its schema up to date, before two processes use it."""
    try:
        engine = make_engine(database)
    except Exception as exc:
        raise LaunchError(
            f"The database {_redacted(database)} cannot be opened ({type(exc).__name__}).",
            "Check DATABASE_URL, that the database server runs, and that the folder is writable.",
        ) from exc
    engine.dispose()


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The options; their defaults come from DASHBOARD_PORT and DASHBOARD_ADDRESS.

    Raises storage.config.InvalidSetting for an unusable DASHBOARD_PORT.
    """
    dashboard = read(DashboardSettings)
    webhooks = read(WebhookSettings)
    parser = argparse.ArgumentParser(
        prog="python -m sync.launch",
        description="Run the dashboard, the scheduler and the webhook receiver (make run).",
    )
    parser.add_argument("--webhook-port", type=int, default=webhooks.webhook_port)
    parser.add_argument(
        "--webhook-address",
        default=webhooks.webhook_address,
        help="address the webhook receiver listens on (default 0.0.0.0)",
    )
    parser.add_argument("--port", type=int, default=dashboard.dashboard_port)
    parser.add_argument(
        "--address",
        default=dashboard.dashboard_address,
        help="address the dashboard listens on (default 0.0.0.0; 127.0.0.1 for this machine only)",
    )
    parser.add_argument("--log-dir", type=Path, default=Path("data") / "logs")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = parse_args(argv)
        stored = read(DatabaseSettings)
        email_off = read(SmtpSettings).smtp_url is None
    except ReadableError as error:  # an unusable setting: say which, before anything starts
        print(f"{error.message}\n{error.hint}".rstrip(), file=sys.stderr)
        return 2
    handle_sigterm()
    database = stored.database_url
    try:
        require_free_port(args.port, "dashboard", "--port (or DASHBOARD_PORT)")
        require_free_port(args.webhook_port, "webhook receiver", "--webhook-port (or WEBHOOK_PORT)")
        prepare_database(database)
        supervisor = Supervisor(env=child_env(database), log_dir=args.log_dir)
        try:
            start_services(
                supervisor,
                port=args.port,
                address=args.address,
                webhook_port=args.webhook_port,
                webhook_address=args.webhook_address,
            )
        except BaseException:
            supervisor.stop_all()
            raise
    except LaunchError as error:
        print(f"{error.message}\n{error.hint}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    shown = "localhost" if args.address in ("0.0.0.0", "127.0.0.1") else args.address
    print(f"Personio Sync is running: http://{shown}:{args.port}")
    print(f"  database   {_redacted(database)}")
    if "database_url" not in stored.model_fields_set:
        print("             (the default; set DATABASE_URL to use another database)")
    if email_off:
        print("  email      SMTP_URL is not set: emails wait in the outbox until it is.")
    public = read(WebhookSettings).public_webhook_base_url
    print(
        f"  webhooks   receiver on port {args.webhook_port}; "
        + (
            f"Personio reaches it at {public}"
            if public
            else "PUBLIC_WEBHOOK_BASE_URL is not set: near-real-time updates cannot be switched on."
        )
    )
    print(
        f"  logs       {args.log_dir}/dashboard.log, {args.log_dir}/scheduler.log, "
        f"{args.log_dir}/webhooks.log"
    )
    print("Press Ctrl-C to stop.", flush=True)
    return supervisor.watch()


def _redacted(url: str) -> str:
    """The database URL without its password."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "(unparsable DATABASE_URL)"


if __name__ == "__main__":
    sys.exit(main())
