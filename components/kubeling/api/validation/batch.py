"""Validation of batch/v1 kinds, after upstream's ``pkg/apis/batch/validation``.

Includes a parser for the standard five-field cron syntax that CronJobs use
(the same dialect upstream accepts through robfig/cron: names for months and
weekdays, ranges, steps, lists, ``?``, and the ``@hourly``-style descriptors).
"""

from __future__ import annotations

import re
import zoneinfo
from typing import Any

from kubeling.api.errors import Cause
from kubeling.api.validation.common import (
    as_dict,
    enum,
    invalid,
    invalid_text,
    max_len_error,
    non_negative,
    not_supported,
    required,
    selector_is_empty,
    selector_matches,
    selector_repr,
    validate_label_selector,
)
from kubeling.api.validation.core import validate_pod_template

Obj = dict[str, Any]

CRONJOB_NAME_MAX = 52


# -- Jobs -------------------------------------------------------------------------


def validate_job_spec(spec: Obj, path: str, *, need_selector: bool = True) -> list[Cause]:
    errs: list[Cause] = []
    for field in (
        "parallelism",
        "completions",
        "activeDeadlineSeconds",
        "backoffLimit",
        "ttlSecondsAfterFinished",
    ):
        errs += non_negative(spec.get(field), f"{path}.{field}")
    for field in ("backoffLimitPerIndex", "maxFailedIndexes"):
        errs += non_negative(spec.get(field), f"{path}.{field}")
    mode = spec.get("completionMode")
    errs += enum(mode, f"{path}.completionMode", ["NonIndexed", "Indexed"])
    if mode == "Indexed" and spec.get("completions") is None:
        errs.append(required(f"{path}.completions", "when completion mode is Indexed"))
    template = as_dict(spec.get("template"))
    labels = as_dict(as_dict(template.get("metadata")).get("labels"))
    selector = spec.get("selector")
    if selector is None:
        if need_selector:
            errs.append(required(f"{path}.selector"))
    else:
        errs += validate_label_selector(selector, f"{path}.selector")
        if not selector_is_empty(selector) and not selector_matches(selector, labels):
            errs.append(
                invalid(
                    f"{path}.template.metadata.labels", labels, "`selector` does not match template `labels`"
                )
            )
    if spec.get("template") is None:
        errs.append(required(f"{path}.template"))
        return errs
    errs += validate_pod_template(template, f"{path}.template")
    policy = as_dict(template.get("spec")).get("restartPolicy")
    allowed = ["Never"] if spec.get("podFailurePolicy") is not None else ["OnFailure", "Never"]
    if not policy:
        errs.append(
            required(
                f"{path}.template.spec.restartPolicy", "valid values: " + ", ".join(f'"{a}"' for a in allowed)
            )
        )
    elif policy not in allowed:
        errs.append(not_supported(f"{path}.template.spec.restartPolicy", policy, allowed))
    return errs


def validate_job(job: Obj) -> list[Cause]:
    return validate_job_spec(as_dict(job.get("spec")), "spec")


def validate_job_update(job: Obj, old: Obj) -> list[Cause]:
    errs = validate_job(job)
    spec, old_spec = as_dict(job.get("spec")), as_dict(old.get("spec"))
    if spec.get("selector") != old_spec.get("selector"):
        errs.append(invalid_text("spec.selector", selector_repr(spec.get("selector")), "field is immutable"))
    if spec.get("template") != old_spec.get("template") and not _template_mutable(job, old):
        errs.append(invalid_text("spec.template", "core.PodTemplateSpec{...}", "field is immutable"))
    for field in ("completionMode", "podFailurePolicy", "backoffLimitPerIndex", "manualSelector"):
        if spec.get(field) != old_spec.get(field):
            errs.append(invalid(f"spec.{field}", spec.get(field), "field is immutable"))
    if spec.get("completions") != old_spec.get("completions") and spec.get("completionMode") != "Indexed":
        errs.append(invalid("spec.completions", spec.get("completions"), "field is immutable"))
    return errs


def _template_mutable(job: Obj, old: Obj) -> bool:
    # Scheduling directives of a suspended Job that never started may change.
    suspended = as_dict(old.get("spec")).get("suspend") is True
    return suspended and not as_dict(old.get("status")).get("startTime")


# -- CronJobs ---------------------------------------------------------------------


def validate_cron_job(cj: Obj) -> list[Cause]:
    errs: list[Cause] = []
    name = as_dict(cj.get("metadata")).get("name")
    if isinstance(name, str) and len(name) > CRONJOB_NAME_MAX:
        errs.append(invalid("metadata.name", name, max_len_error(CRONJOB_NAME_MAX)))
    spec = as_dict(cj.get("spec"))
    schedule = spec.get("schedule")
    if not schedule:
        errs.append(required("spec.schedule"))
    elif not isinstance(schedule, str):
        errs.append(invalid("spec.schedule", schedule, "must be a string"))
    elif re.search(r"^\s*(CRON_)?TZ=", schedule):
        errs.append(
            invalid(
                "spec.schedule", schedule, "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"
            )
        )
    else:
        problem = cron_error(schedule)
        if problem:
            errs.append(invalid("spec.schedule", schedule, problem))
    zone = spec.get("timeZone")
    if zone is not None:
        errs += _validate_time_zone(zone)
    policy = spec.get("concurrencyPolicy")
    if not policy:
        errs.append(required("spec.concurrencyPolicy"))
    else:
        errs += enum(policy, "spec.concurrencyPolicy", ["Allow", "Forbid", "Replace"])
    for field in ("startingDeadlineSeconds", "successfulJobsHistoryLimit", "failedJobsHistoryLimit"):
        errs += non_negative(spec.get(field), f"spec.{field}")
    template = as_dict(spec.get("jobTemplate"))
    errs += validate_job_spec(as_dict(template.get("spec")), "spec.jobTemplate.spec", need_selector=False)
    return errs


def validate_cron_job_update(cj: Obj, old: Obj) -> list[Cause]:
    return validate_cron_job(cj)


def _validate_time_zone(zone: Any) -> list[Cause]:
    if not isinstance(zone, str) or not zone:
        return [invalid("spec.timeZone", zone, "unknown time zone " + str(zone))]
    if zone.lower() == "local":
        return [invalid("spec.timeZone", zone, "unknown time zone Local")]
    try:
        zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return [invalid("spec.timeZone", zone, f"unknown time zone {zone}")]
    return []


# -- cron expressions ---------------------------------------------------------------

_DESCRIPTORS = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
_MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTHS = {n: i + 1 for i, n in enumerate(_MONTH_NAMES)}
_DAYS = {n: i for i, n in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}
# (low, high, names) per field: minute, hour, day of month, month, day of week.
_FIELDS: tuple[tuple[int, int, dict[str, int]], ...] = (
    (0, 59, {}),
    (0, 23, {}),
    (1, 31, {}),
    (1, 12, _MONTHS),
    (0, 6, _DAYS),
)
_DURATION = re.compile(r"([0-9]*\.?[0-9]+(ns|us|µs|ms|s|m|h))+")


def cron_error(schedule: str) -> str | None:
    """None when ``schedule`` parses, else why not (robfig/cron's wording)."""
    text = schedule.strip()
    if text.startswith("@"):
        if text in _DESCRIPTORS:
            return None
        if text.startswith("@every "):
            duration = text[len("@every ") :].strip()
            return (
                None
                if _DURATION.fullmatch(duration)
                else f'failed to parse duration {text}: time: invalid duration "{duration}"'
            )
        return f"unrecognized descriptor: {text}"
    fields = text.split()
    if len(fields) != 5:
        return f"expected exactly 5 fields, found {len(fields)}: [{' '.join(fields)}]"
    for value, (low, high, names) in zip(fields, _FIELDS, strict=True):
        for part in value.split(","):
            problem = _cron_part(part, low, high, names)
            if problem:
                return problem
    return None


def _cron_part(part: str, low: int, high: int, names: dict[str, int]) -> str | None:
    range_part, _, step_text = part.partition("/")
    if "/" in part and not step_text:
        return f"too many slashes: {part}"
    if range_part in ("*", "?"):
        start, end = low, high
    else:
        bounds = range_part.split("-")
        if len(bounds) > 2:
            return f"too many hyphens: {range_part}"
        try:
            start = _cron_value(bounds[0], names)
            end = _cron_value(bounds[1], names) if len(bounds) == 2 else start
        except ValueError as err:
            return str(err)
        if step_text and len(bounds) == 1:
            end = high
    if step_text:
        if "/" in step_text:
            return f"too many slashes: {part}"
        if not step_text.isdigit():
            return (
                f'failed to parse int from {step_text}: strconv.Atoi: parsing "{step_text}": invalid syntax'
            )
        if int(step_text) == 0:
            return f"step of range should be a positive number: {part}"
    if start < low:
        return f"beginning of range ({start}) below minimum ({low}): {part}"
    if end > high:
        return f"end of range ({end}) above maximum ({high}): {part}"
    if start > end:
        return f"beginning of range ({start}) beyond end of range ({end}): {part}"
    return None


def _cron_value(text: str, names: dict[str, int]) -> int:
    if text.lower() in names:
        return names[text.lower()]
    if text.isdigit():
        return int(text)
    if text.startswith("-") and text[1:].isdigit():
        return int(text)
    raise ValueError(f'failed to parse int from {text}: strconv.Atoi: parsing "{text}": invalid syntax')
