"""`make demo` (`python -m sync.demo`): a working product on one machine in one command.

1. Uses `data/demo.db` (DATABASE_URL for all three processes; never your real database).
2. Creates the organization `demo` ("Demo Company") with the owner `owner@demo.example` and
   the support account `support@demo.example`, with generated passwords kept in
   `.demo/logins.json` (0600) so a second run prints the same ones. An existing
   organization is kept as it is.
3. Starts the Personio sandbox (300 employees, seed 7) and points the integration at it:
   credentials filled in, not activated, so a newcomer can Test, preview and Activate.
4. Starts the scheduler and the dashboard, prints the URL and both logins.
Ctrl-C stops all of it.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import select

from storage.config import PersonioSettings, read
from storage.db import make_engine, read_session, write_session
from storage.models import Integration, StaffAccount, User
from sync.accounts.organizations import create_organization, create_staff, organization_by_slug
from sync.accounts.passwords import hash_password
from sync.integration.settings import save_settings
from sync.launch import (
    REPO_ROOT,
    LaunchError,
    Supervisor,
    child_env,
    handle_sigterm,
    http_ok,
    require_free_port,
    start_services,
)

DEMO_DATABASE_URL = "sqlite:///data/demo.db"
ORG_SLUG = "demo"
ORG_NAME = "Demo Company"
OWNER_EMAIL = "owner@demo.example"
STAFF_EMAIL = "support@demo.example"
SANDBOX_CLIENT_ID = "demo-client-id"
STATE_DIR = Path(".demo")
LOGINS_FILE = "logins.json"


@dataclass(frozen=True)
class DemoLogins:
    owner_password: str
    staff_password: str
    sandbox_secret: str

    @classmethod
    def generate(cls) -> DemoLogins:
        return cls(
            owner_password=secrets.token_urlsafe(9),
            staff_password=secrets.token_urlsafe(9),
            sandbox_secret="demo-" + secrets.token_urlsafe(18),
        )


def load_logins(path: Path) -> DemoLogins | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return DemoLogins(
            owner_password=str(data["owner_password"]),
            staff_password=str(data["staff_password"]),
            sandbox_secret=str(data["sandbox_secret"]),
        )
    except (FileNotFoundError, KeyError, TypeError, ValueError):
        return None


def save_logins(path: Path, logins: DemoLogins) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(logins.__dict__, handle, indent=2)


def _set_password(engine: Engine, *, owner_of: int | None, staff_email: str | None, password: str) -> None:
    with write_session(engine) as session:
        if owner_of is not None:
            owner = session.exec(
                select(User).where(User.org_id == owner_of, User.email_key == OWNER_EMAIL)
            ).first()
            if owner is not None:
                owner.password_hash = hash_password(password)
                session.add(owner)
        if staff_email is not None:
            staff = session.exec(select(StaffAccount).where(StaffAccount.email == staff_email)).first()
            if staff is not None:
                staff.password_hash = hash_password(password)
                session.add(staff)


def seed(engine: Engine, logins: DemoLogins, *, reset_passwords: bool, sandbox_url: str) -> int:
    """Create (or keep) the demo organization and support account; point the integration at the sandbox.

    Returns the organization id.
    """
    org = organization_by_slug(engine, ORG_SLUG)
    if org is None:
        org = create_organization(
            engine,
            slug=ORG_SLUG,
            name=ORG_NAME,
            owner_email=OWNER_EMAIL,
            owner_password=logins.owner_password,
            owner_first_name="Olivia",
            owner_last_name="Owner",
            addon_enabled=True,
        )
    elif reset_passwords:
        _set_password(engine, owner_of=org.id, staff_email=None, password=logins.owner_password)
    assert org.id is not None
    with read_session(engine) as session:
        staff = session.exec(select(StaffAccount).where(StaffAccount.email == STAFF_EMAIL)).first()
        integration = session.exec(select(Integration).where(Integration.org_id == org.id)).first()
    if staff is None:
        create_staff(engine, email=STAFF_EMAIL, password=logins.staff_password, name="Sam Support")
    elif reset_passwords:
        _set_password(engine, owner_of=None, staff_email=STAFF_EMAIL, password=logins.staff_password)

    # Fill in the credentials only when they are not the sandbox's already: saving the same
    # secret again would withdraw a passing Test the newcomer already ran.
    points_at_sandbox = (
        integration is not None
        and integration.client_id == SANDBOX_CLIENT_ID
        and integration.base_url == sandbox_url
        and integration.client_secret_encrypted is not None
    )
    if not points_at_sandbox or reset_passwords:
        save_settings(
            engine,
            org.id,
            client_id=SANDBOX_CLIENT_ID,
            client_secret=logins.sandbox_secret,
            base_url=sandbox_url,
        )
    return org.id


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m sync.demo", description="Run the demo (make demo).")
    parser.add_argument("--port", type=int, default=8501, help="dashboard port (default 8501)")
    parser.add_argument("--sandbox-port", type=int, default=8765, help="sandbox port (default 8765)")
    parser.add_argument("--webhook-port", type=int, default=8502, help="webhook receiver port (default 8502)")
    parser.add_argument("--employees", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--database-url", default=DEMO_DATABASE_URL, help=f"default {DEMO_DATABASE_URL}, not DATABASE_URL"
    )
    parser.add_argument("--state-dir", type=Path, default=STATE_DIR, help="logins and logs (default .demo)")
    return parser.parse_args(argv)


def allow_personio_origin(origin: str) -> None:
    """Let this process and its children talk to `origin` (the sandbox) besides Personio."""
    listed = read(PersonioSettings).personio_allowed_base_urls
    os.environ["PERSONIO_ALLOWED_BASE_URLS"] = ",".join(filter(None, [listed, origin]))


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    handle_sigterm()
    os.chdir(REPO_ROOT)  # data/demo.db and .demo/ are relative to the repository
    sandbox_url = f"http://127.0.0.1:{args.sandbox_port}"
    allow_personio_origin(sandbox_url)
    # The sandbox delivers its webhooks over loopback http (Personio itself needs https).
    os.environ.setdefault("PUBLIC_WEBHOOK_BASE_URL", f"http://127.0.0.1:{args.webhook_port}")
    logins_path = args.state_dir / LOGINS_FILE
    supervisor = Supervisor(env=child_env(args.database_url), log_dir=args.state_dir / "logs")
    try:
        require_free_port(args.sandbox_port, "Personio sandbox", "--sandbox-port")
        require_free_port(args.port, "dashboard", "--port")
        require_free_port(args.webhook_port, "webhook receiver", "--webhook-port")
        logins = load_logins(logins_path)
        reset = logins is None
        if logins is None:
            logins = DemoLogins.generate()
            save_logins(logins_path, logins)
        try:
            engine = make_engine(args.database_url)
        except Exception as exc:
            raise LaunchError(
                f"The demo database {args.database_url} cannot be opened ({type(exc).__name__}).",
                "Check that the data/ folder is writable, or delete data/demo.db to start afresh.",
            ) from exc
        org_existed = organization_by_slug(engine, ORG_SLUG) is not None
        seed(engine, logins, reset_passwords=reset and org_existed, sandbox_url=sandbox_url)
        engine.dispose()

        print(f"Starting the Personio sandbox ({args.employees} employees)…", flush=True)
        sandbox = supervisor.start(
            "sandbox",
            [
                sys.executable,
                "-m",
                "sandbox",
                "--port",
                str(args.sandbox_port),
                "--employees",
                str(args.employees),
                "--seed",
                str(args.seed),
                "--client-id",
                SANDBOX_CLIENT_ID,
                "--client-secret",
                logins.sandbox_secret,
                "--quiet",
            ],
        )
        supervisor.wait_until_ready(sandbox, http_ok(f"{sandbox_url}/_admin/health"), timeout=120)
        print("Starting the scheduler, the webhook receiver and the dashboard…", flush=True)
        start_services(
            supervisor,
            port=args.port,
            address="127.0.0.1",
            webhook_port=args.webhook_port,
            webhook_address="127.0.0.1",
        )
    except LaunchError as error:
        supervisor.stop_all()
        print(f"{error.message}\n{error.hint}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        supervisor.stop_all()
        return 0
    except BaseException:
        supervisor.stop_all()
        raise

    print(
        f"""
Personio Sync demo is running: http://localhost:{args.port}

  Owner of "{ORG_NAME}":  {OWNER_EMAIL}  /  {logins.owner_password}
  Support staff:          {STAFF_EMAIL}  /  {logins.staff_password}

  The integration already points at the Personio sandbox ({sandbox_url}, {args.employees} employees).
  Log in as the owner, click Test to preview the changes, then Activate.
  The demo database is {args.database_url}; logs are in {supervisor.log_dir}/.
  {"The existing demo organization was kept." if org_existed else ""}
  Near-real-time updates: after Activate, switch them on; the sandbox then sends each change it
  gets (POST {sandbox_url}/_admin/employees ...) to the receiver on port {args.webhook_port}.
Press Ctrl-C to stop the dashboard, the scheduler, the webhook receiver and the sandbox.""",
        flush=True,
    )
    return supervisor.watch()


if __name__ == "__main__":
    sys.exit(main())
