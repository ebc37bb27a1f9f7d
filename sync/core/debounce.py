"""When the events Personio announced become a run: the debounce of near-real-time updates. Pure.

An event only says "this organization changed"; the run that follows is an ordinary full sync.
Events are gathered until either no new one arrived for `quiet` (the burst is over) or the
first waiting one is `max_delay` old (a steady trickle still syncs), whichever comes first.
While the organization has an open run, events wait: they cause one more run after it, never a
pile. Personio's retries of an event are one event (the receiver keeps one row per delivery body).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Pending:
    """An organization's events that no run consumed yet."""

    first_received_at: datetime
    last_received_at: datetime
    count: int


def run_due(pending: Pending, *, now: datetime, quiet: timedelta, max_delay: timedelta) -> bool:
    """Whether the waiting events should start a run now (the caller checks for an open run)."""
    if pending.count <= 0:
        return False
    quiet_over = now - pending.last_received_at >= quiet
    waited_enough = now - pending.first_received_at >= max_delay
    return quiet_over or waited_enough


def due_at(pending: Pending, *, quiet: timedelta, max_delay: timedelta) -> datetime:
    """The earliest moment `run_due` becomes true for these events (if no other event arrives)."""
    return min(pending.last_received_at + quiet, pending.first_received_at + max_delay)
