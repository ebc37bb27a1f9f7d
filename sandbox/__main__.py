"""`python -m sandbox`: serve a generated company over Personio's v1 API until SIGTERM or Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import sys
from types import FrameType

from sandbox.encoding import ATTRIBUTE_KEYS
from sandbox.server import SandboxServer
from sandbox.state import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, SandboxConfig, SandboxState


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line; `--withhold email,position` becomes a set of attribute keys."""
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--employees", type=int, default=500, help="company size (default 500)")
    parser.add_argument("--seed", type=int, default=7, help="same seed and size, same company")
    parser.add_argument("--client-id", default=DEFAULT_CLIENT_ID)
    parser.add_argument("--client-secret", default=DEFAULT_CLIENT_SECRET)
    parser.add_argument(
        "--withhold",
        default="",
        help="comma-separated attribute keys the credential may not read, e.g. email,position",
    )
    parser.add_argument("--no-rate-limit", action="store_true", help="switch off Personio's rate limits")
    parser.add_argument("--quiet", action="store_true", help="no access log on stderr")
    parser.add_argument(
        "--webhook-retry-scale",
        type=float,
        default=1.0,
        help="multiply the delays between webhook delivery attempts (1 = Personio's; 0.001 for tests)",
    )
    args = parser.parse_args(argv)
    if args.employees < 0:
        parser.error("--employees must be >= 0")
    if args.webhook_retry_scale < 0:
        parser.error("--webhook-retry-scale must be >= 0")
    args.withhold = frozenset(key.strip() for key in args.withhold.split(",") if key.strip())
    unknown = sorted(args.withhold - set(ATTRIBUTE_KEYS))
    if unknown:
        parser.error(f"--withhold: unknown attribute(s) {', '.join(unknown)}")
    return args


def _stop(signum: int, frame: FrameType | None) -> None:
    # Raised in the main thread, out of serve_forever, so the socket is closed on the way out.
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> int:
    """Generate the company, listen, print the ready banner, serve until told to stop."""
    args = parse_args(argv)
    config = SandboxConfig(
        employees=args.employees,
        seed=args.seed,
        client_id=args.client_id,
        client_secret=args.client_secret,
        withheld=args.withhold,
        rate_limit=not args.no_rate_limit,
        webhook_retry_scale=args.webhook_retry_scale,
    )
    state = SandboxState(config)
    server = SandboxServer(state, args.host, args.port, log_requests=not args.quiet)
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    port = server.server_address[1]  # the real one when --port 0 let the OS choose
    print(
        f"Personio sandbox ready: http://{args.host}:{port}\n"
        f"  client_id:     {config.client_id}\n"
        f"  client_secret: {config.client_secret}\n"
        f"  employees:     {state.company.count()}",
        flush=True,
    )
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
