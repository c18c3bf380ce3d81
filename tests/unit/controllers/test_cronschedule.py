"""The cron parser and next-run search: grammar, day matching, zones, DST, and a brute-force oracle."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubeling.controllers.cronschedule import ScheduleError, parse


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("spec", "after", "expected"),
    [
        ("* * * * *", utc(2026, 1, 1, 10, 0, 30), utc(2026, 1, 1, 10, 1)),
        ("* * * * *", utc(2026, 1, 1, 10, 0), utc(2026, 1, 1, 10, 1)),  # strictly after
        ("*/15 * * * *", utc(2026, 1, 1, 10, 16), utc(2026, 1, 1, 10, 30)),
        ("5-10/2 * * * *", utc(2026, 1, 1, 10, 6), utc(2026, 1, 1, 10, 7)),
        ("50/5 * * * *", utc(2026, 1, 1, 10, 56), utc(2026, 1, 1, 11, 50)),
        ("0,30 9-17 * * *", utc(2026, 1, 1, 17, 30), utc(2026, 1, 2, 9, 0)),
        ("0 0 * JAN,jul *", utc(2026, 2, 1), utc(2026, 7, 1)),
        ("0 12 * * MON-FRI", utc(2026, 11, 21, 13), utc(2026, 11, 23, 12)),  # Sat → Mon
        ("0 0 13 * FRI", utc(2026, 1, 1), utc(2026, 1, 2)),  # dom OR dow: Friday 2 Jan
        ("0 0 13 * *", utc(2026, 1, 1), utc(2026, 1, 13)),
        ("0 0 ? * 0", utc(2026, 11, 23), utc(2026, 11, 29)),  # ? = any; Sunday 29 Nov
        ("0 0 29 2 *", utc(2026, 1, 1), utc(2028, 2, 29)),  # leap day
        ("@hourly", utc(2026, 1, 1, 10, 5), utc(2026, 1, 1, 11)),
        ("@daily", utc(2026, 1, 1, 10), utc(2026, 1, 2)),
        ("@midnight", utc(2026, 1, 1, 10), utc(2026, 1, 2)),
        ("@weekly", utc(2026, 11, 23), utc(2026, 11, 29)),
        ("@monthly", utc(2026, 1, 15), utc(2026, 2, 1)),
        ("@yearly", utc(2026, 1, 15), utc(2027, 1, 1)),
        ("@annually", utc(2026, 1, 15), utc(2027, 1, 1)),
    ],
)
def test_next_run(spec: str, after: datetime, expected: datetime) -> None:
    assert parse(spec).next(after) == expected


def test_step_over_star_restricts_the_day_of_week() -> None:
    # "*/2" in day-of-week is not "any": with a restricted day-of-month either may match.
    schedule = parse("0 0 1 * */2")
    assert not schedule.weekdays_any
    # 2 Jan 2026 is a Friday (5): neither the 1st nor an even weekday.
    assert not schedule.day_matches(datetime(2026, 1, 2))
    assert schedule.day_matches(datetime(2026, 1, 3))  # Saturday = 6


def test_impossible_schedule_has_no_next_run() -> None:
    assert parse("0 0 30 2 *").next(utc(2026, 1, 1)) is None


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("* * * *", "expected exactly 5 fields, found 4"),
        ("60 * * * *", "above maximum (59)"),
        ("* * 0 * *", "below minimum (1)"),
        ("5-1 * * * *", "beyond end of range"),
        ("*/0 * * * *", "step of range should be a positive number"),
        ("a * * * *", "failed to parse int from a"),
        ("* * * FOO *", "failed to parse int from FOO"),
        ("@every 5m", "unrecognized descriptor"),
        ("1-2-3 * * * *", "too many hyphens"),
        ("CRON_TZ=Nowhere/Atlantis * * * * *", "unknown time zone Nowhere/Atlantis"),
        ("* * * * 7", "above maximum (6)"),
    ],
)
def test_errors(spec: str, message: str) -> None:
    with pytest.raises(ScheduleError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse(spec)


def test_zone_prefix_and_caller_zone() -> None:
    tokyo = parse("CRON_TZ=Asia/Tokyo 0 9 * * *")
    # 09:00 in Tokyo is 00:00 UTC.
    assert tokyo.next(utc(2026, 1, 1, 1)) == utc(2026, 1, 2, 0)
    assert parse("TZ=Asia/Tokyo 0 9 * * *").next(utc(2026, 1, 1, 1)) == utc(2026, 1, 2, 0)
    plain = parse("0 9 * * *")
    assert plain.next(utc(2026, 1, 1, 1), ZoneInfo("Asia/Tokyo")) == utc(2026, 1, 2, 0)
    assert plain.next(utc(2026, 1, 1, 1)) == utc(2026, 1, 1, 9)


def test_dst_gap_is_skipped_and_fold_runs_once() -> None:
    new_york = ZoneInfo("America/New_York")
    # 8 Mar 2026: 02:00 → 03:00 local; 02:30 does not exist that day.
    daily = parse("30 2 * * *")
    assert daily.next(utc(2026, 3, 8, 5), new_york) == datetime(2026, 3, 9, 2, 30, tzinfo=new_york)
    # 1 Nov 2026: 01:30 happens twice; it runs at the first one only.
    fold = parse("30 1 * * *")
    first = fold.next(utc(2026, 11, 1, 4), new_york)
    assert first == utc(2026, 11, 1, 5, 30)  # 01:30 EDT
    assert fold.next(first, new_york) == utc(2026, 11, 2, 6, 30)  # next day, 01:30 EST


def _matches(spec_fields: tuple[set[int], ...], dom_any: bool, dow_any: bool, t: datetime) -> bool:
    minutes, hours, days, months, weekdays = spec_fields
    day_ok = (
        (t.day in days and (t.isoweekday() % 7) in weekdays)
        if dom_any or dow_any
        else (t.day in days or (t.isoweekday() % 7) in weekdays)
    )
    return t.minute in minutes and t.hour in hours and t.month in months and day_ok


def _field(low: int, high: int) -> st.SearchStrategy[str]:
    number = st.integers(low, high)
    single = number.map(str)
    span = st.tuples(number, number).map(lambda p: f"{min(p)}-{max(p)}")
    step = st.tuples(st.sampled_from(["*", f"{low}-{high}"]), st.integers(1, 5)).map(
        lambda p: f"{p[0]}/{p[1]}"
    )
    part = st.one_of(single, span, step, st.just("*"))
    return st.lists(part, min_size=1, max_size=3).map(",".join)


@settings(max_examples=150, deadline=None)
@given(
    minute=_field(0, 59),
    hour=_field(0, 23),
    dom=_field(1, 31),
    dow=_field(0, 6),
    start=st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2030, 1, 1)),
)
def test_next_agrees_with_a_minute_by_minute_search(
    minute: str, hour: str, dom: str, dow: str, start: datetime
) -> None:
    schedule = parse(f"{minute} {hour} {dom} * {dow}")
    after = start.replace(tzinfo=UTC)
    found = schedule.next(after)
    fields = (schedule.minutes, schedule.hours, schedule.days, schedule.months, schedule.weekdays)
    # Walk at most three days minute by minute: the answer must be the first match.
    t = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
    for _ in range(3 * 24 * 60):
        if _matches(fields, schedule.days_any, schedule.weekdays_any, t):
            assert found == t
            return
        t += timedelta(minutes=1)
    assert found is None or found > t - timedelta(minutes=1)
