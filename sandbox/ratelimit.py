"""Personio's rate limits as sliding windows: every request in the last N seconds counts."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Window:
    """At most `limit` requests in any `seconds`-long stretch."""

    seconds: float
    limit: int


@dataclass
class SlidingWindowLimiter:
    """Admits requests per key (a client id) while every window has room.

    A refused request is not counted, so a client that backs off gets back in as soon as the oldest
    request leaves the window. With `cooldown`, a refusal instead locks the key out for that long
    (Personio's auth endpoint: "on excess a 60 second cool-down period").
    """

    windows: tuple[Window, ...]
    cooldown: float | None = None
    _seen: dict[str, deque[float]] = field(default_factory=dict)
    _locked_until: dict[str, float] = field(default_factory=dict)

    def admit(self, key: str, now: float) -> float | None:
        """Count a request at `now` (monotonic seconds) and return None, or refuse it and return the
        seconds after which a retry can succeed."""
        locked_until = self._locked_until.get(key, 0.0)
        if now < locked_until:
            return locked_until - now
        seen = self._seen.setdefault(key, deque())
        longest = max(window.seconds for window in self.windows)
        while seen and seen[0] <= now - longest:
            seen.popleft()
        wait = 0.0
        for window in self.windows:
            # Requests inside this window sit at the right end of `seen`, which is in time order.
            inside = _count_since(seen, now - window.seconds)
            if inside >= window.limit:
                oldest_inside = seen[len(seen) - inside]
                wait = max(wait, oldest_inside + window.seconds - now)
        if wait > 0:
            if self.cooldown is not None:
                self._locked_until[key] = now + self.cooldown
                return self.cooldown
            return wait
        seen.append(now)
        return None

    def clear(self) -> None:
        """Forget every request counted so far."""
        self._seen.clear()
        self._locked_until.clear()


def _count_since(seen: deque[float], start: float) -> int:
    """How many timestamps in the time-ordered `seen` are after `start`."""
    count = 0
    for stamp in reversed(seen):
        if stamp <= start:
            break
        count += 1
    return count


def retry_after_header(seconds: float) -> str:
    """`Retry-After` in whole seconds, never 0 (a 0 would invite an immediate retry that fails)."""
    return str(max(1, math.ceil(seconds)))
