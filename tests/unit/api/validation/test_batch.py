"""batch/v1 validation: Jobs, CronJobs and cron expressions."""

from __future__ import annotations

import pytest

from kubeling.api.validation.batch import cron_error

from .conftest import check, fields, make_cron_job, make_job, resource, template

JOB = resource("batch", "v1", "Job")
CRON_JOB = resource("batch", "v1", "CronJob")


def test_valid_job():
    assert check(JOB, make_job()) == []


JOB_CASES = [
    ("negative-parallelism", {"parallelism": -1}, [("spec.parallelism", "FieldValueInvalid")]),
    ("negative-completions", {"completions": -2}, [("spec.completions", "FieldValueInvalid")]),
    ("negative-backoff", {"backoffLimit": -1}, [("spec.backoffLimit", "FieldValueInvalid")]),
    ("completion-mode", {"completionMode": "Sometimes"}, [("spec.completionMode", "FieldValueNotSupported")]),
    (
        "restart-always",
        {"template": template(labels={"job-name": "job"}, restartPolicy="Always")},
        [("spec.template.spec.restartPolicy", "FieldValueNotSupported")],
    ),
    (
        "restart-missing",
        {"template": template(labels={"job-name": "job"})},
        [("spec.template.spec.restartPolicy", "FieldValueRequired")],
    ),
    (
        "selector-mismatch",
        {"selector": {"matchLabels": {"job-name": "other"}}},
        [("spec.template.metadata.labels", "FieldValueInvalid")],
    ),
]


@pytest.mark.parametrize(("spec", "expected"), [c[1:] for c in JOB_CASES], ids=[c[0] for c in JOB_CASES])
def test_job_spec(spec, expected):
    assert fields(check(JOB, make_job(**spec))) == expected


def test_job_without_restart_policy_message():
    [cause] = check(JOB, make_job(template=template(labels={"job-name": "job"})))
    assert cause.message == 'Required value: valid values: "OnFailure", "Never"'
    [cause] = check(JOB, make_job(template=template(labels={"job-name": "job"}, restartPolicy="Always")))
    assert cause.message == 'Unsupported value: "Always": supported values: "OnFailure", "Never"'


def test_job_selector_and_template_are_immutable():
    old = make_job()
    new = make_job()
    new["spec"]["template"]["spec"]["containers"][0]["image"] = "busybox:2"
    assert fields(check(JOB, new, old)) == [("spec.template", "FieldValueInvalid")]
    new = make_job(selector={"matchLabels": {"job-name": "job", "x": "y"}})
    new["spec"]["template"]["metadata"]["labels"]["x"] = "y"
    assert ("spec.selector", "FieldValueInvalid") in fields(check(JOB, new, old))


def test_job_parallelism_may_change():
    assert check(JOB, make_job(completions=1, parallelism=3), make_job()) == []


def test_valid_cron_job():
    assert check(CRON_JOB, make_cron_job()) == []


CRON_CASES = [
    ("no-schedule", {"schedule": ""}, [("spec.schedule", "FieldValueRequired")]),
    ("bad-schedule", {"schedule": "every minute"}, [("spec.schedule", "FieldValueInvalid")]),
    ("tz-in-schedule", {"schedule": "TZ=UTC * * * * *"}, [("spec.schedule", "FieldValueInvalid")]),
    ("time-zone", {"timeZone": "Mars/Olympus"}, [("spec.timeZone", "FieldValueInvalid")]),
    ("good-time-zone", {"timeZone": "Europe/Paris"}, []),
    (
        "concurrency",
        {"concurrencyPolicy": "Sometimes"},
        [("spec.concurrencyPolicy", "FieldValueNotSupported")],
    ),
    (
        "history",
        {"successfulJobsHistoryLimit": -1},
        [("spec.successfulJobsHistoryLimit", "FieldValueInvalid")],
    ),
    (
        "template-restart",
        {"jobTemplate": {"spec": {"template": template(restartPolicy="Always")}}},
        [("spec.jobTemplate.spec.template.spec.restartPolicy", "FieldValueNotSupported")],
    ),
]


@pytest.mark.parametrize(("spec", "expected"), [c[1:] for c in CRON_CASES], ids=[c[0] for c in CRON_CASES])
def test_cron_job_spec(spec, expected):
    assert fields(check(CRON_JOB, make_cron_job(**spec))) == expected


def test_cron_job_name_limit():
    assert fields(check(CRON_JOB, make_cron_job(name="a" * 53))) == [("metadata.name", "FieldValueInvalid")]
    assert check(CRON_JOB, make_cron_job(name="a" * 52)) == []


@pytest.mark.parametrize(
    "schedule",
    [
        "* * * * *",
        "*/5 * * * *",
        "0 0 1 1 *",
        "0 9-17 * * mon-fri",
        "0,30 * ? JAN,jul SUN",
        "@hourly",
        "@daily",
        "@every 1h30m",
        "59 23 31 12 6",
        "5/15 * * * *",
    ],
)
def test_cron_accepts(schedule):
    assert cron_error(schedule) is None


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ("* * * *", "expected exactly 5 fields, found 4: [* * * *]"),
        ("60 * * * *", "end of range (60) above maximum (59): 60"),
        ("* * 0 * *", "beginning of range (0) below minimum (1): 0"),
        ("5-1 * * * *", "beginning of range (5) beyond end of range (1): 5-1"),
        ("*/0 * * * *", "step of range should be a positive number: */0"),
        ("@fortnightly", "unrecognized descriptor: @fortnightly"),
        ("x * * * *", 'failed to parse int from x: strconv.Atoi: parsing "x": invalid syntax'),
    ],
)
def test_cron_rejects(schedule, message):
    assert cron_error(schedule) == message
