"""Splitting front matter and parsing YAML with the line of every key."""

from __future__ import annotations

from pathlib import Path

from agentdown.app.diagnostics import Problems
from agentdown.app.frontmatter import format_path, parse_yaml, split_front_matter

FILE = Path("x.agent.md")


def test_split_keeps_line_numbers() -> None:
    problems = Problems()
    parts = split_front_matter("\ufeff---\nname: n\n...\nBody\nmore\n", FILE, problems)
    assert parts is not None and not problems
    assert (parts.yaml_text, parts.yaml_line, parts.body, parts.body_line) == (
        "name: n\n",
        2,
        "Body\nmore\n",
        4,
    )


def test_crlf_files() -> None:
    parts = split_front_matter("---\r\nname: n\r\n---\r\nBody\r\n", FILE, Problems())
    assert parts is not None and parts.body == "Body\r\n"


def test_lines_of_keys_and_items() -> None:
    text = "name: n\ntrigger:\n  type: t\n  args:\n    schedule: s\nsubagents:\n  - agent: a\n  - agent: b\n    when: w\n"
    doc = parse_yaml(text, FILE, 2, Problems())
    assert doc is not None
    assert doc.lines[("trigger", "args", "schedule")] == 6
    assert doc.lines[("subagents", 1)] == 9 and doc.lines[("subagents", 1, "when")] == 10
    assert doc.line(("trigger", "args", "missing")) == 5  # falls back to the nearest ancestor
    assert doc.line(("absent",)) == 2  # ... or to the document's first line


def test_merge_keys_are_not_duplicates() -> None:
    problems = Problems()
    doc = parse_yaml("base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  y: 3\n", FILE, 1, problems)
    assert doc is not None and not problems
    assert doc.data["other"] == {"x": 1, "y": 3}


def test_non_scalar_key() -> None:
    problems = Problems()
    parse_yaml("? [a, b]\n: value\n", FILE, 2, problems)
    assert [str(p) for p in problems] == [
        "x.agent.md:2: error: a mapping key must be a plain value such as `name`, not a list or mapping"
    ]


def test_several_documents_are_invalid() -> None:
    problems = Problems()
    assert parse_yaml("a: 1\n---\nb: 2\n", FILE, 2, problems) is None
    assert str(problems[0]).startswith("x.agent.md:3: error: invalid YAML: expected a single document")


def test_format_path() -> None:
    assert format_path(("trigger", "args", "schedule")) == "trigger.args.schedule"
    assert format_path(("subagents", 0, "agent")) == "subagents[0].agent"
    assert format_path(()) == "<root>"
