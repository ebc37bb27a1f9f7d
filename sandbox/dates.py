"""Time as Personio v1 writes it: ISO 8601 with the company's Europe/Berlin offset.

The offset is computed from the EU daylight-saving rule instead of `zoneinfo`, so the sandbox does
not depend on the host having tz data installed.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone
from functools import cache

CET = timezone(timedelta(hours=1))
CEST = timezone(timedelta(hours=2))


@cache  # a handful of (year, month) pairs, asked for on every timestamp served
def _last_sunday(year: int, month: int) -> date:
    """The last Sunday of a month (March and October are the EU switch days)."""
    day = date(year, month, 31)
    return day - timedelta(days=(day.weekday() + 1) % 7)


def berlin_offset(moment: datetime) -> timezone:
    """Europe/Berlin's UTC offset at an aware `moment`: CEST between the EU switch days, else CET."""
    utc = moment.astimezone(UTC)
    summer_start = datetime.combine(_last_sunday(utc.year, 3), time(1), UTC)
    summer_end = datetime.combine(_last_sunday(utc.year, 10), time(1), UTC)
    return CEST if summer_start <= utc < summer_end else CET


def berlin(moment: datetime) -> datetime:
    """An aware `moment` shown in Berlin local time."""
    return moment.astimezone(berlin_offset(moment))


def berlin_midnight(day: date) -> datetime:
    """Midnight at the start of `day` in Berlin, as Personio stamps date attributes."""
    # Noon is never near a switch, so its offset is the offset of that calendar day.
    offset = berlin_offset(datetime.combine(day, time(12), CET))
    return datetime.combine(day, time(0), offset)


def format_datetime(moment: datetime | None) -> str | None:
    """`2014-11-09T00:00:00+01:00`, or None for a missing value."""
    if moment is None:
        return None
    return berlin(moment).isoformat(timespec="seconds")


def format_date(day: date | None) -> str | None:
    """A date attribute: midnight of that day with the Berlin offset, or None."""
    if day is None:
        return None
    return berlin_midnight(day).isoformat(timespec="seconds")


def parse_since(text: str) -> datetime:
    """Parse `updated_since`: `YYYY-MM-DD` or ISO 8601; naive values are Berlin local time.

    Raises ValueError for anything else.
    """
    text = text.strip()
    if len(text) == 10:
        return berlin_midnight(date.fromisoformat(text))
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=berlin_offset(moment.replace(tzinfo=CET)))
    return moment


def parse_day(text: str) -> date:
    """A date given to the admin API: `YYYY-MM-DD` or a full ISO datetime (its calendar day)."""
    text = text.strip()
    if len(text) == 10:
        return date.fromisoformat(text)
    return berlin(parse_since(text)).date()
