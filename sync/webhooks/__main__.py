"""`python -m sync.webhooks [--host H] [--port P]`: serve the webhook receiver until SIGTERM."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

import uvicorn

from storage.config import WebhookSettings, database_url, read
from storage.db import make_engine
from sync.webhooks.app import create_app

log = logging.getLogger("sync.webhooks")


def serve(host: str | None = None, port: int | None = None) -> int:
    """Serve the receiver on host:port (WEBHOOK_ADDRESS / WEBHOOK_PORT by default); 0 after SIGTERM."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = read(WebhookSettings)
        engine = make_engine(database_url())
    except Exception as exc:  # a setting or the database: one plain line, no secret
        log.error("the webhook receiver cannot start: %s", exc)
        return 2
    app = create_app(engine)
    config = uvicorn.Config(
        app,
        host=host or settings.webhook_address,
        port=port or settings.webhook_port,
        access_log=False,  # the path holds an organization's id
        log_level="warning",
        timeout_keep_alive=5,
        limit_concurrency=200,
        server_header=False,
        date_header=False,
    )
    log.info("webhook receiver listening on %s:%s", config.host, config.port)
    try:
        uvicorn.Server(config).run()
    finally:
        engine.dispose()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sync.webhooks",
        description="Receive Personio's webhook deliveries (near-real-time updates) until SIGTERM or Ctrl+C.",
        epilog="Environment: DATABASE_URL, WEBHOOK_ADDRESS (0.0.0.0), WEBHOOK_PORT (8502).",
    )
    parser.add_argument("--host", help="address to listen on (default WEBHOOK_ADDRESS or 0.0.0.0)")
    parser.add_argument("--port", type=int, help="port to listen on (default WEBHOOK_PORT or 8502)")
    args = parser.parse_args(list(argv) if argv is not None else None)
    return serve(args.host, args.port)


if __name__ == "__main__":
    sys.exit(main())
