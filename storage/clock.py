"""Time as the product stores it: aware UTC datetimes (SQLModel refuses naive ones)."""

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
