"""Standard cron schedules: parsing and "when is the next run", as the CronJob controller needs.

The grammar is the five-field one upstream's cron library reads
(``minute hour day-of-month month day-of-week``):

- ``*`` or ``?`` (any), numbers, ranges ``a-b``, steps ``*/n``, ``a-b/n``
  and ``a/n`` (from ``a`` to the field's maximum), comma-separated lists;
- month names ``JAN`` to ``DEC`` and weekday names ``SUN`` to ``SAT`` (any case);
- the macros ``@yearly``/``@annually``, ``@monthly``, ``@weekly``,
  ``@daily``/``@midnight`` and ``@hourly``;
- an optional ``CRON_TZ=<zone>`` or ``TZ=<zone>`` prefix naming the IANA
  zone the fields are read in (otherwise the zone the caller passes).

Day matching follows cron: when both day-of-month and day-of-week are
restricted, a day matching *either* runs; when one of them is ``*``/``?``
only the other counts.  A step greater than one turns ``*`` into a
restriction (``*/2`` in day-of-week is not "any day").

:meth:`Schedule.next` walks wall-clock fields (month, day, hour, minute)
in the schedule's zone and converts back to an absolute time, skipping
local times that do not exist (a DST gap) and taking the first of two that
do (a DST fold).  It gives up after five years (``None``), so impossible
schedules such as ``0 0 30 2 *`` terminate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
MONTHS = {
    name: i + 1
    for i, name in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    )
}
WEEKDAYS = {name: i for i, name in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}
SEARCH_YEARS = 5


class ScheduleError(ValueError):
    """The schedule cannot be parsed; the message says why."""


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: dict[str, int]


_FIELDS = (
    _Field("minute", 0, 59, {}),
    _Field("hour", 0, 23, {}),
    _Field("day of month", 1, 31, {}),
    _Field("month", 1, 12, MONTHS),
    _Field("day of week", 0, 6, WEEKDAYS),
)


@dataclass(frozen=True)
class Schedule:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    days_any: bool  # day of month was * or ?
    weekdays_any: bool  # day of week was * or ?
    zone: tzinfo | None = None  # from a CRON_TZ=/TZ= prefix

    def day_matches(self, moment: datetime) -> bool:
        in_month = moment.day in self.days
        in_week = (moment.isoweekday() % 7) in self.weekdays
        if self.days_any or self.weekdays_any:
            return in_month and in_week
        return in_month or in_week

    def next(self, after: datetime, zone: tzinfo | None = None) -> datetime | None:
        """The first run strictly after ``after`` (aware), in UTC; None if none within five years."""
        where = self.zone or zone or UTC
        local = after.astimezone(where).replace(tzinfo=None, second=0, microsecond=0) + timedelta(minutes=1)
        limit = local.year + SEARCH_YEARS
        while local.year <= limit:
            if local.month not in self.months:
                local = _first_of_next_month(local)
            elif not self.day_matches(local):
                local = local.replace(hour=0, minute=0) + timedelta(days=1)
            elif local.hour not in self.hours:
                local = local.replace(minute=0) + timedelta(hours=1)
            elif local.minute not in self.minutes:
                local += timedelta(minutes=1)
            else:
                moment = _absolute(local, where)
                if moment is not None and moment > after:
                    return moment.astimezone(UTC)
                local += timedelta(minutes=1)
        return None


def _first_of_next_month(moment: datetime) -> datetime:
    if moment.month == 12:
        return datetime(moment.year + 1, 1, 1)
    return datetime(moment.year, moment.month + 1, 1)


def _absolute(local: datetime, zone: tzinfo) -> datetime | None:
    """A wall-clock time in ``zone`` as an aware datetime; None if the clocks skipped it."""
    moment = local.replace(tzinfo=zone, fold=0)
    if moment.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != local:
        return None  # in a DST gap
    return moment


def load_zone(name: str) -> tzinfo:
    """An IANA time zone; raises ScheduleError for unknown names."""
    if name in ("UTC", "Etc/UTC"):
        return UTC
    if name == "Local":
        return datetime.now().astimezone().tzinfo or UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ScheduleError(f"unknown time zone {name}") from exc


def parse(spec: str) -> Schedule:
    """Parse a schedule; raises :class:`ScheduleError` with a message like upstream's parser."""
    text = spec.strip()
    zone: tzinfo | None = None
    if text.startswith("TZ=") or text.startswith("CRON_TZ="):
        prefix, _, text = text.partition(" ")
        zone = load_zone(prefix.split("=", 1)[1])
        text = text.strip()
    if text.startswith("@"):
        expanded = MACROS.get(text.lower())
        if expanded is None:
            raise ScheduleError(f"unrecognized descriptor: {text}")
        text = expanded
    fields = text.split()
    if len(fields) != len(_FIELDS):
        raise ScheduleError(f"expected exactly 5 fields, found {len(fields)}: [{' '.join(fields)}]")
    parsed = [_parse_field(value, field) for value, field in zip(fields, _FIELDS, strict=True)]
    return Schedule(
        minutes=parsed[0][0],
        hours=parsed[1][0],
        days=parsed[2][0],
        months=parsed[3][0],
        weekdays=parsed[4][0],
        days_any=parsed[2][1],
        weekdays_any=parsed[4][1],
        zone=zone,
    )


def _parse_field(text: str, field: _Field) -> tuple[frozenset[int], bool]:
    """The values of one field, and whether it was an unrestricted ``*``/``?``."""
    values: set[int] = set()
    starred = False
    for part in text.split(","):
        found, star = _parse_range(part, field)
        values |= found
        starred = starred or star
    return frozenset(values), starred


def _parse_range(text: str, field: _Field) -> tuple[set[int], bool]:
    span, slash, step_text = text.partition("/")
    bounds = span.split("-")
    star = False
    if bounds[0] in ("*", "?"):
        if len(bounds) > 1:
            raise ScheduleError(f"failed to parse int from {span}")
        low, high, star = field.low, field.high, True
    elif len(bounds) == 1:
        low = high = _value(bounds[0], field)
    elif len(bounds) == 2:
        low, high = _value(bounds[0], field), _value(bounds[1], field)
    else:
        raise ScheduleError(f"too many hyphens: {text}")
    step = 1
    if slash:
        step = _number(step_text)
        if len(bounds) == 1 and not star:
            high = field.high  # "a/n" means "a-max/n"
        if step > 1:
            star = False
    if step <= 0:
        raise ScheduleError(f"step of range should be a positive number: {text}")
    if low < field.low:
        raise ScheduleError(f"beginning of range ({low}) below minimum ({field.low}): {text}")
    if high > field.high:
        raise ScheduleError(f"end of range ({high}) above maximum ({field.high}): {text}")
    if low > high:
        raise ScheduleError(f"beginning of range ({low}) beyond end of range ({high}): {text}")
    return set(range(low, high + 1, step)), star


def _value(text: str, field: _Field) -> int:
    named = field.names.get(text.lower())
    return named if named is not None else _number(text)


def _number(text: str) -> int:
    if not text.isdigit():
        raise ScheduleError(f"failed to parse int from {text}")
    return int(text)
