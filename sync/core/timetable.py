"""When automatic runs are due. Pure: the current time is passed in.

Daily runs happen at 04:00 UTC. Runs every N hours sit on a fixed grid that passes
through 04:00 UTC (every 6 hours = 04:00, 10:00, 16:00, 22:00), so the times stay
the same however late a tick fired and a schedule reads the same on every day.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

DAILY_AT_HOUR_UTC = 4
MAX_EVERY_HOURS = 24 * 7
# Any day at 04:00 serves as the grid's origin; runs every N hours land on origin + k*N hours.
_GRID_ORIGIN = datetime(2000, 1, 1, DAILY_AT_HOUR_UTC, tzinfo=UTC)


def next_run_after(now: datetime, every_hours: int | None) -> datetime:
    """The next automatic run strictly after `now`, in UTC.

    Daily at 04:00 UTC when `every_hours` is None (or 0); else the next slot of the
    every-N-hours grid through 04:00 UTC. An aware `now` (any zone) gives an aware UTC
    result; a naive `now` is taken as UTC and gives a naive result. Raises ValueError for
    a negative or absurdly long interval.
    """
    if now.tzinfo is not None:
        now = now.astimezone(UTC)
    if not every_hours:
        today = now.replace(hour=DAILY_AT_HOUR_UTC, minute=0, second=0, microsecond=0)
        return today if today > now else today + timedelta(days=1)
    if not 1 <= every_hours <= MAX_EVERY_HOURS:
        raise ValueError(f"every_hours must be between 1 and {MAX_EVERY_HOURS}, not {every_hours}")
    step = timedelta(hours=every_hours)
    origin = _GRID_ORIGIN if now.tzinfo is not None else _GRID_ORIGIN.replace(tzinfo=None)
    slots_passed = (now - origin) // step  # floor division: also right before the origin
    return origin + (slots_passed + 1) * step


def describe_schedule(every_hours: int | None) -> str:
    """The schedule in words, for the dashboard and log lines."""
    if every_hours:
        return "every hour" if every_hours == 1 else f"every {every_hours} hours"
    return "daily at 04:00 UTC"
