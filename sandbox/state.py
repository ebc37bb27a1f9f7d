"""Everything one running sandbox holds, behind one lock, and how to start it over."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from sandbox.company import Company
from sandbox.credentials import Credential, CredentialStore
from sandbox.deliveries import Deliverer
from sandbox.events import Event
from sandbox.faults import Faults
from sandbox.generate import generate_company
from sandbox.ratelimit import SlidingWindowLimiter, Window
from sandbox.v2_auth import AccessTokenStore
from sandbox.webhooks import WebhookStore

DEFAULT_CLIENT_ID = "papi-sandbox-client-id"
DEFAULT_CLIENT_SECRET = "papi-sandbox-client-secret"


@dataclass(frozen=True)
class SandboxConfig:
    """How the sandbox was started; `POST /_admin/reset` returns to exactly this."""

    employees: int = 500
    seed: int = 7
    client_id: str = DEFAULT_CLIENT_ID
    client_secret: str = DEFAULT_CLIENT_SECRET
    withheld: frozenset[str] = frozenset()
    rate_limit: bool = True
    webhook_retry_scale: float = 1.0  # multiplies the delays between webhook delivery attempts


@dataclass
class Stats:
    """Counts of Personio API traffic (admin calls are not counted)."""

    requests: int = 0
    auth_calls: int = 0
    employee_requests: int = 0
    rate_limited: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counters as JSON."""
        return asdict(self)


def employee_limiter() -> SlidingWindowLimiter:
    """GET /v1/company/employees: 300 requests a minute, bursts of at most 15 a second."""
    return SlidingWindowLimiter((Window(1.0, 15), Window(60.0, 300)))


def auth_limiter() -> SlidingWindowLimiter:
    """POST /v1/auth: 60 requests a minute, then a 60-second cool-down."""
    return SlidingWindowLimiter((Window(60.0, 60),), cooldown=60.0)


class SandboxState:
    """The company, credentials, faults, limits and counters. Hold `lock` while reading or changing them."""

    def __init__(
        self,
        config: SandboxConfig,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.monotonic = monotonic
        self.wall_clock = wall_clock
        self.lock = threading.Lock()
        self.company: Company
        self.credentials: CredentialStore
        self.faults: Faults
        self.stats: Stats
        self.employee_limiter: SlidingWindowLimiter
        self.auth_limiter: SlidingWindowLimiter
        self.v2_tokens: AccessTokenStore
        self.webhooks: WebhookStore
        self.deliverer = Deliverer(retry_scale=config.webhook_retry_scale)  # its threads outlive resets
        self.reset()

    def reset(self) -> None:
        """Back to the start: the company regenerated from the seed, no faults, zero counts, only the
        start-up credential (tokens issued before are no longer valid), no webhooks."""
        config = self.config
        self.company = generate_company(config.employees, config.seed)
        # Tokens issued before stay known as dead (401 blacklisted), not unknown (403).
        previous = getattr(self, "credentials", None)
        self.credentials = CredentialStore(
            [Credential(config.client_id, config.client_secret, config.withheld)],
            retired=previous.every_issued() if previous is not None else (),
        )
        self.faults = Faults()
        self.stats = Stats()
        self.employee_limiter = employee_limiter()
        self.auth_limiter = auth_limiter()
        self.v2_tokens = AccessTokenStore()
        self.webhooks = WebhookStore()
        self.deliverer.reset(config.webhook_retry_scale)

    @property
    def company_id(self) -> str:
        """The company's id in webhook events (`company_id`): 100000 + the seed."""
        return str(100_000 + self.config.seed)

    def notify(self, events: list[Event]) -> None:
        """Deliver these events to every subscribed webhook, in the background."""
        if events and self.webhooks.webhooks:
            self.deliverer.enqueue(self.company_id, events, self.webhooks, self.now())

    def now(self) -> datetime:
        """The wall-clock time, aware, for stamping changes."""
        return datetime.fromtimestamp(self.wall_clock(), UTC)
