"""NCRONTAB schedules under generated input: the two parsers agree, errors name the field,
and every occurrence is later than its start, matches every field and is the first one."""

from __future__ import annotations

import string
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from agentdown.app.ncrontab import Schedule
from agentdown.app.triggers import normalize_schedule
from agentdown.runtime.triggers.timer import next_occurrence

pytestmark = pytest.mark.timeout(60)
PROFILE = settings.get_profile("properties")

FIELDS = ("second", "minute", "hour", "day", "month", "day-of-week")
LIMITS = ((0, 59), (0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")


def _field_part(index: int) -> st.SearchStrategy[str]:
    """One comma-separated part of a valid field: ``*``, ``?``, a value, a range, with steps."""
    low, high = LIMITS[index]
    value = st.integers(low, high).map(str)
    if index == 4:
        value |= st.sampled_from(MONTHS + tuple(m.lower() for m in MONTHS))
    if index == 5:
        value |= st.sampled_from(DAYS)
    step = st.integers(1, high + 2).map(lambda n: f"/{n}")
    maybe_step = st.just("") | step
    bounds = st.tuples(st.integers(low, high), st.integers(low, high)).map(sorted)
    return st.one_of(
        st.tuples(st.sampled_from(["*", "?"]), maybe_step).map("".join),
        value,
        st.tuples(value, step).map("".join),
        st.tuples(bounds.map(lambda ab: f"{ab[0]}-{ab[1]}"), maybe_step).map("".join),
    )


_FIELD = [st.lists(_field_part(i), min_size=1, max_size=3).map(",".join) for i in range(6)]


@st.composite
def expressions(draw: st.DrawFn) -> str:
    """A well-formed six-field expression, sometimes in the five-field cron form."""
    fields = [draw(f) for f in _FIELD]
    if fields[0] == "0" and draw(st.booleans()):
        fields = fields[1:]
    return " ".join(fields)


# Moments well inside datetime's range (the horizon is 30 years) and not microsecond-aligned.
moments = st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 12, 31))


def parse(text: str) -> Schedule | str:
    """The schedule, or the message of the ``ValueError`` (the one documented failure)."""
    try:
        return Schedule(text)
    except ValueError as exc:
        return str(exc)


def first_match_after(schedule: Schedule, moment: datetime, days: int) -> datetime | None:
    """An independent oracle: walk the days; in the first matching one take the least time after."""
    start = moment.replace(microsecond=0)
    after = (start.hour, start.minute, start.second)
    day = start.date()
    for offset in range(days):
        first = datetime.combine(day, time(schedule.hours[0], schedule.minutes[0], schedule.seconds[0]))
        if schedule.matches(first):
            for h in schedule.hours:
                for m in schedule.minutes:
                    if offset == 0 and (h, m) < after[:2]:
                        continue
                    for s in schedule.seconds:
                        if offset > 0 or (h, m, s) > after:
                            return datetime.combine(day, time(h, m, s))
        day += timedelta(days=1)
    return None


@settings(PROFILE, max_examples=40)
@given(expressions(), moments)
@example("0 0 0 29 2 MON", datetime(2072, 3, 1))  # Feb 29 is a Monday in 2072, then not until 2112
@example("0 0 12 29 2 *", datetime(2025, 3, 1))
def test_valid_expressions_parse_and_each_occurrence_is_later_matches_and_is_the_first(
    expression: str, moment: datetime
) -> None:
    normalized = normalize_schedule(expression)
    assert normalized is not None, expression  # the load-time check and the parser agree
    schedule = parse(normalized)
    if isinstance(schedule, str):
        assert "never occurs" in schedule  # e.g. 30 February: well formed, rejected at load
        return
    assert schedule.expression == normalized
    found = schedule.next_after(moment)
    assert found is not None, f"{expression} has no occurrence after {moment}"
    assert found > moment
    assert found.microsecond == 0
    assert schedule.matches(found)
    # Only compare with the day-by-day oracle when it is cheap (the next match is near).
    if (found - moment).days < 400:
        assert first_match_after(schedule, moment, 401) == found


# Text near the NCRONTAB alphabet, and anything at all: the parsers never fail another way.
cron_text = st.text(alphabet=string.digits + "*?/,- \t" + "JANFEBMONSUNxyz", max_size=40) | st.text(
    max_size=40
)


@PROFILE
@given(cron_text)
@example("² * * * * *")  # str.isdigit() is true for superscripts, int() refuses them
@example("٣ * * * * *")  # an Arabic-Indic digit: not an NCRONTAB number
@example("0 " + "9" * 5000 + " * * * *")  # beyond int()'s digit limit
@example("*/" + "1" * 5000 + " * * * * *")
def test_any_text_is_a_schedule_or_a_value_error_naming_the_field(text: str) -> None:
    normalized = normalize_schedule(text)  # never raises
    schedule = parse(text)
    if isinstance(schedule, str):
        message = schedule
        assert message.startswith(f"invalid schedule {text!r}: ")
        assert "invalid literal" not in message and "Exceeds the limit" not in message
        if "never occurs" not in message:
            assert normalized is None, f"normalize_schedule accepted {text!r}, Schedule refused: {message}"
            fields = text.split()
            if len(fields) in (5, 6):
                assert any(f"{name} field " in message for name in FIELDS), message
        return
    assert normalized == schedule.expression, "Schedule accepted what normalize_schedule refused"
    assert all(part.isascii() for part in schedule.expression.split())


@PROFILE
@given(st.integers(0, 5), st.data())
def test_one_bad_field_is_named_with_its_value(index: int, data: st.DataObject) -> None:
    fields = ["0", "0", "0", "1", "1", "*"]
    low, high = LIMITS[index]
    bad = data.draw(st.sampled_from([str(high + 1), f"{high}-{low}", "1/0", "-", "a", "1,,2"]))
    fields[index] = bad
    with pytest.raises(ValueError) as raised:
        Schedule(" ".join(fields))
    assert f"{FIELDS[index]} field {bad!r}" in str(raised.value)


zones = st.sampled_from(["UTC", "America/New_York", "Europe/Berlin", "Australia/Lord_Howe", "Asia/Kolkata"])
instants = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)


@settings(PROFILE, max_examples=30)
@given(expressions(), instants, zones)
@example("0 * * * * *", datetime(2026, 11, 1, 6, 5, tzinfo=UTC), "America/New_York")  # 01:05, 2nd time
@example("* * * * * *", datetime(2026, 10, 25, 1, 30, tzinfo=UTC), "Europe/Berlin")
def test_next_occurrence_in_a_zone_is_later_and_never_lost(
    expression: str, after: datetime, zone: str
) -> None:
    schedule = parse(expression)
    if isinstance(schedule, str):
        return
    tz = ZoneInfo(zone)
    found = next_occurrence(schedule, after, tz)
    assert found is not None, f"{expression} lost after {after.astimezone(tz)} in {zone}"
    assert found > after
    assert found.tzinfo is UTC
    if zone == "UTC":
        assert found == schedule.next_after(after.replace(tzinfo=None)).replace(tzinfo=UTC)  # type: ignore[union-attr]
