"""The scheduler process: arguments, logging, the database, signals; the loop itself is `loop`.

`python -m sync.scheduler [--once]` (also `python -m sync scheduler`).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import time
from collections.abc import Sequence
from types import FrameType

from sqlalchemy.engine import make_url

from storage.config import database_url
from storage.db import make_engine
from sync.scheduler.loop import Scheduler, SchedulerConfig

log = logging.getLogger("sync.scheduler")


class _UtcFormatter(logging.Formatter):
    """`2026-11-25 04:00:01Z org=acme run=12 started (automatic)`; warnings and errors say so."""

    @staticmethod
    def converter(seconds: float | None) -> time.struct_time:
        return time.gmtime(seconds)

    def format(self, record: logging.LogRecord) -> str:
        stamp = self.formatTime(record, "%Y-%m-%d %H:%M:%S") + "Z"
        level = "" if record.levelno <= logging.INFO else f"{record.levelname.lower()}: "
        return f"{stamp} {level}{record.getMessage()}"


def configure_logging() -> None:
    """Readable UTC log lines on stderr, unless logging was set up already (e.g. by the CLI)."""
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_UtcFormatter())
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    # Request lines of the HTTP client are noise here (and carry URLs); the scheduler logs each
    # run's outcome itself, so the runner's own success line would say it twice.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    logging.getLogger("sync.runner").setLevel(logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the scheduler until SIGTERM/SIGINT. Returns the exit code (0 after a clean stop)."""
    parser = argparse.ArgumentParser(
        prog="python -m sync.scheduler",
        description="Run due and queued Personio syncs and deliver email, until SIGTERM or Ctrl+C.",
        epilog="Environment: DATABASE_URL, SCHEDULER_TICK_SECONDS (5), SCHEDULER_LEASE_SECONDS (30), "
        "SCHEDULER_WORKERS (4), RUN_DETAIL_RETENTION_DAYS (180), SMTP_URL, SMTP_FROM, "
        "SMTP_RETRY_BASE_SECONDS (30), SMTP_RETRY_MAX_SECONDS (1800).",
    )
    parser.add_argument("--once", action="store_true", help="do one tick, then exit")
    args = parser.parse_args(list(argv) if argv is not None else None)
    configure_logging()
    try:
        config = SchedulerConfig.from_env()
    except ValueError as exc:  # InvalidSchedulerSetting, InvalidSmtpUrl: messages hold no secret
        log.error("%s", exc)
        return 2
    try:
        # Per worker: its run's session and its lease renewal; plus the loop's own.
        engine = make_engine(database_url(), pool_size=2 * config.workers + 3)
    except Exception as exc:
        # One line, no traceback and no password. The URL itself may be what failed to parse, so
        # it is shown (password hidden) only when it parses.
        from sqlalchemy import exc as sa_exc

        try:
            shown = make_url(database_url()).render_as_string(hide_password=True)
        except Exception:
            shown = None
        url_hint = (
            "set DATABASE_URL to sqlite:///data/app.db or postgresql+psycopg://USER:PASSWORD@HOST:5432/DBNAME"
        )
        if shown is None:
            problem, hint = "DATABASE_URL is not a database URL", url_hint
        elif isinstance(exc, sa_exc.NoSuchModuleError | ImportError):
            problem, hint = f"cannot open the database {shown}: no database driver for it", url_hint
        else:
            problem = f"cannot open the database {shown}: {type(exc).__name__}"
            hint = (
                "check that the database server is running and reachable from here, and the host, "
                "port, database name, user and password in DATABASE_URL"
            )
        log.error("%s. Hint: %s.", problem, hint)
        return 2

    scheduler = Scheduler(engine, config)

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        scheduler.request_stop(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        scheduler.start()
        if args.once:
            scheduler.tick()
        else:
            scheduler.run_forever()
    finally:
        scheduler.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        engine.dispose()
    return 0
