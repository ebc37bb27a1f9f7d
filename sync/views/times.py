"""Times as the dashboard's read-only views hand them out: aware UTC, and naive UTC for tables."""

from __future__ import annotations

from datetime import UTC, datetime


def as_utc(moment: datetime) -> datetime:
    """Aware UTC; a naive value from the database is UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def table_time(moment: datetime | None) -> datetime | None:
    """A time for a table column headed "(UTC)": naive, so no "+00:00" is shown."""
    return as_utc(moment).replace(tzinfo=None) if moment is not None else None
