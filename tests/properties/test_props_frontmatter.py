"""Front matter and YAML under generated input: a split that round-trips, and every key's
line (and every problem's) is the file line an editor shows, whatever the values hold."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from agentdown.app.agentfile import read_agent_file
from agentdown.app.config import AppConfig
from agentdown.app.diagnostics import Problems
from agentdown.app.frontmatter import KeyPath, parse_yaml, split_front_matter

pytestmark = pytest.mark.timeout(60)
PROFILE = settings.get_profile("properties")
FILE = Path("app/a.agent.md")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def file_lines(text: str) -> int:
    """Lines as an editor (and Python's universal newlines) count them."""
    return len(_LINE_BREAK.split(text))


any_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=60)
# Characters str.splitlines() or PyYAML take for line breaks that editors do not.
odd_breaks = st.sampled_from(["\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"])
body_text = st.lists(any_text | odd_breaks, max_size=5).map("".join)


@PROFILE
@given(
    any_text
    | st.lists(st.sampled_from(["---", "...", "\n", "\r\n", "\r", "a: 1", " ", "\ufeff"]), max_size=12).map(
        "".join
    )
)
def test_any_text_splits_or_is_one_problem_at_line_one(text: str) -> None:
    problems = Problems()
    parts = split_front_matter(text, FILE, problems)
    if parts is None:
        assert [(p.line, p.severity) for p in problems] == [(1, "error")]
        assert "front matter" in problems[0].message
    else:
        assert not problems
        assert 2 <= parts.body_line <= file_lines(text) + 1


yaml_lines = st.lists(
    st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\r\n"), max_size=30).filter(
        lambda line: line.rstrip() not in ("---", "...")
    ),
    max_size=6,
)


@PROFILE
@given(yaml_lines, body_text, st.sampled_from(["\n", "\r\n"]), st.booleans())
@example(['a: "x\x0cy"'], "body", "\n", False)  # a form feed is no line break in the file
@example(["a: x\u2028y", "b: 1"], "body", "\r\n", True)
def test_front_matter_round_trips_and_the_body_line_is_the_file_line(
    yaml: list[str], body: str, newline: str, bom: bool
) -> None:
    text = ("\ufeff" if bom else "") + newline.join(["---", *yaml, "---", body])
    parts = split_front_matter(text, FILE, Problems())
    assert parts is not None
    assert parts.yaml_text == "".join(line + newline for line in yaml)
    assert parts.body == body
    assert parts.body_line == len(yaml) + 3


# Keys that YAML reads back as themselves (plain scalars that are not numbers or booleans).
keys = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True).filter(
    lambda k: k not in ("y", "n", "yes", "no", "on", "off", "true", "false", "null")
)
# Any value, written as a JSON string (valid YAML) on its key's line.
scalar_values = st.text(st.characters(exclude_categories=("Cs", "Cc")), max_size=20) | odd_breaks


@st.composite
def documents(draw: st.DrawFn, depth: int = 0) -> dict[str, Any]:
    names = draw(st.lists(keys, min_size=1, max_size=4, unique=True))
    out: dict[str, Any] = {}
    for name in names:
        if depth < 2 and draw(st.booleans()):
            out[name] = draw(documents(depth + 1))
        else:
            out[name] = draw(scalar_values)
    return out


def render(doc: dict[str, Any], indent: int = 0) -> tuple[list[str], dict[KeyPath, int]]:
    """Block YAML for ``doc`` and the 1-based line (within it) of every key path."""
    lines: list[str] = []
    where: dict[KeyPath, int] = {}
    for key, value in doc.items():
        where[(key,)] = len(lines) + 1
        if isinstance(value, dict):
            lines.append(" " * indent + f"{key}:")
            inner, inner_where = render(value, indent + 2)
            where.update({(key, *path): len(lines) + line for path, line in inner_where.items()})
            lines.extend(inner)
        else:
            lines.append(" " * indent + f"{key}: {json.dumps(value, ensure_ascii=False)}")
    return lines, where


@settings(PROFILE, max_examples=30)
@given(documents(), st.integers(1, 50))
@example({"a": "x\u2028y", "b": "1"}, 2)  # PyYAML counts U+2028 as a line break; files do not
@example({"a": "\x85", "b": {"c": "\u2029"}, "d": "z"}, 7)
def test_every_key_is_reported_at_its_file_line(doc: dict[str, Any], first_line: int) -> None:
    lines, where = render(doc)
    problems = Problems()
    parsed = parse_yaml("\n".join(lines) + "\n", FILE, first_line, problems)
    assert parsed is not None, problems
    assert not problems
    assert {path: parsed.line(path) for path in where} == {p: first_line + n - 1 for p, n in where.items()}


@PROFILE
@given(
    st.text(max_size=80)
    | st.lists(
        st.sampled_from(
            [
                "a:",
                " b",
                "- ",
                "[",
                "]",
                "{",
                "}",
                "&x ",
                "*x",
                "<<: ",
                '"',
                "'",
                "\n",
                "\t",
                ":",
                "? ",
                "!!",
                "\u2028",
            ]
        ),
        max_size=30,
    ).map("".join),
    st.integers(1, 9),
)
@example("{a: " * 3000 + "}" * 3000, 2)  # deeper than Python's recursion limit: RecursionError
@example('a: "x\u2028y"\nb: [\n', 2)  # the end of the text is on line 3 (2 + 3 - 1 = 4), not 5
@example("a: 1\nb: \x7f\n", 2)  # a character YAML refuses: ReaderError from SafeLoader()
def test_any_yaml_is_data_or_problems_at_lines_of_the_text(text: str, first_line: int) -> None:
    problems = Problems()
    parsed = parse_yaml(text, FILE, first_line, problems)
    if parsed is None:
        assert problems.errors
    for problem in problems:
        assert first_line <= problem.line <= first_line + file_lines(text) - 1, problem
        assert problem.message


agent_keys = st.sampled_from(
    ["name", "description", "model", "timeout", "tools", "trigger", "subagents", "nme", "debug", "logger"]
)
agent_values = (
    st.none()
    | st.booleans()
    | st.integers(-5, 10**6)
    | st.text(max_size=12)
    | st.lists(st.text(max_size=5), max_size=2)
    | st.dictionaries(
        st.sampled_from(["type", "args", "agent", "include", "schedule"]),
        st.text(max_size=8) | st.integers(),
        max_size=2,
    )
)


@settings(PROFILE, max_examples=30)
@given(st.dictionaries(agent_keys, agent_values, max_size=6), body_text)
def test_an_agent_file_is_a_spec_or_problems_each_at_a_line_of_the_file(
    tmp_path_factory: pytest.TempPathFactory, front: dict[str, Any], body: str
) -> None:
    folder = tmp_path_factory.mktemp("agent")
    yaml_text = "".join(f"{key}: {json.dumps(value, ensure_ascii=False)}\n" for key, value in front.items())
    text = f"---\n{yaml_text}---\n{body}"
    path = folder / "a.agent.md"
    path.write_text(text, encoding="utf-8", newline="")
    problems = Problems()
    spec = read_agent_file(path, "a", AppConfig(), {}, problems, folder)
    assert (spec is None) == bool(problems.errors)
    for problem in problems:
        assert 1 <= problem.line <= file_lines(text), problem
        assert problem.file == path
    key_lines = {key: n + 2 for n, key in enumerate(front)}
    for problem in problems.errors:
        named = [
            key for key in front if problem.message.startswith(f"{key}:") or f"'{key}'" in problem.message
        ]
        if named and named[0] in key_lines and problem.message.startswith(f"{named[0]}"):
            assert problem.line == key_lines[named[0]], problem
