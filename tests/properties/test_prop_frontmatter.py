"""Property tests for agent files: front matter splitting, YAML with lines, whole-file checks."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st

from agentdown.app.agentfile import AGENT_KEYS
from agentdown.app.catalog import check_app
from agentdown.app.diagnostics import Problems
from agentdown.app.frontmatter import parse_yaml, split_front_matter

pytestmark = pytest.mark.timeout(120)

_FILE = Path("main.agent.md")
_LINES = st.lists(
    st.sampled_from(["---", "...", "--- ", "name: x", "", "  - a", "\ufeff---", "a: [", "key: 'v"])
    | st.text(max_size=15),
    max_size=8,
)


@given(_LINES, st.sampled_from(["\n", "\r\n", "\r"]))
@example(["---", "name: a", "---", "body"], "\r\n")
@example(["\ufeff---", "---"], "\n")
def test_split_never_crashes_and_loses_nothing(lines: list[str], newline: str) -> None:
    text = newline.join(lines)
    problems = Problems()
    parts = split_front_matter(text, _FILE, problems)
    if parts is None:
        assert len(problems) == 1 and problems[0].line == 1
        return
    assert not problems
    source = text.removeprefix("\ufeff").splitlines(keepends=True)
    # The opening line, the YAML, the closing line and the body are the whole file, in order.
    closing = source[parts.body_line - 2]
    assert source[0] + parts.yaml_text + closing + parts.body == "".join(source)
    assert closing.rstrip() in ("---", "...")
    assert parts.body == "".join(source[parts.body_line - 1 :])


@given(st.text(max_size=80) | _LINES.map("\n".join), st.integers(1, 50))
@example("a: 1\na: 2", 2)
@example("[a, b]: 1", 2)
@example("a: &x {b: 1}\nc:\n  <<: *x\n  <<: *x", 2)
@example("a: !!python/object:os.system x", 2)
@example("a: [\n", 2)
@example("a: 1\nb: \x1f", 2)  # a control character: PyYAML's reader raised outside the parse
@example("a: 1\n\x1f", 5)
def test_parse_yaml_never_crashes_and_names_a_line_inside_the_text(text: str, first_line: int) -> None:
    problems = Problems()
    doc = parse_yaml(text, _FILE, first_line, problems)
    last = first_line + max(len(text.splitlines()), 1)
    for problem in problems:
        assert first_line <= problem.line <= last, problem
        assert problem.message
    if doc is None:
        assert problems.errors
    else:
        assert all(first_line <= line <= last for line in doc.lines.values())


# Without NEL and the Unicode line/paragraph separators: PyYAML's own dump writes them
# unquoted and reads them back as line breaks (its bug, not the parser's).
_SAFE_TEXT = st.text(st.characters(exclude_characters="\x85\u2028\u2029"), max_size=10)
_SCALAR = st.none() | st.booleans() | st.integers() | _SAFE_TEXT
_DATA = st.recursive(
    _SCALAR,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_SAFE_TEXT.filter(bool), inner, max_size=3),
    max_leaves=10,
)


@given(st.dictionaries(st.from_regex(r"[a-z][a-z_]{0,8}", fullmatch=True), _DATA, min_size=1, max_size=6))
def test_yaml_round_trips_and_each_key_has_its_line(data: dict[str, Any]) -> None:
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=10_000)
    problems = Problems()
    doc = parse_yaml(text, _FILE, 2, problems)
    assert doc is not None and not problems.errors
    assert doc.data == data
    lines = text.splitlines()
    for key in data:
        assert lines[doc.line((key,)) - 2].startswith(f"{key}:"), key


@settings(max_examples=25)
@given(
    st.dictionaries(st.sampled_from(sorted(AGENT_KEYS)) | st.text(min_size=1, max_size=6), _DATA, max_size=6),
    st.dictionaries(st.from_regex(r"[A-Z]{1,3}", fullmatch=True), st.text(max_size=8), max_size=3),
    st.text(max_size=40),
)
@example({"name": "$N", "description": "d", "timeout": "$N"}, {"N": "abc"}, "Hi $N")
@example(
    {
        "name": "a",
        "description": "b",
        "trigger": {"type": "timer_trigger", "args": {"schedule": "² * * * * *"}},
    },
    {},
    "x",
)
def test_any_front_matter_loads_or_gets_precise_problems(
    front: dict[str, Any], environ: dict[str, str], body: str
) -> None:
    """Whatever the front matter holds, checking the app never crashes: it loads, or every
    problem names the agent file (or the app folder) and a line inside the file."""
    text = f"---\n{yaml.safe_dump(front, allow_unicode=True)}---\n{body}\n"
    with tempfile.TemporaryDirectory() as tmp:
        app = Path(tmp)
        (app / "main.agent.md").write_text(text, encoding="utf-8")
        catalog, problems = check_app(app, environ={"OPENAI_API_KEY": "test", **environ})
        total = len(text.splitlines())
        for problem in problems:
            assert problem.message
            if problem.file.name == "main.agent.md":
                assert 0 <= problem.line <= total, problem
        assert (catalog is None) == bool(problems.errors)


def test_a_control_character_is_reported_at_its_line() -> None:
    problems = Problems()
    assert parse_yaml("a: 1\n\x1f", _FILE, 5, problems) is None
    assert [(p.line, p.message) for p in problems] == [
        (6, "invalid YAML: unacceptable character #x001f: special characters are not allowed")
    ]
