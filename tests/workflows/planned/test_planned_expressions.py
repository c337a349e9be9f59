"""Result references and the ``when`` language, including hostile input."""

from __future__ import annotations

import re
from typing import Any

import pytest

from agentdown.workflows.planned.expressions import (
    MAX_CONDITION_LENGTH,
    ConditionError,
    ConditionSyntaxError,
    parse_condition,
)
from agentdown.workflows.planned.references import (
    ReferenceSyntaxError,
    TemplateResolutionError,
    references_in,
    resolve_value,
    walk_strings,
)

RESULTS: dict[str, Any] = {
    "a": {"echoed": {"msg": "hi"}, "items": ["zero", "one"], "count": 3, "env": "prod"},
    "n": 42,
    "s": "scalar",
    "skipped": None,
}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("${a.result}", RESULTS["a"]),
        ("${a.result.echoed.msg}", "hi"),
        ("${a.result.items.1}", "one"),
        ("result was ${a.result.echoed}", 'result was {"msg": "hi"}'),
        ("hello ${a.result.echoed.msg}!", "hello hi!"),
        ({"outer": {"inner": ["${n.result}", "literal"]}}, {"outer": {"inner": [42, "literal"]}}),
        ("plain", "plain"),
        (42, 42),
        (None, None),
        (True, True),
        ("${skipped.result.anything.deeper}", None),
    ],
)
def test_references_resolve_as_in_the_other_runtime(value: Any, expected: Any) -> None:
    assert resolve_value(value, RESULTS) == expected


@pytest.mark.parametrize(
    ("value", "phrase"),
    [
        ("${ghost.result}", "hasn't completed"),
        ("${a.result.missing}", "key not present"),
        ("${s.result.x}", "not a dict or list"),
        ("${a.result.items.5}", "out of range"),
        ("${a.result.items.first}", "must be an integer"),
        ("${a}", "malformed"),
    ],
)
def test_unresolvable_references_fail_with_the_segment(value: str, phrase: str) -> None:
    with pytest.raises(TemplateResolutionError, match=phrase):
        resolve_value(value, RESULTS)


def test_item_references_name_the_current_element() -> None:
    assert resolve_value({"svc": "${item.name}", "all": "${item}"}, {}, {"name": "api"}) == {
        "svc": "api",
        "all": {"name": "api"},
    }


def test_deeply_nested_values_are_refused_not_walked() -> None:
    deep: Any = "x"
    for _ in range(10_000):
        deep = [deep]
    with pytest.raises(ReferenceSyntaxError, match="deeper"):
        list(walk_strings(deep))
    with pytest.raises(TemplateResolutionError, match="deeper"):
        resolve_value(deep, {})


def test_reference_syntax_errors() -> None:
    assert [r.node for r in references_in("a ${x.result} b ${item.k}")] == ["x", None]
    with pytest.raises(ReferenceSyntaxError, match="unterminated"):
        references_in("${x.result")
    with pytest.raises(ReferenceSyntaxError, match="malformed"):
        references_in("${x.result.__class__ }")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("${a.result.count} > 2", True),
        ("${a.result.count} >= 4", False),
        ("${a.result.env} == 'prod' and ${a.result.count} != 0", True),
        ('${a.result.env} == "dev" || ${n.result} == 42', True),
        ("not ${skipped.result}", True),
        ("!(${a.result.count} < 3)", True),
        ("'one' in ${a.result.items}", True),
        ("'two' not in ${a.result.items}", True),
        ("'msg' in ${a.result.echoed}", True),
        ("${a.result.env} in ['prod', 'staging']", True),
        ("${skipped.result} == null", True),
        ("${a.result.items}", True),
        ("true and false or true", True),
        ("1 == true", False),
        ("3 == 3.0", True),
        ("-1 < 0", True),
    ],
)
def test_conditions_evaluate(text: str, expected: bool) -> None:
    assert parse_condition(text).evaluate(RESULTS) is expected


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("__import__('os')", "unknown name '__import__'"),
        ("().__class__", "unexpected character '.'"),
        ("()", "expected a value"),
        ("${a.result}.__class__", "unexpected character '.'"),
        ("open('/etc/passwd')", "unknown name 'open'"),
        ("lambda: 1", "unknown name 'lambda'"),
        ("${a.result.count} +1", "unexpected character '+'"),
        ("${a.result} ==", "ends where a value was expected"),
        ("(1 == 1", "expected ')'"),
        ("", "empty"),
        ("1 2", "unexpected '2'"),
        ("${a.result.count} > 2 ; drop", "unexpected character ';'"),
        ("x" * (MAX_CONDITION_LENGTH + 1), "longer than"),
        ("(" * 200 + "1" + ")" * 200, "tokens"),
        ("(" * 40 + "1" + ")" * 40, "nests deeper"),
        ("not " * 40 + "true", "nests deeper"),
        ("1 or " * 150 + "1", "tokens"),
    ],
)
def test_hostile_or_broken_conditions_are_refused_clearly(text: str, phrase: str) -> None:
    with pytest.raises(ConditionSyntaxError, match=re.escape(phrase)):
        parse_condition(text)


def test_non_string_conditions_are_refused() -> None:
    with pytest.raises(ConditionSyntaxError):
        parse_condition(["true"])


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("${a.result.env} < 1", "compares two numbers or two strings"),
        ("1 in 2", "'in' needs"),
        ("${ghost.result} == 1", "hasn't completed"),
    ],
)
def test_undecidable_conditions_fail_at_run_time(text: str, phrase: str) -> None:
    with pytest.raises(ConditionError, match=phrase):
        parse_condition(text).evaluate(RESULTS)


def test_a_huge_string_literal_within_the_limit_is_just_a_string() -> None:
    text = "'" + "a" * (MAX_CONDITION_LENGTH - 10) + "' == 'b'"
    assert parse_condition(text).evaluate({}) is False


def test_dunder_path_segments_are_only_ever_json_keys() -> None:
    condition = parse_condition("${s.result.__class__} == 'str'")
    with pytest.raises(ConditionError, match="not a dict or list"):
        condition.evaluate(RESULTS)
    assert parse_condition("${d.result.__class__} == 'x'").evaluate({"d": {"__class__": "x"}}) is True
