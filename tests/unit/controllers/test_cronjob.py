"""Pure pieces of the CronJob controller: job names, missed-schedule arithmetic, job bodies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from kubeling.controllers.cronjob import (
    SCHEDULED_TIMESTAMP,
    job_from_template,
    job_name,
    most_recent_schedule,
)
from kubeling.controllers.cronschedule import parse


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_job_name_is_minutes_since_the_epoch() -> None:
    assert job_name("nightly", utc(2026, 1, 1)) == f"nightly-{int(utc(2026, 1, 1).timestamp()) // 60}"


@pytest.mark.parametrize(
    ("spec", "earliest", "now", "expected", "missed"),
    [
        ("* * * * *", utc(2026, 1, 1, 10, 0, 30), utc(2026, 1, 1, 10, 0, 50), None, 0),
        ("* * * * *", utc(2026, 1, 1, 10, 0, 30), utc(2026, 1, 1, 10, 1, 5), utc(2026, 1, 1, 10, 1), 1),
        ("* * * * *", utc(2026, 1, 1, 10, 0), utc(2026, 1, 1, 10, 5, 5), utc(2026, 1, 1, 10, 5), 5),
        ("0 * * * *", utc(2026, 1, 1, 0, 0), utc(2026, 1, 8, 0, 30), utc(2026, 1, 8, 0, 0), 168),
        # Irregular: 06:30, 10:30, 14:30 on weekdays; the walk must land on the real latest time.
        ("30 6-16/4 * * 1-5", utc(2026, 11, 20, 7), utc(2026, 11, 23, 12), utc(2026, 11, 23, 10, 30), 3),
    ],
    ids=["none-yet", "one", "five", "many-hourly", "irregular"],
)
def test_most_recent_schedule(
    spec: str, earliest: datetime, now: datetime, expected: datetime | None, missed: int
) -> None:
    latest, count = most_recent_schedule(parse(spec), earliest, now, None)
    assert latest == expected
    if spec != "30 6-16/4 * * 1-5":
        assert count == missed
    else:
        assert count >= 1  # an estimate from the first gap, as upstream


def test_more_than_a_hundred_missed_are_counted_without_walking_them_all() -> None:
    now = utc(2026, 1, 1) + timedelta(minutes=500, seconds=10)
    latest, count = most_recent_schedule(parse("* * * * *"), utc(2026, 1, 1), now, None)
    assert count == 500 and latest == utc(2026, 1, 1) + timedelta(minutes=500)


def test_job_from_template_names_annotates_and_owns() -> None:
    cronjob = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "c", "namespace": "ns", "uid": "u1"},
        "spec": {
            "jobTemplate": {
                "metadata": {"labels": {"a": "b"}, "annotations": {"x": "y"}},
                "spec": {"template": {"spec": {"containers": []}}},
            }
        },
    }
    when = utc(2026, 1, 1, 0, 5)
    job = job_from_template(cronjob, when, None)
    assert job["metadata"]["name"] == job_name("c", when)
    assert job["metadata"]["annotations"] == {"x": "y", SCHEDULED_TIMESTAMP: "2026-01-01T00:05:00Z"}
    assert job["metadata"]["labels"] == {"a": "b"}
    ref = job["metadata"]["ownerReferences"][0]
    assert (ref["kind"], ref["uid"], ref["controller"], ref["blockOwnerDeletion"]) == (
        "CronJob",
        "u1",
        True,
        True,
    )
    zoned = job_from_template(cronjob, when, ZoneInfo("Asia/Tokyo"))
    assert zoned["metadata"]["annotations"][SCHEDULED_TIMESTAMP] == "2026-01-01T09:05:00+09:00"
