"""NCRONTAB schedules as Azure Functions reads them: ``{second} {minute} {hour} {day} {month} {day-of-week}``.

Each field takes ``*`` (``?`` too), a value, a range ``a-b``, a step ``*/n``, ``a-b/n``
or ``a/n``, and comma lists of those; months and week days also by name (``JAN``,
``MON``); Sunday is ``0`` (or ``7``). A five-field cron gets ``0`` seconds.

Unlike Vixie cron, and like the NCrontab library Functions uses, a restricted day of
month *and* day of week must both match: ``0 0 0 13 * FRI`` is every Friday the 13th.
"""

from __future__ import annotations

from datetime import datetime, timedelta

__all__ = ["Schedule"]

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
_HORIZON_YEARS = 30
"""Long enough for the rarest real schedule (Feb 29 on a given week day recurs within 28 years)."""


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
        if self.next_after(datetime(2000, 1, 1)) is None:
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
        """The first occurrence strictly after ``moment`` (whole seconds), ``None`` within 30 years."""
        t = moment.replace(microsecond=0) + timedelta(seconds=1)
        limit = moment.year + _HORIZON_YEARS
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


def _is_number(text: str) -> bool:
    # ASCII only: str.isdigit() also accepts '²' (which int() rejects) and other scripts' digits.
    return text.isascii() and text.isdigit()


def _parse(value: str, index: int, expression: str) -> list[int]:
    low, high = _LIMITS[index]
    names = _NAMES[index]

    def bad(detail: str) -> ValueError:
        return ValueError(f"invalid schedule {expression!r}: {_FIELDS[index]} field {value!r}: {detail}")

    def number(text: str) -> int:
        found = names.get(text.upper())
        if found is not None:
            return found
        if not _is_number(text):
            raise bad(f"{text!r} is not a number{' or a name' if names else ''}")
        result = int(text)
        if not low <= result <= high:
            raise bad(f"{result} is outside {low}-{high}")
        return result

    chosen: set[int] = set()
    for part in value.split(","):
        base, slash, step_text = part.partition("/")
        step = 1
        if slash:
            if not _is_number(step_text) or int(step_text) == 0:
                raise bad(f"step {step_text!r} must be a positive whole number")
            step = int(step_text)
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
