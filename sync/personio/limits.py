"""How long a fetch may take and how much Personio may send: pure, so a test can call it with numbers.

Every request has a whole-response deadline (not only a per-read timeout) and a size cap; every
fetch has a deadline derived from the pages the company needs at the paced rate, never more than
30 minutes; and a `total_elements` no real company has stops the fetch before its second page.
"""

from __future__ import annotations

import math

from sync.personio.pacing import RateLimit

PAGE_SIZE = 100  # Personio's maximum `limit` since 2025-01-31
DEFAULT_REQUEST_DEADLINE_SECONDS = 30.0  # one whole request: headers and the whole body
DEFAULT_MAX_PAGE_BYTES = 20_000_000  # 20 MB; a page of 100 employees is well under 1 MB
MAX_RUN_DEADLINE_SECONDS = 30 * 60
# The derived fetch deadline: every request at the paced interval plus this much to answer,
# and a margin for sign-in, a few retries and their back-off.
SECONDS_PER_REQUEST = 2.0
RUN_DEADLINE_MARGIN_SECONDS = 120.0
MAX_EMPLOYEES = 1_000_000  # beyond this, total_elements is a fault, not a company
GROWTH_FACTOR = 10  # ... and beyond ten times what the last successful run saw
MIN_GROWTH_LIMIT = 10 * PAGE_SIZE  # a company of 5 may still grow to a few pages


def pages_needed(employees: int) -> int:
    """Pages of `PAGE_SIZE` a listing of `employees` takes (an empty listing is still one page)."""
    return max(1, math.ceil(employees / PAGE_SIZE))


def derived_run_deadline(employees: int, limits: tuple[RateLimit | None, ...]) -> float:
    """Seconds a fetch of `employees` may take: (sign-in + pages) x (paced interval + time to
    answer) + margin, at most MAX_RUN_DEADLINE_SECONDS. `limits` are the pacings the requests go
    through (per credential, per host; None: unpaced); the slowest one sets the interval."""
    per_minute = [limit.per_minute for limit in limits if limit is not None]
    interval = 60.0 / min(per_minute) if per_minute else 0.0
    requests = 1 + pages_needed(employees)
    seconds = requests * (interval + SECONDS_PER_REQUEST) + RUN_DEADLINE_MARGIN_SECONDS
    return min(seconds, float(MAX_RUN_DEADLINE_SECONDS))


def employee_limit(known_employees: int | None) -> int:
    """The most employees a listing may report: MAX_EMPLOYEES, and when an earlier run succeeded with
    `known_employees`, GROWTH_FACTOR times that (at least MIN_GROWTH_LIMIT)."""
    if known_employees is None:
        return MAX_EMPLOYEES
    return min(MAX_EMPLOYEES, max(GROWTH_FACTOR * known_employees, MIN_GROWTH_LIMIT))
