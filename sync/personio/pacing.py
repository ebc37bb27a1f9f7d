"""Pacing and back-off for the Personio client: pure, with an injectable clock, so tests never wait.

Personio allows 300 requests per minute and bursts of 15 per second on `company/employees`. The
client stays a little under both (290/min, 14/s) with sliding windows instead of finding the limit
by running into 429s; when a 429 or a 5xx still comes, `backoff_delay` says how long to wait.
On top of that, Personio allows 2,000 requests a minute per source IP on v1: every client of this
process talking to one host shares a ceiling of 1,800 a minute (`shared_host_pacer`).
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

DEFAULT_PER_MINUTE = 290
DEFAULT_PER_SECOND = 14
# A Retry-After is honoured up to this many multiples of the back-off base (60 s by default):
# Personio's longest documented cool-down is 60 s, and tests shrink every wait with the base.
RETRY_AFTER_CAP_FACTOR = 60.0


@dataclass(frozen=True)
class RateLimit:
    """How many requests the client may send: per sliding minute and per sliding second."""

    per_minute: int = DEFAULT_PER_MINUTE
    per_second: int = DEFAULT_PER_SECOND

    def __post_init__(self) -> None:
        if self.per_minute < 1 or self.per_second < 1:
            raise ValueError(
                "RateLimit needs at least 1 request per minute and per second; use None for no pacing."
            )


DEFAULT_RATE_LIMIT = RateLimit()  # a little under Personio's 300/min and 15/s
DEFAULT_HOST_PER_MINUTE = 1800  # a little under Personio's 2,000/min per source IP (v1)
# Personio names no per-second limit per IP: only the minute window counts.
DEFAULT_HOST_RATE_LIMIT = RateLimit(per_minute=DEFAULT_HOST_PER_MINUTE, per_second=DEFAULT_HOST_PER_MINUTE)


def rate_limit_per_minute(per_minute: int | None) -> RateLimit | None:
    """The pacing for a setting of `per_minute` requests (None: 290/min, 14/s; 0: no pacing).

    The caller reads the setting (PERSONIO_RATE_LIMIT_PER_MINUTE, see storage.config).
    Raises ValueError for a negative number.
    """
    if per_minute is None:
        return DEFAULT_RATE_LIMIT
    if per_minute < 0:
        raise ValueError("per_minute must not be negative; use 0 for no pacing.")
    if per_minute == 0:
        return None
    return RateLimit(per_minute=per_minute, per_second=min(DEFAULT_PER_SECOND, per_minute))


def host_rate_limit_per_minute(per_minute: int) -> RateLimit | None:
    """The ceiling for all requests of this process to one host (PERSONIO_HOST_RATE_LIMIT_PER_MINUTE,
    see storage.config): `per_minute` in any sliding minute, no second window; 0: no ceiling.
    Raises ValueError for a negative number."""
    if per_minute < 0:
        raise ValueError("per_minute must not be negative; use 0 for no ceiling.")
    if per_minute == 0:
        return None
    return RateLimit(per_minute=per_minute, per_second=per_minute)


class Pacer:
    """Blocks just long enough that no sliding minute or second holds more requests than allowed.

    `clock` and `sleep` are injectable so tests run against a fake clock. Thread-safe: clients of
    the same credentials share one pacer (`shared_pacer`), and the dashboard runs them in threads.
    """

    def __init__(
        self,
        limit: RateLimit,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.limit = limit
        self._clock = clock
        self._sleep = sleep
        self._sent: deque[float] = deque()  # send times within the last minute, oldest first
        self._lock = threading.Lock()

    def acquire(self, *, also: Sequence[Pacer] = (), sleep: Callable[[float], None] | None = None) -> float:
        """Wait until one more request fits this pacer's windows and those of every pacer in `also`
        (the host ceiling), record it in all of them at once, return the seconds waited.

        `sleep` replaces the pacer's own for this call (the client's, which honours its deadline and
        stop event, and may raise to give up waiting).
        """
        pacers = sorted({id(p): p for p in (self, *also)}.values(), key=id)  # one lock order for all
        pause = sleep or self._sleep
        waited = 0.0
        while True:
            for pacer in pacers:
                pacer._lock.acquire()
            try:
                now = self._clock()
                delay = max(pacer._delay_needed(now) for pacer in pacers)
                if delay <= 0:
                    for pacer in pacers:
                        pacer._sent.append(now)
                    return waited
            finally:
                for pacer in reversed(pacers):
                    pacer._lock.release()
            pause(delay)  # outside the locks: another thread may take the slot first, then we wait again
            waited += delay

    def sent_in_last_minute(self) -> int:
        """Requests recorded in the sliding minute that ends now."""
        with self._lock:
            now = self._clock()
            return sum(1 for sent in self._sent if sent > now - 60.0)

    def _delay_needed(self, now: float) -> float:
        while self._sent and self._sent[0] <= now - 60.0:
            self._sent.popleft()
        delay = 0.0
        if len(self._sent) >= self.limit.per_minute:
            # The request that leaves the minute window first makes room.
            delay = self._sent[-self.limit.per_minute] + 60.0 - now
        if len(self._sent) >= self.limit.per_second:
            oldest_in_burst = self._sent[-self.limit.per_second]
            delay = max(delay, oldest_in_burst + 1.0 - now)
        return delay


_shared: dict[tuple[str, str, RateLimit], Pacer] = {}
_shared_lock = threading.Lock()


def shared_pacer(base_url: str, client_id: str, limit: RateLimit) -> Pacer:
    """The one pacer of this process for these credentials.

    Personio counts requests per API credential, not per client object: a Test in the dashboard
    right after a run (or two runs of one org in a row) must share the allowance, not each get a
    fresh one.
    """
    key = (base_url, client_id, limit)
    with _shared_lock:
        pacer = _shared.get(key)
        if pacer is None:
            pacer = _shared[key] = Pacer(limit)
        return pacer


_host_pacers: dict[tuple[str, RateLimit], Pacer] = {}


def shared_host_pacer(base_url: str, limit: RateLimit) -> Pacer:
    """The one pacer of this process for every request to `base_url`, whatever the credentials.

    Personio counts requests per source IP as well: the runs of many organizations in one process
    (scheduler workers, dashboard threads) must stay under that together.
    """
    key = (base_url, limit)
    with _shared_lock:
        pacer = _host_pacers.get(key)
        if pacer is None:
            pacer = _host_pacers[key] = Pacer(limit)
        return pacer


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date); None when absent or unreadable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


def backoff_delay(
    attempt: int,
    *,
    base: float,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait before try `attempt + 1` after try `attempt` (1-based) failed.

    Exponential (base, 2*base, 4*base, ...) with jitter in the upper half of each step, so clients
    that failed together do not retry together; at least `retry_after` when the server sent one,
    capped at RETRY_AFTER_CAP_FACTOR * base.
    """
    step = base * 2.0 ** max(0, attempt - 1)
    jitter = rng.uniform(0.5, 1.0) if rng is not None else random.uniform(0.5, 1.0)
    delay = step * jitter
    if retry_after is not None:
        delay = max(delay, retry_after)
    return max(0.0, min(delay, RETRY_AFTER_CAP_FACTOR * base))
