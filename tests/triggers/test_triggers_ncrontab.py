"""NCRONTAB schedules: fields, names, steps, NCrontab's day rule, time zones and DST."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from agentdown.runtime.triggers import Schedule
from agentdown.runtime.triggers.timer import next_occurrence

T0 = datetime(2025, 1, 31, 9, 59, 58)  # a Friday


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("* * * * * *", datetime(2025, 1, 31, 9, 59, 59)),
        ("*/5 * * * * *", datetime(2025, 1, 31, 10, 0, 0)),
        ("0 */5 * * * *", datetime(2025, 1, 31, 10, 0, 0)),
        ("0 0 9 * * *", datetime(2025, 2, 1, 9, 0, 0)),
        ("30 14 * * 1-5", datetime(2025, 1, 31, 14, 30, 0)),  # five fields: seconds 0
        ("0 0 9 * * MON-FRI", datetime(2025, 2, 3, 9, 0, 0)),
        ("0 0 0 1 JAN,JUL *", datetime(2025, 7, 1, 0, 0, 0)),
        ("0 0 0 13 * FRI", datetime(2025, 6, 13, 0, 0, 0)),  # both day fields must match
        ("0 0 12 29 2 *", datetime(2028, 2, 29, 12, 0, 0)),
        ("0 0 0 * * 7", datetime(2025, 2, 2, 0, 0, 0)),  # 7 is Sunday too
        ("0 15,45 10-11/1 * * ?", datetime(2025, 1, 31, 10, 15, 0)),
        ("10/20 * * * * *", datetime(2025, 1, 31, 10, 0, 10)),
    ],
)
def test_next_after(expression: str, expected: datetime) -> None:
    schedule = Schedule(expression)
    found = schedule.next_after(T0)
    assert found == expected
    assert found is not None and schedule.matches(found)


def test_occurrences_are_strictly_later() -> None:
    schedule = Schedule("0 0 10 * * *")
    first = schedule.next_after(datetime(2025, 1, 1, 10, 0, 0))
    assert first == datetime(2025, 1, 2, 10, 0, 0)
    assert schedule.next_after(datetime(2025, 1, 1, 9, 59, 59, 999999)) == datetime(2025, 1, 1, 10, 0, 0)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("* * * *", "expected 6 fields"),
        ("60 * * * * *", "second field '60': 60 is outside 0-59"),
        ("0 0 25 * * *", "hour field '25'"),
        ("0 0 0 * FOO *", "month field 'FOO': 'FOO' is not a number or a name"),
        ("*/0 * * * * *", "step '0' must be a positive whole number"),
        ("0 0 0 5-1 * *", "range '5-1' runs backwards"),
        ("0 0 0 31 2 *", "it never occurs"),
    ],
)
def test_invalid_schedules_say_why(expression: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("*", r"\*")):
        Schedule(expression)


def test_time_zones_and_daylight_saving() -> None:
    paris = ZoneInfo("Europe/Paris")
    schedule = Schedule("0 0 9 * * *")
    winter = next_occurrence(schedule, datetime(2025, 1, 10, 12, 0, tzinfo=UTC), paris)
    summer = next_occurrence(schedule, datetime(2025, 7, 10, 12, 0, tzinfo=UTC), paris)
    assert winter == datetime(2025, 1, 11, 8, 0, tzinfo=UTC)
    assert summer == datetime(2025, 7, 11, 7, 0, tzinfo=UTC)
    # 02:30 does not exist on the spring-forward night; the occurrence still comes, once.
    night = next_occurrence(Schedule("0 30 2 * * *"), datetime(2025, 3, 30, 0, 0, tzinfo=UTC), paris)
    assert night is not None and night > datetime(2025, 3, 30, 0, 0, tzinfo=UTC)
