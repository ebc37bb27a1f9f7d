"""The debounce of near-real-time updates: quiet period or maximum delay, whichever comes first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sync.core.debounce import Pending, due_at, run_due

T0 = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
QUIET = timedelta(seconds=60)
MAX_DELAY = timedelta(seconds=120)


def _pending(first: int, last: int, count: int = 1) -> Pending:
    return Pending(
        first_received_at=T0 + timedelta(seconds=first),
        last_received_at=T0 + timedelta(seconds=last),
        count=count,
    )


def _due(pending: Pending, at: int) -> bool:
    return run_due(pending, now=T0 + timedelta(seconds=at), quiet=QUIET, max_delay=MAX_DELAY)


def test_a_single_event_runs_after_the_quiet_period() -> None:
    one = _pending(0, 0)
    assert not _due(one, 59)
    assert _due(one, 60)
    assert due_at(one, quiet=QUIET, max_delay=MAX_DELAY) == T0 + QUIET


def test_a_steady_trickle_still_runs_when_the_first_event_is_max_delay_old() -> None:
    trickle = _pending(0, 110, count=12)  # an event every 10 s: never quiet for 60 s
    assert not _due(trickle, 119)
    assert _due(trickle, 120)
    assert due_at(trickle, quiet=QUIET, max_delay=MAX_DELAY) == T0 + MAX_DELAY


def test_a_burst_waits_for_its_end() -> None:
    burst = _pending(0, 5, count=50)
    assert not _due(burst, 64)
    assert _due(burst, 65)


def test_nothing_waiting_never_runs() -> None:
    assert not _due(_pending(0, 0, count=0), 10_000)


def test_zero_quiet_runs_at_once() -> None:
    assert run_due(_pending(0, 0), now=T0, quiet=timedelta(0), max_delay=MAX_DELAY)
