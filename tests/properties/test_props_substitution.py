"""``$VAR`` / ``%VAR%`` substitution under generated input: one pass (a value is never
expanded again), unset names stay literal, escapes, keys untouched, fenced code kept, and
in mcp.json every unset name is reported with its name at its line."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from agentdown.app.mcp_config import parse_mcp_file
from agentdown.app.substitution import (
    has_placeholders,
    substitute_markdown,
    substitute_string,
    substitute_values,
)

pytestmark = pytest.mark.timeout(60)
PROFILE = settings.get_profile("properties")

names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,6}", fullmatch=True)
# Values may look like placeholders themselves: substitution must not expand them again.
values = st.text(max_size=12) | st.sampled_from(["$A", "%A%", "$$A", "%%A%%", "$", "%"])
environs = st.dictionaries(names, values, max_size=6)
# Literal text between placeholders: no '$' or '%' (those are the placeholders' own parts).
literals = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="$%"), max_size=8)


@dataclass(frozen=True)
class Part:
    kind: str  # literal, dollar, percent, escaped_dollar, escaped_percent
    text: str


parts = st.one_of(
    literals.map(lambda t: Part("literal", t)),
    names.map(lambda n: Part("dollar", n)),
    names.map(lambda n: Part("percent", n)),
    names.map(lambda n: Part("escaped_dollar", n)),
    names.map(lambda n: Part("escaped_percent", n)),
)


def _word_char(c: str) -> bool:
    return c.isascii() and (c.isalnum() or c == "_")


def written(sequence: list[Part]) -> list[Part]:
    """The parts as they can be written: a ``$NAME`` runs on into a following letter, so one
    is followed by a literal that starts elsewhere (a space) when needed."""
    out: list[Part] = []
    for part in sequence:
        previous = out[-1] if out else None
        if previous and previous.kind in ("dollar", "escaped_dollar"):
            first = {"literal": part.text[:1], "dollar": "$", "percent": "%"}.get(part.kind, "$%")[:1]
            if first and _word_char(first):
                out.append(Part("literal", " "))
        out.append(part)
    return out


def source(sequence: list[Part]) -> str:
    forms = {
        "literal": "{}",
        "dollar": "${}",
        "percent": "%{}%",
        "escaped_dollar": "$${}",
        "escaped_percent": "%%{}%%",
    }
    return "".join(forms[p.kind].format(p.text) for p in sequence)


def expected(sequence: list[Part], environ: dict[str, str]) -> str:
    out = []
    for p in sequence:
        if p.kind == "literal":
            out.append(p.text)
        elif p.kind == "dollar":
            out.append(environ.get(p.text, f"${p.text}"))
        elif p.kind == "percent":
            out.append(environ.get(p.text, f"%{p.text}%"))
        elif p.kind == "escaped_dollar":
            out.append(f"${p.text}")
        else:
            out.append(f"%{p.text}%")
    return "".join(out)


@PROFILE
@given(st.lists(parts, max_size=8).map(written), environs)
@example([Part("dollar", "A")], {"A": "$B", "B": "no"})  # a value is never substituted again
@example([Part("percent", "A"), Part("percent", "B")], {"A": "%", "B": "x"})
@example([Part("escaped_percent", "A"), Part("percent", "B")], {"A": "1", "B": "2"})
def test_substitution_is_one_pass_over_placeholders_and_escapes(
    sequence: list[Part], environ: dict[str, str]
) -> None:
    text = source(sequence)
    assert substitute_string(text, environ) == expected(sequence, environ)
    unset = any(p.kind in ("dollar", "percent") and p.text not in environ for p in sequence)
    if not unset:  # whatever the values look like, nothing is left to substitute from the text
        assert has_placeholders(text) == any(p.kind in ("dollar", "percent") for p in sequence)


@PROFILE
@given(st.text(max_size=40), environs)
def test_any_text_substitutes_without_error_and_without_the_environment_is_unchanged(
    text: str, environ: dict[str, str]
) -> None:
    result = substitute_string(text, environ)
    assert isinstance(result, str)
    if "$$" not in text and "%%" not in text:
        assert substitute_string(text, {}) == text


json_data = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10) | st.sampled_from(["$A", "%A%"]),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5) | st.just("$A"), inner, max_size=3)
    ),
    max_leaves=10,
)


def _same_shape(before: Any, after: Any, environ: dict[str, str]) -> None:
    if isinstance(before, str):
        assert after == substitute_string(before, environ)
    elif isinstance(before, dict):
        assert list(after) == list(before)  # keys, including "$A", are never substituted
        for key in before:
            _same_shape(before[key], after[key], environ)
    elif isinstance(before, list):
        assert len(after) == len(before)
        for a, b in zip(before, after, strict=True):
            _same_shape(a, b, environ)
    else:
        assert after is before


@PROFILE
@given(json_data, environs | st.just({"A": "secret"}))
def test_values_are_substituted_and_keys_and_other_types_kept(data: Any, environ: dict[str, str]) -> None:
    before = json.loads(json.dumps(data))
    _same_shape(data, substitute_values(data, environ), environ)
    assert data == before  # the input is not changed in place


@PROFILE
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["prose", "fence"]),
            st.lists(st.lists(parts, max_size=4).map(written).map(source), max_size=3),
            st.sampled_from(["```", "~~~", "````", "~~~~"]),
            st.sampled_from(["", "python", " yaml $A"]),
        ),
        max_size=4,
    ),
    environs,
    st.sampled_from(["\n", "\r\n"]),
)
def test_markdown_keeps_fenced_code_and_substitutes_the_rest(
    blocks: list[tuple[str, list[str], str, str]], environ: dict[str, str], newline: str
) -> None:
    source_lines: list[str] = []
    expected_lines: list[str] = []
    for kind, lines, fence, info in blocks:
        # Prose and code lines never look like fences themselves.
        lines = [line.lstrip(" `~") for line in lines]
        if kind == "prose":
            source_lines += lines
            expected_lines += [substitute_string(line, environ) for line in lines]
        else:
            block = [fence + (info if fence[0] == "~" or "`" not in info else ""), *lines, fence]
            source_lines += block
            expected_lines += block
    text = "".join(line + newline for line in source_lines)
    assert substitute_markdown(text, environ) == "".join(line + newline for line in expected_lines)


def unset_names(message: str) -> list[str]:
    """The names a "NAME, OTHER: not set in the environment" note lists."""
    found = re.search(r": (\w+(?:, \w+)*): not set", message)
    return found.group(1).split(", ") if found else []


@settings(PROFILE, max_examples=25)
@given(
    st.dictionaries(names, st.booleans(), min_size=1, max_size=5), st.sampled_from(["env", "headers", "args"])
)
@example({"TOKEN": False, "HOST": True}, "headers")
@example({"A": False, "AA": True}, "env")  # a name that is the start of another
def test_mcp_json_reports_each_unset_name_at_its_line(names_set: dict[str, bool], where: str) -> None:
    environ = {name: f"value-of-{name}" for name, present in names_set.items() if present}
    if where == "args":
        server: dict[str, Any] = {"command": "tool", "args": [f"--{n.lower()}=${n}" for n in names_set]}
    else:
        field = {f"K{i}": f"x ${n} y" for i, n in enumerate(names_set)}
        server = {"command": "tool", where: field} if where == "env" else {"url": "http://h", where: field}
    text = json.dumps({"servers": {"s": server}}, indent=2)
    parsed = parse_mcp_file(text, Path("mcp.json"), environ)
    lines = text.split("\n")
    for name, present in names_set.items():
        notes = [p for p in parsed.problems if name in unset_names(p.message)]
        if present:
            assert not notes, notes
            continue
        assert notes, (name, parsed.problems)
        line = next(i + 1 for i, line in enumerate(lines) if re.search(rf"\${name}(?!\w)", line))
        assert any(p.line == line for p in notes), (name, line, notes)
    for problem in parsed.problems:
        assert not any(value in problem.message for value in environ.values()), problem
