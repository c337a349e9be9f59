"""Property tests for the NCRONTAB schedule parser (timer triggers)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from agentdown.app.ncrontab import Schedule

pytestmark = pytest.mark.timeout(120)

_LIMITS = ((0, 59), (0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
_MOMENT = st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2200, 12, 31))


@st.composite
def _field(draw: st.DrawFn, index: int) -> str:
    low, high = _LIMITS[index]
    value = st.integers(low, high)

    def part() -> str:
        kind = draw(st.sampled_from(["*", "n", "range", "step", "rangestep", "nstep"]))
        if kind == "*":
            return "*"
        a = draw(value)
        if kind == "n":
            return str(a)
        if kind == "nstep":
            return f"{a}/{draw(st.integers(1, 30))}"
        if kind == "step":
            return f"*/{draw(st.integers(1, 30))}"
        b = draw(st.integers(a, high))
        return f"{a}-{b}" if kind == "range" else f"{a}-{b}/{draw(st.integers(1, 10))}"

    return ",".join(part() for _ in range(draw(st.integers(1, 3))))


def _parse(text: str) -> tuple[Schedule | None, str]:
    """The schedule, or ``None`` and the message of the only error the parser may raise."""
    try:
        return Schedule(text), ""
    except ValueError as exc:
        return None, str(exc)


_EXPRESSION = st.tuples(*(_field(i) for i in range(6))).map(" ".join)


@given(st.text(max_size=40))
@example("0 0 0 \u00b2 * *")  # a superscript two is a digit to str.isdigit, not to int()
@example("*/\u0663 * * * * *")  # an Arabic-Indic three
@example("0 0 0 31 2 *")
def test_any_text_parses_or_is_a_precise_value_error(text: str) -> None:
    schedule, error = _parse(text)
    if schedule is None:
        assert error.startswith(f"invalid schedule {text!r}: "), error
    else:
        assert schedule.next_after(datetime(2026, 1, 1)) is not None


@given(_EXPRESSION, _MOMENT)
@example("0 0 0 29 2 1", datetime(2026, 3, 1))  # Feb 29 on a Monday: years away
@example("0 0 0 31 * *", datetime(2026, 1, 31, 0, 0, 0, 500))
def test_next_occurrence_is_later_matches_and_is_the_first(expression: str, now: datetime) -> None:
    schedule, error = _parse(expression)
    if schedule is None:
        assert "it never occurs" in error  # generated fields are all valid; only Feb 30 is not
        return
    following = schedule.next_after(now)
    if following is None:
        return  # rarer than 30 years from `now` (only schedules whose days barely exist)
    assert following > now
    assert following.microsecond == 0
    assert schedule.matches(following)
    # It is the first one: starting one second earlier finds the same moment.
    assert schedule.next_after(following - timedelta(seconds=1)) == following
    later = schedule.next_after(following)
    assert later is None or later > following


@given(_EXPRESSION, _MOMENT)
def test_the_five_field_form_means_second_zero(expression: str, now: datetime) -> None:
    five = expression.split(" ", 1)[1]
    try:
        with_seconds, without = Schedule(f"0 {five}"), Schedule(five)
    except ValueError:
        return
    assert with_seconds.next_after(now) == without.next_after(now)


@given(st.sampled_from(["* * * * * *", "*/7 * * * * *", "0 */5 * * * *", "30 15 2-4 * * MON-FRI"]), _MOMENT)
def test_the_next_occurrence_has_no_match_before_it(expression: str, now: datetime) -> None:
    """Brute force for frequent schedules: no second between ``now`` and the answer matches."""
    schedule = Schedule(expression)
    following = schedule.next_after(now)
    assert following is not None
    t = now.replace(microsecond=0) + timedelta(seconds=1)
    steps = 0
    while t < following and steps < 4000:
        assert not schedule.matches(t), t
        t += timedelta(seconds=1)
        steps += 1
