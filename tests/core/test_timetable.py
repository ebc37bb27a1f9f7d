"""When automatic runs are due: daily at 04:00 UTC, or every N hours on a grid through 04:00."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from sync.core.timetable import describe_schedule, next_run_after


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (utc(2026, 11, 25, 3, 59, 59, 999999), utc(2026, 11, 25, 4, 0)),
        (utc(2026, 11, 25, 4, 0), utc(2026, 11, 26, 4, 0)),  # strictly after: not now again
        (utc(2026, 11, 25, 4, 0, 0, 1), utc(2026, 11, 26, 4, 0)),
        (utc(2026, 11, 25, 0, 0), utc(2026, 11, 25, 4, 0)),
        (utc(2026, 11, 25, 23, 59), utc(2026, 11, 26, 4, 0)),
        (utc(2026, 12, 31, 5, 0), utc(2027, 1, 1, 4, 0)),  # year end
        (utc(2028, 2, 28, 4, 30), utc(2028, 2, 29, 4, 0)),  # leap day
    ],
)
def test_daily_runs_are_at_four_utc_strictly_after_now(now: datetime, expected: datetime) -> None:
    assert next_run_after(now, None) == expected


def test_an_aware_time_in_another_zone_is_read_as_the_same_instant() -> None:
    berlin_winter = timezone(timedelta(hours=1))
    now = datetime(2026, 11, 25, 4, 30, tzinfo=berlin_winter)  # 03:30 UTC
    assert next_run_after(now, None) == utc(2026, 11, 25, 4, 0)
    assert next_run_after(now, None).tzinfo == UTC


@pytest.mark.parametrize("every_hours", [None, 6])
def test_a_naive_time_is_taken_as_utc(every_hours: int | None) -> None:
    naive = datetime(2026, 11, 25, 9, 0)
    assert next_run_after(naive, every_hours) == next_run_after(
        naive.replace(tzinfo=UTC), every_hours
    ).replace(tzinfo=None)


def test_zero_hours_means_daily() -> None:
    now = utc(2026, 11, 25, 12, 0)
    assert next_run_after(now, 0) == next_run_after(now, None)


@pytest.mark.parametrize(
    ("now", "every_hours", "expected"),
    [
        (utc(2026, 11, 25, 10, 30), 1, utc(2026, 11, 25, 11, 0)),
        (utc(2026, 11, 25, 11, 0), 1, utc(2026, 11, 25, 12, 0)),
        (utc(2026, 11, 25, 9, 0), 6, utc(2026, 11, 25, 10, 0)),
        (utc(2026, 11, 25, 10, 0), 6, utc(2026, 11, 25, 16, 0)),
        (utc(2026, 11, 25, 22, 0, 1), 6, utc(2026, 11, 26, 4, 0)),
        (utc(2026, 11, 25, 3, 0), 12, utc(2026, 11, 25, 4, 0)),
        (utc(2026, 11, 25, 5, 0), 24, utc(2026, 11, 26, 4, 0)),
        (utc(1999, 6, 1, 5, 0), 6, utc(1999, 6, 1, 10, 0)),  # before the grid's origin
    ],
)
def test_every_n_hours_lands_on_a_grid_through_four_utc(
    now: datetime, every_hours: int, expected: datetime
) -> None:
    assert next_run_after(now, every_hours) == expected


def test_every_n_hours_keeps_even_steps_when_n_does_not_divide_a_day() -> None:
    slot = next_run_after(utc(2026, 11, 25, 0, 0), 5)
    following = next_run_after(slot, 5)
    assert (following - slot).total_seconds() == 5 * 3600
    assert slot > utc(2026, 11, 25, 0, 0)


def test_a_late_tick_does_not_shift_the_grid() -> None:
    on_time = next_run_after(utc(2026, 11, 25, 10, 0, 0), 6)
    late = next_run_after(utc(2026, 11, 25, 10, 3, 17), 6)
    assert on_time == late == utc(2026, 11, 25, 16, 0)


@pytest.mark.parametrize("every_hours", [-1, 24 * 7 + 1])
def test_an_impossible_interval_is_refused(every_hours: int) -> None:
    with pytest.raises(ValueError, match="every_hours"):
        next_run_after(utc(2026, 11, 25), every_hours)


@pytest.mark.parametrize(
    ("every_hours", "text"), [(None, "daily at 04:00 UTC"), (1, "every hour"), (6, "every 6 hours")]
)
def test_schedule_in_words(every_hours: int | None, text: str) -> None:
    assert describe_schedule(every_hours) == text
