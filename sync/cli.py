"""The command line: `python -m sync COMMAND ...` (DESIGN.md section 7).

Every command honours DATABASE_URL. Errors are one plain line on stderr (no
traceback) and exit code 1; `--json` output goes to stdout.
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import os
import socket
import sqlite3
import sys
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from storage.config import PersonioSettings, database_url, read
from storage.db import make_engine, read_session
from sync.accounts.organizations import create_organization, create_staff, organization_by_slug
from sync.core.errors import ReadableError, describe_exception
from sync.core.settings import TEAM_ATTRIBUTES
from sync.core.states import RunStatus
from sync.integration import lifecycle, near_real_time, queue
from sync.integration.preview import TestResult, test_integration
from sync.integration.recovery import recover_expired_runs
from sync.integration.runner import RunOutcome, execute_run
from sync.integration.settings import save_settings

WAIT_FOR_OPEN_RUN_SECONDS = 300
# Errors of the database itself (or its URL); SQLAlchemy wraps most driver errors, not all.
DATABASE_ERRORS: tuple[type[Exception], ...] = (SQLAlchemyError, sqlite3.Error)


def _database_errors() -> tuple[type[Exception], ...]:
    """DATABASE_ERRORS, plus the PostgreSQL driver's own once it is in use: it is imported only by a
    postgresql:// engine, so that every other command starts without it."""
    psycopg = sys.modules.get("psycopg")
    return (*DATABASE_ERRORS, psycopg.Error) if psycopg is not None else DATABASE_ERRORS


class CommandError(ReadableError):
    """A command cannot do what was asked: a message and a hint for the operator."""

    default_code = "command_refused"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sync",
        description="Personio Sync: keep the platform's users and teams in step with Personio.",
        epilog="Every command honours DATABASE_URL (default sqlite:///data/app.db).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    org = commands.add_parser("org", help="organizations").add_subparsers(dest="org_command", required=True)
    org_create = org.add_parser("create", help="create an organization with its first owner")
    org_create.add_argument("--slug", required=True, help="short unique name, e.g. acme")
    org_create.add_argument("--name", required=True, help="display name, e.g. 'Acme GmbH'")
    org_create.add_argument("--owner-email", required=True)
    org_create.add_argument("--owner-password", required=True, help="at least 8 characters")
    org_create.add_argument(
        "--addon",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="enable the paid Personio add-on (default: enabled)",
    )

    staff = commands.add_parser("staff", help="support staff").add_subparsers(
        dest="staff_command", required=True
    )
    staff_create = staff.add_parser("create", help="create a support staff account")
    staff_create.add_argument("--email", required=True)
    staff_create.add_argument("--password", required=True, help="at least 8 characters")
    staff_create.add_argument("--name", default="")

    config = commands.add_parser("config", help="set the Personio integration's settings")
    config.add_argument("slug")
    config.add_argument("--client-id")
    secret = config.add_mutually_exclusive_group()
    secret.add_argument(
        "--client-secret-stdin",
        action="store_true",
        help="read the Client Secret from the first line of standard input (or set PERSONIO_CLIENT_SECRET)",
    )
    secret.add_argument(
        "--client-secret",
        help="deprecated: visible to every user of this machine in `ps`; use --client-secret-stdin",
    )
    config.add_argument("--base-url", help="default https://api.personio.de (or PERSONIO_BASE_URL)")
    config.add_argument("--language", choices=["en", "de", "fr", "es"], help="default language of new users")
    config.add_argument("--sync-external", action=argparse.BooleanOptionalAction, default=None)
    config.add_argument("--job-title", action=argparse.BooleanOptionalAction, default=None)
    config.add_argument(
        "--teams",
        help=f"comma-separated team attributes ({','.join(TEAM_ATTRIBUTES)}); empty string for none",
    )
    config.add_argument(
        "--safety-threshold", type=int, metavar="PCT", help="max share of users one run may deactivate"
    )
    config.add_argument(
        "--near-real-time",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="register (or delete) the Personio webhook that syncs changes within minutes; needs an "
        "active integration, PUBLIC_WEBHOOK_BASE_URL and the scope personio:webhooks:write",
    )

    test = commands.add_parser(
        "test", help="check the settings and print the planned changes (writes nothing)"
    )
    test.add_argument("slug")
    test.add_argument("--json", action="store_true")

    run = commands.add_parser("run", help="one manual run now, in this process; exit 0 succeeded, 1 failed")
    run.add_argument("slug")
    run.add_argument("--json", action="store_true")
    run.add_argument(
        "--approve-safety", action="store_true", help="apply even if the safety guard would stop"
    )

    activate = commands.add_parser("activate", help="switch automatic runs on and queue the first run")
    activate.add_argument("slug")
    deactivate = commands.add_parser("deactivate", help="switch automatic runs off")
    deactivate.add_argument("slug")

    runs = commands.add_parser("runs", help="the organization's runs, newest first")
    runs.add_argument("slug")
    runs.add_argument("--json", action="store_true")
    runs.add_argument("--limit", type=int, default=50)

    directory = commands.add_parser("directory", help="the users and teams the platform holds now")
    directory.add_argument("slug")
    directory.add_argument("--json", action="store_true")

    commands.add_parser(
        "scheduler", help="the standalone scheduler (also: python -m sync.scheduler)", add_help=False
    )
    commands.add_parser(
        "webhooks",
        help="the webhook receiver, [--host H] [--port P] (also: python -m sync.webhooks)",
        add_help=False,
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["scheduler"]:
        from sync.scheduler.process import main as scheduler_main

        return scheduler_main(args_list[1:])
    if args_list[:1] == ["webhooks"]:
        from sync.webhooks.__main__ import main as webhooks_main

        return webhooks_main(args_list[1:])
    args = _parser().parse_args(args_list)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    engine: Engine | None = None
    try:
        engine = make_engine()
        return int(_dispatch(engine, args))
    except ReadableError as exc:
        print(f"error: {exc.message}" + (f" Hint: {exc.hint}" if exc.hint else ""), file=sys.stderr)
        return 1
    except _database_errors() as exc:
        return _database_unusable(exc)
    except Exception as exc:
        if engine is None and isinstance(exc, ValueError):  # a DATABASE_URL that does not parse (bad port)
            return _database_unusable(exc)
        # One plain line, never the exception's text (it may hold data) and no traceback.
        print(
            f"error: unexpected error ({describe_exception(exc)}). "
            "Hint: this is a fault in Personio Sync, not in what you typed; try again, and if it "
            "happens again, send this line to support.",
            file=sys.stderr,
        )
        return 1


def _database_unusable(exc: Exception) -> int:
    """Say on stderr that the database cannot be used (its URL without the password); returns 1."""
    url = _safe_database_url()
    print(
        f"error: the database at {url} cannot be used ({describe_exception(exc)}). "
        "Hint: check DATABASE_URL (sqlite:///path or postgresql+psycopg://user:pass@host/db) and "
        "that the database server is running.",
        file=sys.stderr,
    )
    return 1


def _safe_database_url() -> str:
    raw = database_url()
    try:
        return make_url(raw).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return "DATABASE_URL (unreadable)"


def _dispatch(engine: Engine, args: argparse.Namespace) -> int:
    command = args.command
    if command == "org":
        org = create_organization(
            engine,
            slug=args.slug,
            name=args.name,
            owner_email=args.owner_email,
            owner_password=args.owner_password,
            addon_enabled=args.addon,
        )
        print(f"Created organization {org.slug} ({org.name}) with owner {args.owner_email}.")
        return 0
    if command == "staff":
        staff = create_staff(engine, email=args.email, password=args.password, name=args.name)
        print(f"Created support staff account {staff.email}.")
        return 0
    org_id = _org_id(engine, args.slug)
    if command == "config":
        return _config(engine, org_id, args)
    if command == "test":
        return _test(engine, org_id, as_json=args.json)
    if command == "run":
        return _run(engine, org_id, as_json=args.json, approve_safety=args.approve_safety)
    if command == "activate":
        run = lifecycle.activate(engine, org_id, label=_operator(), require_test=False)
        print(
            f"Activated {args.slug}: automatic runs are on; run {run.id} is queued (a scheduler executes it)."
        )
        return 0
    if command == "deactivate":
        lifecycle.deactivate(engine, org_id)
        print(f"Deactivated {args.slug}: no more automatic runs.")
        return 0
    if command == "runs":
        return _runs(engine, org_id, as_json=args.json, limit=args.limit)
    if command == "directory":
        from sync.views.directory import directory_report  # pandas: imported only where needed

        with read_session(engine) as session:
            report = directory_report(session, org_id)
        if args.json:
            print(json.dumps(report, indent=2, ensure_ascii=False))
        else:
            for user in report["users"]:
                print(f"{user['status']:<12}{user['email']:<40}{user['first_name']} {user['last_name']}")
            print(f"{len(report['users'])} users, {len(report['teams'])} teams")
        return 0
    raise CommandError(f"Unknown command {command!r}.")


def _org_id(engine: Engine, slug: str) -> int:
    org = organization_by_slug(engine, slug)
    if org is None or org.id is None:
        raise CommandError(
            f"No organization with the slug {slug!r}.", "Create it with `python -m sync org create`."
        )
    return org.id


def _operator() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"cli:{user}@{socket.gethostname()}"


def _config(engine: Engine, org_id: int, args: argparse.Namespace) -> int:
    teams = None
    if args.teams is not None:
        teams = [t.strip() for t in args.teams.split(",") if t.strip()]
    integration = save_settings(
        engine,
        org_id,
        client_id=args.client_id,
        client_secret=_client_secret(args),
        base_url=args.base_url,
        language=args.language,
        sync_external=args.sync_external,
        sync_job_title=args.job_title,
        team_attributes=teams,
        safety_threshold_pct=args.safety_threshold,
    )
    print(
        f"Saved: base URL {integration.base_url}, language {integration.language}, "
        f"external users {'on' if integration.sync_external else 'off'}, "
        f"job title {'on' if integration.sync_job_title else 'off'}, "
        f"teams {','.join(integration.team_attributes) or 'none'}, "
        f"safety threshold {integration.safety_threshold_pct}%, "
        f"client secret {'set' if integration.client_secret_encrypted else 'NOT set'}."
    )
    if args.base_url is not None and not integration.client_secret_encrypted:
        print(
            "The Client Secret is not set for this API address (a secret is only ever sent to the "
            "address it was entered for): set it with --client-secret-stdin."
        )
    if integration.webhook_error_code == "credentials_changed" and args.near_real_time is None:
        print(f"{integration.webhook_error_message} {integration.webhook_error_hint}")
    if args.near_real_time is True:
        integration = near_real_time.switch_on(engine, org_id)
        print(f"Near-real-time updates on: Personio sends changes to {integration.webhook_url}.")
    elif args.near_real_time is False:
        integration = near_real_time.switch_off(engine, org_id)
        if integration.webhook_error_message:
            print(f"{integration.webhook_error_message} Hint: {integration.webhook_error_hint}")
        else:
            print("Near-real-time updates off: the webhook in Personio is deleted.")
    return 0


def _client_secret(args: argparse.Namespace) -> str | None:
    """The secret from standard input, PERSONIO_CLIENT_SECRET, or (warned about) the command line."""
    if args.client_secret_stdin:
        line = sys.stdin.readline().strip()
        if not line:
            raise CommandError(
                "No Client Secret on standard input.",
                "Pipe it in: ... | python -m sync config S --client-secret-stdin",
            )
        return line
    if args.client_secret is not None:
        print(
            "warning: --client-secret is visible to every user of this machine (ps, shell history); "
            "use --client-secret-stdin or PERSONIO_CLIENT_SECRET instead.",
            file=sys.stderr,
        )
        return str(args.client_secret)
    from_env = read(PersonioSettings).personio_client_secret
    return from_env.get_secret_value() if from_env is not None else None


def _print_counts(counts: dict[str, int]) -> None:
    for key, value in counts.items():
        print(f"  {key.replace('_', ' '):<22}{value}")


def _print_changes(changes: list[dict[str, Any]], warnings: list[dict[str, Any]], limit: int = 50) -> None:
    for change in changes[:limit]:
        print(f"  {change['entity']:<11}{change['action']:<11}{change['key']}")
    if len(changes) > limit:
        print(f"  ... and {len(changes) - limit} more (use --json for all)")
    for warning in warnings:
        print(f"  warning: Personio id {warning['personio_id']}: {warning['reason']}")


def _test(engine: Engine, org_id: int, *, as_json: bool) -> int:
    result: TestResult = test_integration(engine, org_id)
    if as_json:
        print(json.dumps(result.as_json(), indent=2, ensure_ascii=False))
    else:
        if result.error:
            print(f"Test failed: {result.error.message}\nHint: {result.error.hint}", file=sys.stderr)
        else:
            print(f"Test passed: {result.employees} employees read. A run would make these changes:")
        _print_counts(result.counts)
        _print_changes(result.changes, result.warnings)
    return 0 if result.ok else 1


def _run(engine: Engine, org_id: int, *, as_json: bool, approve_safety: bool) -> int:
    worker = f"cli-{socket.gethostname()}-{os.getpid()}"
    deadline = time.monotonic() + WAIT_FOR_OPEN_RUN_SECONDS
    run_id = _claim_for_now(engine, org_id, worker, approve_safety=approve_safety)
    while run_id is None:
        # Another run of this organization is running: wait for it, queue nothing meanwhile.
        recover_expired_runs(engine)
        if time.monotonic() > deadline:
            raise CommandError(
                "Another run of this organization is still in progress; nothing was started.",
                "Wait for it (python -m sync runs SLUG), then run again.",
            )
        time.sleep(1)
        run_id = _claim_for_now(engine, org_id, worker, approve_safety=approve_safety)
    outcome: RunOutcome = execute_run(engine, run_id, worker_id=worker)
    if as_json:
        print(json.dumps(outcome.as_json(), indent=2, ensure_ascii=False))
    else:
        if outcome.error:
            print(
                f"Run {run_id} failed: {outcome.error.message}\nHint: {outcome.error.hint}", file=sys.stderr
            )
        else:
            print(f"Run {run_id} succeeded.")
        _print_counts(outcome.counts)
        _print_changes(outcome.changes, outcome.warnings)
    return 0 if outcome.status == queue.SUCCEEDED else 1


def _claim_for_now(engine: Engine, org_id: int, worker: str, *, approve_safety: bool) -> int | None:
    """Claim the organization's queued run, or queue a manual run and claim it.

    None while another run of the organization is running (or a scheduler claimed it first).
    """
    run = lifecycle.run_now(engine, org_id, label=_operator(), approve_safety=approve_safety)
    if run.status != RunStatus.QUEUED or run.id is None:  # running: run_now queued nothing
        return None
    return run.id if queue.claim_run(engine, worker_id=worker, run_id=run.id) is not None else None


def _runs(engine: Engine, org_id: int, *, as_json: bool, limit: int) -> int:
    from sync.views.runs import runs_json  # pandas: imported only where needed

    rows = runs_json(engine, org_id=org_id, limit=limit)
    if as_json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return 0
    for row in rows:
        error = row["error"]["message"] if row["error"] else ""
        pruned = row["details_pruned_after_days"]
        logged = f"{row['changes']:>6} changes" if pruned is None else f"pruned after {pruned} days"
        print(
            f"{row['run_id']:>6}  {row['queued_at'][:19]}  {row['status']:<10}{row['trigger']:<11}"
            f"{row['triggered_by']:<30}{logged}  {error}"
        )
    return 0
