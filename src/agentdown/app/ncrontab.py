"""NCRONTAB schedules as Azure Functions reads them: ``{second} {minute} {hour} {day} {month} {day-of-week}``.

Each field takes ``*`` (``?`` too), a value, a range ``a-b``, a step ``*/n``, ``a-b/n``
or ``a/n``, and comma lists of those; months and week days also by name (``JAN``,
``MON``); Sunday is ``0`` (or ``7``). A five-field cron gets ``0`` seconds.

Unlike Vixie cron, and like the NCrontab library Functions uses, a restricted day of
month *and* day of week must both match: ``0 0 0 13 * FRI`` is every Friday the 13th.
"""

from __future__ import annotations

from datetime import datetime, timedelta

__all__ = ["Schedule", "cron_number"]

_FIELDS = ("second", "minute", "hour", "day", "month", "day-of-week")
_LIMITS = ((0, 59), (0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
_MONTHS = {
    m: i + 1
    for i, m in enumerate(
        ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
    )
}
_DAYS = {d: i for i, d in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"))}
_NAMES: tuple[dict[str, int], ...] = ({}, {}, {}, {}, _MONTHS, _DAYS)
_HORIZON_YEARS = 400
"""The Gregorian calendar repeats every 400 years, so a schedule with no occurrence in that
span has none at all. (Feb 29 on a given week day can be 40 years apart: 2072, then 2112.)"""
_MONTH_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
"""The longest each month gets: a day and month that fit occur on every week day within 400 years."""
_LAST_YEAR = 9998
"""Searches stop here: one step past the last month would leave ``datetime``'s range."""


def cron_number(text: str) -> int | None:
    """``text`` as an NCRONTAB number, or ``None``: ASCII digits that fit NCrontab's 32-bit int.

    ``str.isdigit`` also accepts ``²`` and ``٣``, and ``int`` refuses more than 4300 digits.
    """
    if not (text.isascii() and text.isdigit()) or len(text.lstrip("0")) > 9:
        return None
    return int(text)


class Schedule:
    """A parsed schedule; :meth:`next_after` gives occurrences in the datetime's own clock."""

    def __init__(self, expression: str) -> None:
        fields = expression.split()
        if len(fields) == 5:
            fields.insert(0, "0")
        if len(fields) != 6:
            raise ValueError(
                f"invalid schedule {expression!r}: expected 6 fields "
                "{second} {minute} {hour} {day} {month} {day-of-week} (or 5 without seconds)"
            )
        self.expression = " ".join(fields)
        sets = [_parse(value, i, expression) for i, value in enumerate(fields)]
        self.seconds, self.minutes, self.hours, self.days, self.months, dows = sets
        self.weekdays = frozenset(d % 7 for d in dows)
        if not any(day <= _MONTH_DAYS[month - 1] for month in self.months for day in self.days):
            raise ValueError(f"invalid schedule {expression!r}: it never occurs")

    def __repr__(self) -> str:
        return f"Schedule({self.expression!r})"

    def matches(self, moment: datetime) -> bool:
        return (
            moment.second in self.seconds
            and moment.minute in self.minutes
            and moment.hour in self.hours
            and self._day_matches(moment)
        )

    def _day_matches(self, moment: datetime) -> bool:
        weekday = (moment.weekday() + 1) % 7  # Python counts from Monday, cron from Sunday
        return moment.month in self.months and moment.day in self.days and weekday in self.weekdays

    def next_after(self, moment: datetime) -> datetime | None:
        """The first occurrence strictly after ``moment`` (whole seconds); ``None`` when there is none."""
        if moment.year > _LAST_YEAR:
            return None
        t = moment.replace(microsecond=0) + timedelta(seconds=1)
        limit = min(moment.year + _HORIZON_YEARS, _LAST_YEAR)
        while t.year <= limit:
            if t.month not in self.months:
                t = _next_month(t)
            elif not self._day_matches(t):
                t = t.replace(hour=0, minute=0, second=0) + timedelta(days=1)
            elif t.hour not in self.hours:
                t = t.replace(minute=0, second=0) + timedelta(hours=1)
            elif t.minute not in self.minutes:
                t = t.replace(second=0) + timedelta(minutes=1)
            else:
                later = [s for s in self.seconds if s >= t.second]
                if later:
                    return t.replace(second=later[0])
                t = t.replace(second=0) + timedelta(minutes=1)
        return None


def _next_month(t: datetime) -> datetime:
    year, month = (t.year + 1, 1) if t.month == 12 else (t.year, t.month + 1)
    return t.replace(year=year, month=month, day=1, hour=0, minute=0, second=0)


def _parse(value: str, index: int, expression: str) -> list[int]:
    low, high = _LIMITS[index]
    names = _NAMES[index]

    def bad(detail: str) -> ValueError:
        return ValueError(f"invalid schedule {expression!r}: {_FIELDS[index]} field {value!r}: {detail}")

    def number(text: str) -> int:
        found = names.get(text.upper())
        if found is not None:
            return found
        result = cron_number(text)
        if result is None:
            shown = repr(text) if len(text) <= 12 else f"{text[:12]!r}..."
            raise bad(f"{shown} is not a number{' or a name' if names else ''} within {low}-{high}")
        if not low <= result <= high:
            raise bad(f"{result} is outside {low}-{high}")
        return result

    chosen: set[int] = set()
    for part in value.split(","):
        base, slash, step_text = part.partition("/")
        step = 1
        if slash:
            found = cron_number(step_text)
            if not found:
                raise bad(f"step {step_text[:12]!r} must be a positive whole number")
            step = found
        if base in ("*", "?"):
            start, end = low, high
        elif "-" in base:
            first, _, last = base.partition("-")
            start, end = number(first), number(last)
            if start > end:
                raise bad(f"range {base!r} runs backwards")
        else:
            start = number(base)
            end = high if slash else start
        chosen.update(range(start, end + 1, step))
    return sorted(chosen)
